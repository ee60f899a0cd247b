//! Records for the store's tests and its users' tests.

use super::records::{Face, StoredImage};
use super::Store;

/// A face of `member` with `template`, found in an image of `image_bytes`
/// whose id is derived from the face's.
pub fn face(
    id: &str,
    member: &str,
    template: Vec<f32>,
    image_bytes: Vec<u8>,
) -> (Face, StoredImage) {
    let face = Face::with_template(id, member, &format!("image-{id}"), template);
    let image = StoredImage {
        id: face.image_id.clone(),
        content_type: "image/jpeg".into(),
        bytes: image_bytes,
    };
    (face, image)
}

/// An empty store in a directory of its own, which the guard removes.
pub fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

/// A small deterministic generator (xorshift), so failures replay.
pub struct Random(pub u64);

impl Random {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    /// Puts `items` in a random order (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}
