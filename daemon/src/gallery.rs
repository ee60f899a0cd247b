//! The 1:N search index: the templates of every enrolled face in one
//! contiguous, 64-byte aligned slab in memory, rebuilt from the store at
//! start and changed only after the store has committed a change, so the
//! two never disagree about a committed face.
//!
//! Search is an exact scan: one dot product per enrolled face (templates are
//! unit length, so it is the cosine), in blocks of 16 lanes that the
//! compiler turns into SIMD, keeping each member's best face.

use facegate_models::TEMPLATE_DIMENSION;
use std::collections::HashMap;
use std::sync::RwLock;

const LANES: usize = 16;
const BLOCKS: usize = TEMPLATE_DIMENSION / LANES;

/// 16 floats on a cache-line boundary.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([f32; LANES]);

#[derive(Default)]
struct Slab {
    /// `BLOCKS` blocks per face, faces back to back.
    blocks: Vec<Block>,
    /// Per face, in slab order: (face id, member id).
    owners: Vec<(String, String)>,
    /// Face id -> its position in the slab.
    position: HashMap<String, usize>,
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

impl Gallery {
    /// Adds (or replaces) a face's template.
    pub fn insert(&self, face_id: &str, member_id: &str, template: &[f32]) {
        let blocks = to_blocks(template);
        let mut slab = self.slab.write().unwrap_or_else(|e| e.into_inner());
        if let Some(&at) = slab.position.get(face_id) {
            slab.blocks[at * BLOCKS..(at + 1) * BLOCKS].copy_from_slice(&blocks);
            slab.owners[at].1 = member_id.to_string();
            return;
        }
        let at = slab.owners.len();
        slab.blocks.extend_from_slice(&blocks);
        slab.owners
            .push((face_id.to_string(), member_id.to_string()));
        slab.position.insert(face_id.to_string(), at);
    }

    /// Removes a face; the last face moves into its place.
    pub fn remove(&self, face_id: &str) {
        let mut slab = self.slab.write().unwrap_or_else(|e| e.into_inner());
        let Some(at) = slab.position.remove(face_id) else {
            return;
        };
        let last = slab.owners.len() - 1;
        if at != last {
            let (head, tail) = slab.blocks.split_at_mut(last * BLOCKS);
            head[at * BLOCKS..(at + 1) * BLOCKS].copy_from_slice(&tail[..BLOCKS]);
            slab.owners.swap(at, last);
            let moved = slab.owners[at].0.clone();
            slab.position.insert(moved, at);
        }
        slab.blocks.truncate(last * BLOCKS);
        slab.owners.pop();
    }

    /// Removes every face of a member.
    pub fn remove_member(&self, member_id: &str) {
        let faces: Vec<String> = {
            let slab = self.slab.read().unwrap_or_else(|e| e.into_inner());
            slab.owners
                .iter()
                .filter(|(_, member)| member == member_id)
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
            .owners
            .len()
    }

    /// The best `limit` members by their best face, among the members
    /// `allowed` admits, with cosine at least `min_cosine`; best first.
    pub fn search(
        &self,
        probe: &[f32],
        allowed: impl Fn(&str) -> bool,
        min_cosine: f32,
        limit: usize,
    ) -> Vec<Candidate> {
        let probe = to_blocks(probe);
        let slab = self.slab.read().unwrap_or_else(|e| e.into_inner());
        let mut best: HashMap<&str, f32> = HashMap::new();
        for (face, blocks) in slab.blocks.chunks_exact(BLOCKS).enumerate() {
            let cosine = dot(&probe, blocks);
            if cosine < min_cosine {
                continue;
            }
            let member = slab.owners[face].1.as_str();
            if !allowed(member) {
                continue;
            }
            let entry = best.entry(member).or_insert(f32::MIN);
            *entry = entry.max(cosine);
        }
        let mut candidates: Vec<Candidate> = best
            .into_iter()
            .map(|(member, cosine)| Candidate {
                member_id: member.to_string(),
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
        let found = gallery.search(&unit(17), |_| true, -1.0, 3);
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
        let found = gallery.search(&unit(3), |m| m != "m3", -1.0, 10);
        assert!(found.iter().all(|c| c.member_id != "m3") && found.len() == 9);
        assert!(gallery.search(&unit(3), |_| true, 0.99, 10).len() == 1);
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
            let found = gallery.search(&unit(i), |_| true, 0.99, 1);
            assert_eq!(found[0].member_id, format!("m{i}"));
        }
        assert!(gallery.search(&unit(1), |_| true, 0.99, 1).is_empty());
        gallery.insert("f2", "other", &unit(2));
        assert_eq!(gallery.len(), 4, "re-inserting replaces");
        assert_eq!(
            gallery.search(&unit(2), |_| true, 0.99, 1)[0].member_id,
            "other"
        );
    }
}
