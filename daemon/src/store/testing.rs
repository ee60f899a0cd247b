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
