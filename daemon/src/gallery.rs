//! The 1:N search index: the templates of every enrolled face in one
//! contiguous, 64-byte aligned slab in memory, rebuilt from the store at
//! start and changed only after the store has committed a change, so the
//! two never disagree about a committed face.
//!
//! The index also mirrors which watchlists each member belongs to, so a
//! search filters by watchlist without reading the store.
//!
//! Search scans every template the requested watchlists allow. Below
//! `EXACT_LIMIT` faces it computes every cosine (a dot product of unit
//! vectors, in 16-lane blocks the compiler turns into SIMD). Above, a first
//! pass compares 64-byte sign codes (one bit per dimension: the Hamming
//! distance tracks the angle) to pick the closest `SHORTLIST` faces, which
//! are then ranked by their exact cosines. Both passes split the slab over
//! the available cores.

use crate::store::{Store, StoreError};
use facegate_models::TEMPLATE_DIMENSION;
use std::collections::HashMap;
use std::sync::RwLock;

const LANES: usize = 16;
const BLOCKS: usize = TEMPLATE_DIMENSION / LANES;
const CODE_WORDS: usize = TEMPLATE_DIMENSION / 64;
/// Up to this many faces every cosine is computed.
pub const EXACT_LIMIT: usize = 20_000;
/// Faces the sign-code pass hands to the exact pass, per search.
const SHORTLIST: usize = 512;

/// 16 floats on a cache-line boundary.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([f32; LANES]);

/// One bit per dimension: set where the template is positive.
type Code = [u64; CODE_WORDS];

#[derive(Default)]
struct Slab {
    /// `BLOCKS` blocks per face, faces back to back.
    blocks: Vec<Block>,
    codes: Vec<Code>,
    /// Per face, in slab order: its id and its member's index.
    faces: Vec<(String, u32)>,
    /// Face id -> its position in the slab.
    position: HashMap<String, usize>,
    /// Member ids by index, and back.
    members: Vec<String>,
    member_index: HashMap<String, u32>,
    /// Per member index: the indices of its watchlists.
    memberships: Vec<Vec<u32>>,
    watchlist_index: HashMap<String, u32>,
}

/// Whose faces a search considers.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every enrolled face (benchmarks).
    Everyone,
    /// Members of at least one watchlist.
    AnyWatchlist,
    /// Members of any of these watchlists.
    Watchlists(&'a [String]),
}

#[derive(Default)]
pub struct Gallery {
    slab: RwLock<Slab>,
}

/// A member's best face score.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub member_id: String,
    pub cosine: f32,
}

fn dot(a: &[Block], b: &[Block]) -> f32 {
    let mut sums = [0f32; LANES];
    for (x, y) in a.iter().zip(b) {
        for (sum, (p, q)) in sums.iter_mut().zip(x.0.iter().zip(&y.0)) {
            *sum += p * q;
        }
    }
    sums.iter().sum()
}

fn to_blocks(template: &[f32]) -> Vec<Block> {
    assert_eq!(template.len(), TEMPLATE_DIMENSION, "templates are 512-d");
    template
        .chunks_exact(LANES)
        .map(|chunk| Block(chunk.try_into().expect("16 values")))
        .collect()
}

fn sign_code(template: &[f32]) -> Code {
    let mut code = [0u64; CODE_WORDS];
    for (i, value) in template.iter().enumerate() {
        if *value > 0.0 {
            code[i / 64] |= 1 << (i % 64);
        }
    }
    code
}

fn hamming(a: &Code, b: &Code) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Splits `0..n` into one range per core.
fn ranges(n: usize) -> Vec<std::ops::Range<usize>> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let parts = if n < 50_000 { 1 } else { cores };
    let step = n.div_ceil(parts).max(1);
    (0..n)
        .step_by(step)
        .map(|start| start..(start + step).min(n))
        .collect()
}

/// Runs `work` on each range of `0..n` in parallel and concatenates.
fn parallel<T: Send>(n: usize, work: impl Fn(std::ops::Range<usize>) -> Vec<T> + Sync) -> Vec<T> {
    let ranges = ranges(n);
    if ranges.len() <= 1 {
        return work(0..n);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = ranges
            .into_iter()
            .map(|r| scope.spawn(|| work(r)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("search worker"))
            .collect()
    })
}

impl Slab {
    fn member(&mut self, member_id: &str) -> u32 {
        if let Some(&index) = self.member_index.get(member_id) {
            return index;
        }
        let index = self.members.len() as u32;
        self.members.push(member_id.to_string());
        self.member_index.insert(member_id.to_string(), index);
        self.memberships.push(Vec::new());
        index
    }

    fn watchlist(&mut self, watchlist_id: &str) -> u32 {
        let next = self.watchlist_index.len() as u32;
        *self
            .watchlist_index
            .entry(watchlist_id.to_string())
            .or_insert(next)
    }

    /// Which members `scope` admits, by member index; `None` admits all.
    fn admitted(&self, scope: Scope) -> Option<Vec<bool>> {
        match scope {
            Scope::Everyone => None,
            Scope::AnyWatchlist => Some(self.memberships.iter().map(|m| !m.is_empty()).collect()),
            Scope::Watchlists(ids) => {
                let wanted: Vec<u32> = ids
                    .iter()
                    .filter_map(|id| self.watchlist_index.get(id).copied())
                    .collect();
                Some(
                    self.memberships
                        .iter()
                        .map(|m| m.iter().any(|w| wanted.contains(w)))
                        .collect(),
                )
            }
        }
    }

    fn template(&self, face: usize) -> &[Block] {
        &self.blocks[face * BLOCKS..(face + 1) * BLOCKS]
    }
}

impl Gallery {
    /// The index of every enrolled face and every membership in `store`.
    pub fn load(store: &Store) -> Result<Gallery, StoreError> {
        let gallery = Gallery::default();
        for face in store.enrolled_faces()? {
            if let Some(member) = &face.member_id {
                gallery.insert(&face.id, member, &face.template);
            }
        }
        for (member, watchlist) in store.all_links()? {
            gallery.link(&watchlist, &[member]);
        }
        Ok(gallery)
    }

    /// Adds (or replaces) a face's template.
    pub fn insert(&self, face_id: &str, member_id: &str, template: &[f32]) {
        let blocks = to_blocks(template);
        let code = sign_code(template);
        let mut slab = self.slab.write().unwrap_or_else(|e| e.into_inner());
        let member = slab.member(member_id);
        if let Some(&at) = slab.position.get(face_id) {
            slab.blocks[at * BLOCKS..(at + 1) * BLOCKS].copy_from_slice(&blocks);
            slab.codes[at] = code;
            slab.faces[at].1 = member;
            return;
        }
        let at = slab.faces.len();
        slab.blocks.extend_from_slice(&blocks);
        slab.codes.push(code);
        slab.faces.push((face_id.to_string(), member));
        slab.position.insert(face_id.to_string(), at);
    }

    /// Removes a face; the last face moves into its place.
    pub fn remove(&self, face_id: &str) {
        let mut slab = self.slab.write().unwrap_or_else(|e| e.into_inner());
        let Some(at) = slab.position.remove(face_id) else {
            return;
        };
        let last = slab.faces.len() - 1;
        if at != last {
            let (head, tail) = slab.blocks.split_at_mut(last * BLOCKS);
            head[at * BLOCKS..(at + 1) * BLOCKS].copy_from_slice(&tail[..BLOCKS]);
            slab.codes.swap(at, last);
            slab.faces.swap(at, last);
            let moved = slab.faces[at].0.clone();
            slab.position.insert(moved, at);
        }
        slab.blocks.truncate(last * BLOCKS);
        slab.codes.pop();
        slab.faces.pop();
    }

    /// Records that `members` joined `watchlist`.
    pub fn link(&self, watchlist: &str, members: &[String]) {
        let mut slab = self.slab.write().unwrap_or_else(|e| e.into_inner());
        let watchlist = slab.watchlist(watchlist);
        for member in members {
            let index = slab.member(member) as usize;
            if !slab.memberships[index].contains(&watchlist) {
                slab.memberships[index].push(watchlist);
            }
        }
    }

    /// Records that `members` left `watchlist`.
    pub fn unlink(&self, watchlist: &str, members: &[String]) {
        let mut slab = self.slab.write().unwrap_or_else(|e| e.into_inner());
        let Some(&watchlist) = slab.watchlist_index.get(watchlist) else {
            return;
        };
        for member in members {
            if let Some(&index) = slab.member_index.get(member) {
                slab.memberships[index as usize].retain(|w| *w != watchlist);
            }
        }
    }

    /// Records that a watchlist was deleted.
    pub fn forget_watchlist(&self, watchlist: &str) {
        let mut slab = self.slab.write().unwrap_or_else(|e| e.into_inner());
        if let Some(watchlist) = slab.watchlist_index.remove(watchlist) {
            for membership in &mut slab.memberships {
                membership.retain(|w| *w != watchlist);
            }
        }
    }

    /// Removes every face and membership of a member.
    pub fn remove_member(&self, member_id: &str) {
        {
            // One guard for the whole change: a read guard kept alive while
            // taking the write lock would deadlock.
            let mut slab = self.slab.write().unwrap_or_else(|e| e.into_inner());
            if let Some(&index) = slab.member_index.get(member_id) {
                slab.memberships[index as usize].clear();
            }
        }
        let faces: Vec<String> = {
            let slab = self.slab.read().unwrap_or_else(|e| e.into_inner());
            let Some(&member) = slab.member_index.get(member_id) else {
                return;
            };
            slab.faces
                .iter()
                .filter(|(_, m)| *m == member)
                .map(|(face, _)| face.clone())
                .collect()
        };
        for face in faces {
            self.remove(&face);
        }
    }

    pub fn len(&self) -> usize {
        self.slab
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .faces
            .len()
    }

    /// The best `limit` members by their best face, among those `scope`
    /// admits, with cosine at least `min_cosine`; best first.
    pub fn search(
        &self,
        probe: &[f32],
        scope: Scope,
        min_cosine: f32,
        limit: usize,
    ) -> Vec<Candidate> {
        let exact = self.len() <= EXACT_LIMIT;
        self.search_with(probe, scope, min_cosine, limit, exact)
    }

    /// `search`, with every cosine computed when `exact`, else with the
    /// sign-code shortlist.
    pub fn search_with(
        &self,
        probe: &[f32],
        scope: Scope,
        min_cosine: f32,
        limit: usize,
        exact: bool,
    ) -> Vec<Candidate> {
        let probe_blocks = to_blocks(probe);
        let probe_code = sign_code(probe);
        let slab = self.slab.read().unwrap_or_else(|e| e.into_inner());
        let admitted = slab.admitted(scope);
        let admits = |face: usize| {
            admitted
                .as_ref()
                .is_none_or(|a| a[slab.faces[face].1 as usize])
        };
        let n = slab.faces.len();
        // (face, cosine) of every face worth ranking.
        let scored: Vec<(usize, f32)> = if exact {
            parallel(n, |range| {
                range
                    .filter(|&face| admits(face))
                    .map(|face| (face, dot(&probe_blocks, slab.template(face))))
                    .filter(|(_, cosine)| *cosine >= min_cosine)
                    .collect()
            })
        } else {
            let mut shortlist: Vec<(u32, usize)> = parallel(n, |range| {
                let mut local: Vec<(u32, usize)> = range
                    .filter(|&face| admits(face))
                    .map(|face| (hamming(&probe_code, &slab.codes[face]), face))
                    .collect();
                if local.len() > SHORTLIST {
                    local.select_nth_unstable(SHORTLIST);
                    local.truncate(SHORTLIST);
                }
                local
            });
            if shortlist.len() > SHORTLIST {
                shortlist.select_nth_unstable(SHORTLIST);
                shortlist.truncate(SHORTLIST);
            }
            shortlist
                .into_iter()
                .map(|(_, face)| (face, dot(&probe_blocks, slab.template(face))))
                .filter(|(_, cosine)| *cosine >= min_cosine)
                .collect()
        };
        let mut best: HashMap<u32, f32> = HashMap::new();
        for (face, cosine) in scored {
            let entry = best.entry(slab.faces[face].1).or_insert(f32::MIN);
            *entry = entry.max(cosine);
        }
        let mut candidates: Vec<Candidate> = best
            .into_iter()
            .map(|(member, cosine)| Candidate {
                member_id: slab.members[member as usize].clone(),
                cosine,
            })
            .collect();
        candidates.sort_by(|a, b| {
            b.cosine
                .total_cmp(&a.cosine)
                .then(a.member_id.cmp(&b.member_id))
        });
        candidates.truncate(limit);
        candidates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pseudo-random unit vector.
    fn unit(seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        let v: Vec<f32> = (0..TEMPLATE_DIMENSION)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32) - 0.5
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / norm).collect()
    }

    #[test]
    fn search_finds_the_member_of_the_identical_template_and_keeps_its_best_face() {
        let gallery = Gallery::default();
        for i in 0..50 {
            gallery.insert(&format!("f{i}"), &format!("m{}", i / 2), &unit(i));
        }
        let found = gallery.search(&unit(17), Scope::Everyone, -1.0, 3);
        assert_eq!(found[0].member_id, "m8");
        assert!((found[0].cosine - 1.0).abs() < 1e-4);
        assert_eq!(found.len(), 3);
        assert!(found.windows(2).all(|w| w[0].cosine >= w[1].cosine));
    }

    #[test]
    fn membership_and_threshold_filter_results() {
        let gallery = Gallery::default();
        for i in 0..10 {
            gallery.insert(&format!("f{i}"), &format!("m{i}"), &unit(i));
        }
        let staff: Vec<String> = (0..10)
            .filter(|i| *i != 3)
            .map(|i| format!("m{i}"))
            .collect();
        gallery.link("staff", &staff);
        gallery.link("vip", &["m3".to_string()]);
        let in_staff = gallery.search(&unit(3), Scope::Watchlists(&["staff".into()]), -1.0, 10);
        assert!(in_staff.iter().all(|c| c.member_id != "m3") && in_staff.len() == 9);
        assert_eq!(
            gallery
                .search(&unit(3), Scope::AnyWatchlist, -1.0, 10)
                .len(),
            10
        );
        assert_eq!(gallery.search(&unit(3), Scope::Everyone, 0.99, 10).len(), 1);
        assert!(gallery
            .search(&unit(3), Scope::Watchlists(&["none".into()]), -1.0, 10)
            .is_empty());
        gallery.unlink("vip", &["m3".to_string()]);
        assert_eq!(
            gallery
                .search(&unit(3), Scope::AnyWatchlist, -1.0, 10)
                .len(),
            9
        );
        gallery.forget_watchlist("staff");
        assert!(gallery
            .search(&unit(3), Scope::AnyWatchlist, -1.0, 10)
            .is_empty());
    }

    #[test]
    fn removing_a_face_moves_the_last_one_and_keeps_every_other_findable() {
        let gallery = Gallery::default();
        for i in 0..5 {
            gallery.insert(&format!("f{i}"), &format!("m{i}"), &unit(i));
        }
        gallery.remove("f1");
        gallery.remove("missing");
        assert_eq!(gallery.len(), 4);
        for i in [0, 2, 3, 4] {
            let found = gallery.search(&unit(i), Scope::Everyone, 0.99, 1);
            assert_eq!(found[0].member_id, format!("m{i}"));
        }
        assert!(gallery
            .search(&unit(1), Scope::Everyone, 0.99, 1)
            .is_empty());
        gallery.insert("f2", "other", &unit(2));
        assert_eq!(gallery.len(), 4, "re-inserting replaces");
        assert_eq!(
            gallery.search(&unit(2), Scope::Everyone, 0.99, 1)[0].member_id,
            "other"
        );
        gallery.remove_member("other");
        assert!(gallery
            .search(&unit(2), Scope::Everyone, 0.99, 1)
            .is_empty());
    }

    #[test]
    fn the_sign_code_pass_finds_a_noisy_copy_among_many() {
        let gallery = Gallery::default();
        let n = EXACT_LIMIT as u32 + 5_000;
        for i in 0..n {
            gallery.insert(&format!("f{i}"), &format!("m{i}"), &unit(i));
        }
        // A probe at cosine ~0.6 to face 1234 (a genuine-pair distance).
        let (target, noise) = (unit(1234), unit(987_654_321));
        let probe: Vec<f32> = target
            .iter()
            .zip(&noise)
            .map(|(t, e)| 0.6 * t + 0.8 * e)
            .collect();
        let found = gallery.search(&probe, Scope::Everyone, 0.3, 1);
        assert_eq!(found[0].member_id, "m1234");
    }
}
