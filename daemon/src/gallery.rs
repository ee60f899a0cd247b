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
    /// Member ids by index, and back. A deleted member's index is freed
    /// for reuse only once no face and no membership names it.
    members: Vec<String>,
    member_index: HashMap<String, u32>,
    free_members: Vec<u32>,
    /// Per member index: the numbers of its watchlists.
    memberships: Vec<Vec<u32>>,
    /// Watchlist ids by number, and back. Numbers are never reused: a
    /// deleted watchlist's number may still be remembered elsewhere, and a
    /// new watchlist taking it would inherit (or later lose) its members.
    watchlist_index: HashMap<String, u32>,
    watchlist_ids: HashMap<u32, String>,
    next_watchlist: u32,
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

/// A member's best face score, with the member's watchlists that the
/// search's scope admits (all of them for `Scope::Everyone`).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub member_id: String,
    pub cosine: f32,
    pub watchlists: Vec<String>,
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
        let index = match self.free_members.pop() {
            Some(index) => {
                self.members[index as usize] = member_id.to_string();
                index
            }
            None => {
                self.members.push(member_id.to_string());
                self.memberships.push(Vec::new());
                (self.members.len() - 1) as u32
            }
        };
        self.member_index.insert(member_id.to_string(), index);
        index
    }

    fn watchlist(&mut self, watchlist_id: &str) -> u32 {
        if let Some(&number) = self.watchlist_index.get(watchlist_id) {
            return number;
        }
        let number = self.next_watchlist;
        self.next_watchlist += 1;
        self.watchlist_index
            .insert(watchlist_id.to_string(), number);
        self.watchlist_ids.insert(number, watchlist_id.to_string());
        number
    }

    /// The watchlist numbers of `scope`; `None` admits every one.
    fn wanted_watchlists(&self, scope: Scope) -> Option<Vec<u32>> {
        match scope {
            Scope::Everyone | Scope::AnyWatchlist => None,
            Scope::Watchlists(ids) => Some(
                ids.iter()
                    .filter_map(|id| self.watchlist_index.get(id).copied())
                    .collect(),
            ),
        }
    }

    /// Which members `scope` admits, by member index; `None` admits all.
    fn admitted(&self, scope: Scope) -> Option<Vec<bool>> {
        if let Scope::Everyone = scope {
            return None;
        }
        let wanted = self.wanted_watchlists(scope);
        Some(
            self.memberships
                .iter()
                .map(|m| {
                    m.iter()
                        .any(|w| wanted.as_ref().is_none_or(|wanted| wanted.contains(w)))
                })
                .collect(),
        )
    }

    /// The ids of member `index`'s watchlists that `wanted` admits.
    fn watchlists_of(&self, index: u32, wanted: Option<&[u32]>) -> Vec<String> {
        let mut ids: Vec<String> = self.memberships[index as usize]
            .iter()
            .filter(|w| wanted.is_none_or(|wanted| wanted.contains(w)))
            .filter_map(|w| self.watchlist_ids.get(w).cloned())
            .collect();
        ids.sort();
        ids
    }

    /// Removes a face; the last face moves into its place.
    fn remove_face(&mut self, face_id: &str) {
        let Some(at) = self.position.remove(face_id) else {
            return;
        };
        let last = self.faces.len() - 1;
        if at != last {
            let (head, tail) = self.blocks.split_at_mut(last * BLOCKS);
            head[at * BLOCKS..(at + 1) * BLOCKS].copy_from_slice(&tail[..BLOCKS]);
            self.codes.swap(at, last);
            self.faces.swap(at, last);
            let moved = self.faces[at].0.clone();
            self.position.insert(moved, at);
        }
        self.blocks.truncate(last * BLOCKS);
        self.codes.pop();
        self.faces.pop();
    }

    fn template(&self, face: usize) -> &[Block] {
        &self.blocks[face * BLOCKS..(face + 1) * BLOCKS]
    }
}

impl Gallery {
    /// The index of every enrolled face that `template_model` made, and
    /// of every membership in `store`. Other faces' templates (left by a
    /// face-data migration that could not re-compute them) are not
    /// comparable, so they are left out.
    pub fn load(store: &Store, template_model: &str) -> Result<Gallery, StoreError> {
        let gallery = Gallery::default();
        for face in store.enrolled_faces()? {
            if face.template_model != template_model {
                log::warn!(
                    "face {} is left out of search: its template is {}",
                    face.id,
                    face.template_model
                );
                continue;
            }
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

    /// Removes a face.
    pub fn remove(&self, face_id: &str) {
        self.slab
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove_face(face_id);
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
        if let Some(number) = slab.watchlist_index.remove(watchlist) {
            slab.watchlist_ids.remove(&number);
            for membership in &mut slab.memberships {
                membership.retain(|w| *w != number);
            }
        }
    }

    /// Removes every face and membership of a member, and frees its index.
    pub fn remove_member(&self, member_id: &str) {
        // One guard for the whole change, so no insert can take the freed
        // index while a face still names it.
        let mut slab = self.slab.write().unwrap_or_else(|e| e.into_inner());
        let Some(index) = slab.member_index.remove(member_id) else {
            return;
        };
        let faces: Vec<String> = slab
            .faces
            .iter()
            .filter(|(_, m)| *m == index)
            .map(|(face, _)| face.clone())
            .collect();
        for face in faces {
            slab.remove_face(&face);
        }
        slab.memberships[index as usize].clear();
        slab.members[index as usize].clear();
        slab.free_members.push(index);
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
        let wanted = slab.wanted_watchlists(scope);
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
                watchlists: slab.watchlists_of(member, wanted.as_deref()),
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

/// What the index holds, for tests that compare it with the store:
/// (face, member) pairs, and each member's watchlists (members without
/// any left out).
#[cfg(test)]
pub type IndexContents = (
    std::collections::BTreeSet<(String, String)>,
    std::collections::BTreeMap<String, Vec<String>>,
);

#[cfg(test)]
impl Gallery {
    pub fn contents(&self) -> IndexContents {
        let slab = self.slab.read().unwrap_or_else(|e| e.into_inner());
        let faces = slab
            .faces
            .iter()
            .map(|(face, member)| (face.clone(), slab.members[*member as usize].clone()))
            .collect();
        let memberships = slab
            .member_index
            .iter()
            .map(|(member, index)| (member.clone(), slab.watchlists_of(*index, None)))
            .filter(|(_, watchlists)| !watchlists.is_empty())
            .collect();
        (faces, memberships)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(candidates: &[Candidate]) -> Vec<&str> {
        candidates.iter().map(|c| c.member_id.as_str()).collect()
    }

    #[test]
    fn deleting_a_watchlist_never_strips_another_watchlists_members() {
        // The sequence a review reproduced over REST: numbers of deleted
        // watchlists were reused, so deleting C took B's members away.
        let gallery = Gallery::default();
        gallery.insert("fa", "amember", &unit(1));
        gallery.insert("fb", "bmember", &unit(2));
        gallery.link("A", &["amember".to_string()]);
        gallery.link("B", &["bmember".to_string()]);
        let in_b = || gallery.search(&unit(2), Scope::Watchlists(&["B".into()]), 0.9, 5);
        assert_eq!(ids(&in_b()), ["bmember"]);
        gallery.forget_watchlist("A");
        gallery.insert("fc", "cmember", &unit(3));
        gallery.link("C", &["cmember".to_string()]);
        gallery.forget_watchlist("C");
        assert_eq!(ids(&in_b()), ["bmember"]);
        let anywhere = gallery.search(&unit(2), Scope::AnyWatchlist, 0.9, 5);
        assert_eq!(anywhere[0].watchlists, ["B"]);
        assert!(gallery
            .search(&unit(3), Scope::AnyWatchlist, 0.9, 5)
            .is_empty());
    }

    #[test]
    fn a_deleted_members_index_is_reused_without_its_faces_or_watchlists() {
        let gallery = Gallery::default();
        gallery.insert("f1", "gone", &unit(1));
        gallery.link("staff", &["gone".to_string()]);
        gallery.remove_member("gone");
        gallery.insert("f2", "new", &unit(2));
        let (faces, memberships) = gallery.contents();
        assert_eq!(
            faces.into_iter().collect::<Vec<_>>(),
            [("f2".to_string(), "new".to_string())]
        );
        assert!(memberships.is_empty(), "{memberships:?}");
        assert!(gallery.search(&unit(1), Scope::Everyone, 0.9, 5).is_empty());
    }

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
