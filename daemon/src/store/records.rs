//! The records kept in the database, postcard-encoded.
//!
//! postcard is not self-describing: a change to any of these structs is a
//! schema change and needs a migration in `schema.rs`.

use facegate_models::{template_model, Alignment, FaceAnalysis, Precision};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn now() -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX))
    }

    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watchlist {
    pub id: String,
    pub display_name: String,
    pub full_name: String,
    pub threshold: i32,
    pub preview_color: String,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub display_name: Option<String>,
    pub full_name: Option<String>,
    pub note: Option<String>,
    pub labels: Vec<Label>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub key: Option<String>,
    pub value: Option<String>,
}

pub fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(record)
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// A face found in an image, with its template and what SmartFace reports
/// about it. `member_id` is `None` for a face not (or no longer) enrolled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Face {
    pub id: String,
    pub member_id: Option<String>,
    pub image_id: String,
    /// Unit length, 512 values.
    pub template: Vec<f32>,
    pub template_quality: i32,
    /// Detection confidence on SmartFace's 0..10000 scale.
    pub quality: i32,
    /// x1, y1, x2, y2 in image pixels.
    pub bbox: [f32; 4],
    pub left_eye: [f32; 2],
    pub right_eye: [f32; 2],
    pub age: Option<f32>,
    pub gender: Option<f32>,
    pub yaw: Option<f32>,
    pub pitch: Option<f32>,
    pub roll: Option<f32>,
    pub sharpness: Option<f32>,
    pub brightness: Option<f32>,
    /// 1-based rank by size among the faces found in the image.
    pub face_order: i32,
    pub faces_in_image: i32,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    /// The camera track the face belongs to; `None` for an uploaded photo,
    /// which is its own tracklet.
    pub tracklet_id: Option<String>,
    /// The camera frame the face was found in; `None` for an uploaded
    /// photo, which is its own frame.
    pub frame_id: Option<String>,
    /// 0..100, when the liveness check ran.
    pub liveness: Option<f32>,
    /// What made `template` (`FaceEngine::template_model`): templates of
    /// different models are never compared, so a face whose model is not
    /// the engine's is re-computed from its image at start.
    pub template_model: String,
}

impl Face {
    /// A face known only by its template (synthetic galleries, tests): no
    /// box, eyes or attributes; made by the default (fp32) template model.
    pub fn with_template(id: &str, member_id: &str, image_id: &str, template: Vec<f32>) -> Face {
        Face {
            id: id.to_string(),
            member_id: Some(member_id.to_string()),
            image_id: image_id.to_string(),
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
            tracklet_id: None,
            frame_id: None,
            liveness: None,
            template_model: template_model(Precision::Fp32, false, Alignment::Landmarks),
        }
    }

    /// The record of an analysed face, owned by `member_id` (if any), found
    /// in the stored image `image_id`.
    pub fn from_analysis(
        analysis: &FaceAnalysis,
        template_model: &str,
        id: String,
        member_id: Option<String>,
        image_id: &str,
    ) -> Face {
        let detection = &analysis.located.detection;
        let points = analysis.located.points.0;
        let pose = analysis.attributes.pose;
        Face {
            id,
            member_id,
            image_id: image_id.to_string(),
            template: analysis.template.vector.clone(),
            template_quality: analysis.template.quality,
            quality: detection.confidence().round() as i32,
            bbox: detection.bbox,
            left_eye: points[0],
            right_eye: points[1],
            age: analysis.attributes.age,
            gender: analysis.attributes.gender,
            yaw: pose.map(|p| p.yaw),
            pitch: pose.map(|p| p.pitch),
            roll: pose.map(|p| p.roll),
            sharpness: analysis.attributes.sharpness,
            brightness: analysis.attributes.brightness,
            face_order: analysis.rank as i32,
            faces_in_image: analysis.faces_in_image as i32,
            created_at: Timestamp::now(),
            updated_at: None,
            tracklet_id: None,
            frame_id: None,
            liveness: analysis.liveness.map(|l| l.score),
            template_model: template_model.to_string(),
        }
    }
}

/// An image as uploaded, for `GET /api/v1/Images/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredImage {
    pub id: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl StoredImage {
    /// An image whose id derives from its content's sha256, so the same
    /// bytes are stored once.
    pub fn new(bytes: Vec<u8>, content_type: &str) -> StoredImage {
        let digest = Sha256::digest(&bytes);
        StoredImage {
            id: uuid::Builder::from_slice(&digest[..16])
                .expect("16 bytes")
                .into_uuid()
                .to_string(),
            content_type: content_type.to_string(),
            bytes,
        }
    }

    pub fn jpeg(bytes: Vec<u8>) -> StoredImage {
        StoredImage::new(bytes, "image/jpeg")
    }
}
