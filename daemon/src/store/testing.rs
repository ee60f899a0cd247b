//! Records for the store's tests and its users' tests.

use super::records::{Face, StoredImage, Timestamp};

/// A face of `member` with `template`, found in an image of `image_bytes`
/// whose id is derived from the face's.
pub fn face(
    id: &str,
    member: &str,
    template: Vec<f32>,
    image_bytes: Vec<u8>,
) -> (Face, StoredImage) {
    let face = Face {
        id: id.to_string(),
        member_id: Some(member.to_string()),
        image_id: format!("image-{id}"),
        template,
        template_quality: 0,
        quality: 0,
        bbox: [0.0; 4],
        left_eye: [0.0; 2],
        right_eye: [0.0; 2],
        age: None,
        gender: None,
        yaw: None,
        pitch: None,
        roll: None,
        sharpness: None,
        brightness: None,
        face_order: 1,
        faces_in_image: 1,
        created_at: Timestamp::now(),
        updated_at: None,
    };
    let image = StoredImage {
        id: face.image_id.clone(),
        content_type: "image/jpeg".into(),
        bytes: image_bytes,
    };
    (face, image)
}
