//! What the biometric endpoints share: images in requests, detector
//! configuration and resource ids, running the engine, and the face
//! attribute fields SmartFace reports.

use super::admission::Reservation;
use super::body::JsonObject;
use super::problem::Problem;
use super::{rfc3339, rfc3339_opt, Api};
use crate::store::{Face, StoredImage};
use base64::Engine as _;
use facegate_hal::{Accelerator, ResourceId};
use facegate_models::{
    decode_image, read_header, AnalysisRequest, AttributeSet, DecodeLimits, DetectorConfig,
    EngineError, FaceAnalysis, RgbImage, StageTimes,
};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Where a biometric request's time went, part by part, logged at debug
/// level (target `facegate::timing`) when it is answered: what to look at
/// first when a Verify or a Search is slow.
pub struct Breakdown {
    started: Instant,
    lap: Instant,
    parts: Vec<(String, Duration)>,
}

impl Breakdown {
    pub fn start() -> Breakdown {
        Breakdown {
            started: Instant::now(),
            lap: Instant::now(),
            parts: Vec::new(),
        }
    }

    /// Adds the time since the start or the last lap to the part `name`.
    pub fn lap(&mut self, name: &str) {
        let now = Instant::now();
        self.add(name, now - self.lap);
        self.lap = now;
    }

    /// Adds `took` to the part `name`; a part named again adds up.
    pub fn add(&mut self, name: &str, took: Duration) {
        match self.parts.iter_mut().find(|(part, _)| part == name) {
            Some((_, total)) => *total += took,
            None => self.parts.push((name.to_string(), took)),
        }
    }

    /// Adds each engine stage, its name after `prefix`.
    pub fn add_stages(&mut self, prefix: &str, stages: &StageTimes) {
        for (name, took) in stages.stages() {
            self.add(&format!("{prefix}{name}"), took);
        }
    }

    /// Adds every part of `other`, each name after `prefix`.
    pub fn merge(&mut self, prefix: &str, other: &Breakdown) {
        for (name, took) in &other.parts {
            self.add(&format!("{prefix}{name}"), *took);
        }
    }

    /// Logs the parts and the whole, in milliseconds.
    pub fn log(&self, operation: &str) {
        let ms = |took: &Duration| took.as_secs_f64() * 1e3;
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|(name, took)| format!("{name} {:.1}", ms(took)))
            .collect();
        log::debug!(
            target: "facegate::timing",
            "{operation} ms: {}, total {:.1}",
            parts.join(", "),
            ms(&self.started.elapsed())
        );
    }
}

/// An image from a request: its pixels, what to store, and its pixels'
/// share of the decode memory budget.
pub struct RequestImage<'a> {
    pub pixels: RgbImage,
    pub stored: StoredImage,
    /// Reading its base64 and decoding it took this long.
    pub decoding: Duration,
    _memory: Reservation<'a>,
}

/// Maps an engine failure to the client's fault (400) or the server's.
pub fn engine_problem(field: &str, error: EngineError) -> Problem {
    match error.is_client_error() {
        true => Problem::invalid_field(field, format!("{field}: {error}")),
        false => Problem::internal(&error),
    }
}

/// An image of a request, read as far as its header: what decoding it
/// will take is known, and nothing of it is decoded yet.
pub struct Upload {
    path: String,
    bytes: Vec<u8>,
    limits: DecodeLimits,
    pub decode_memory: u64,
    /// Its base64 and header took this long to read.
    reading: Duration,
}

impl Upload {
    /// The base64 image at `path` (e.g. `images[0].data`), refused from its
    /// header when it is over the pixel or decode memory limits.
    pub fn read(api: &Api, path: &str, value: Option<String>) -> Result<Upload, Problem> {
        let started = Instant::now();
        let text =
            value.ok_or_else(|| Problem::invalid_field(path, format!("{path} is required")))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| {
                Problem::invalid_field(path, format!("{path} is not valid base64: {e}"))
            })?;
        if bytes.is_empty() {
            return Err(Problem::invalid_field(path, format!("{path} is empty")));
        }
        let limits = DecodeLimits {
            max_pixels: api.max_image_pixels,
            max_memory_bytes: api.admission.decode_memory(),
        };
        let header = read_header(&bytes, &limits).map_err(|e| engine_problem(path, e))?;
        Ok(Upload {
            path: path.to_string(),
            bytes,
            limits,
            decode_memory: header.decode_memory,
            reading: started.elapsed(),
        })
    }

    /// The image object `{ "data": ... }` in field `name` of `body`.
    pub fn field(api: &Api, body: &JsonObject, name: &str) -> Result<Upload, Problem> {
        let path = body.path_of(name);
        let image = body
            .optional_object(name)?
            .ok_or_else(|| Problem::invalid_field(&path, format!("{path} is required")))?;
        Upload::read(
            api,
            &image.path_of("data"),
            image.optional_string("data", usize::MAX)?,
        )
    }

    /// Decodes it within `memory` (its `decode_memory`, reserved), keeping
    /// of it what the pixels take.
    pub fn decode(self, mut memory: Reservation<'_>) -> Result<RequestImage<'_>, Problem> {
        let started = Instant::now();
        let decoded =
            decode_image(&self.bytes, &self.limits).map_err(|e| engine_problem(&self.path, e))?;
        memory.shrink_to(decoded.pixels.len() as u64);
        Ok(RequestImage {
            pixels: decoded.pixels,
            stored: StoredImage::new(self.bytes, decoded.format.to_mime_type()),
            decoding: self.reading + started.elapsed(),
            _memory: memory,
        })
    }
}

/// Decodes the base64 image at `path` once the memory its header says it
/// takes is free in the budget.
pub fn request_image<'a>(
    api: &'a Api,
    path: &str,
    value: Option<String>,
) -> Result<RequestImage<'a>, Problem> {
    let upload = Upload::read(api, path, value)?;
    let memory = api.admission.reserve_decode(upload.decode_memory)?;
    upload.decode(memory)
}

/// The image object `{ "data": ... }` in field `name` of `body`, decoded.
pub fn image_field<'a>(
    api: &'a Api,
    body: &JsonObject,
    name: &str,
) -> Result<RequestImage<'a>, Problem> {
    let upload = Upload::field(api, body, name)?;
    let memory = api.admission.reserve_decode(upload.decode_memory)?;
    upload.decode(memory)
}

/// SmartFace's `FaceDetectorConfig` (or `FaceSearchDetectorConfig`, which
/// lacks `maxFaces`) at `field`, with the schema's defaults.
pub fn detector_config(
    body: &JsonObject,
    field: &str,
    accurate: bool,
) -> Result<DetectorConfig, Problem> {
    let mut config = DetectorConfig {
        accurate,
        ..DetectorConfig::default()
    };
    if let Some(given) = body.optional_object(field)? {
        if let Some(min) = given.optional_int("minFaceSize", 1, 100_000)? {
            config.min_face_size = min as f32;
        }
        if let Some(max) = given.optional_int("maxFaceSize", 1, 100_000)? {
            config.max_face_size = max as f32;
        }
        if let Some(faces) = given.optional_int("maxFaces", 1, 1000)? {
            config.max_faces = faces as usize;
        }
        if let Some(threshold) = given.optional_int("confidenceThreshold", 0, 10_000)? {
            config.confidence_threshold = threshold as f32;
        }
    }
    Ok(config)
}

/// A detector or template generator resource id (default `cpu`) that this
/// engine can serve.
pub fn resource_id(api: &Api, body: &JsonObject, field: &str) -> Result<ResourceId, Problem> {
    let id = body
        .optional_string(field, 100)?
        .unwrap_or_else(|| "cpu".into());
    let parsed =
        ResourceId::parse(&id).map_err(|e| Problem::invalid_field(field, e.to_string()))?;
    check_device(api, field, parsed.accelerator)?;
    Ok(parsed)
}

pub fn check_device(api: &Api, field: &str, accelerator: Accelerator) -> Result<(), Problem> {
    api.core
        .engine
        .check_accelerator(accelerator)
        .map_err(|e| Problem::invalid_field(field, e.to_string()))
}

/// Detects the faces of `image` and analyses each: landmarks, template and
/// the attributes in `wanted`, adding the stages' times to `times`.
pub fn analyse(
    api: &Api,
    image: &RgbImage,
    config: &DetectorConfig,
    wanted: AttributeSet,
    field: &str,
    times: &mut Breakdown,
) -> Result<Vec<FaceAnalysis>, Problem> {
    let request = AnalysisRequest {
        detector: *config,
        attributes: wanted,
        liveness: false,
    };
    let (faces, stages) = api
        .core
        .engine
        .analyse_timed(image, &request)
        .map_err(|e| engine_problem(field, e))?;
    times.add_stages("", &stages);
    Ok(faces)
}

/// The largest face of the image at `field`, or 400 naming the field.
pub fn largest_face(
    api: &Api,
    image: &RgbImage,
    config: &DetectorConfig,
    wanted: AttributeSet,
    field: &str,
    times: &mut Breakdown,
) -> Result<FaceAnalysis, Problem> {
    let single = DetectorConfig {
        max_faces: 1,
        ..*config
    };
    analyse(api, image, &single, wanted, field, times)?
        .into_iter()
        .next()
        .ok_or_else(|| {
            Problem::invalid_field(field, format!("{field}: no face was found in the image"))
        })
}

fn f64s(v: Option<f32>) -> Option<f64> {
    v.map(f64::from)
}

/// SmartFace's `FaceAttributes` (also the face part of a search result).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceAttributesDto {
    #[serde(flatten)]
    crop: Crop,
    quality: i32,
    left_eye_x: Option<f64>,
    left_eye_y: Option<f64>,
    right_eye_x: Option<f64>,
    right_eye_y: Option<f64>,
    age: f64,
    gender: &'static str,
    face_size: f64,
    face_mask_confidence: Option<f64>,
    nose_tip_confidence: Option<f64>,
    face_mask_status: &'static str,
    sharpness: Option<f64>,
    brightness: Option<f64>,
    tinted_glasses: Option<f64>,
    heavy_frame: Option<f64>,
    glass_status: Option<f64>,
    pitch_angle: Option<f64>,
    yaw_angle: Option<f64>,
    roll_angle: Option<f64>,
    face_area: f64,
    template_quality: i32,
    face_order: i32,
}

/// The four corners of a face's square crop.
#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct Crop {
    crop_left_top_x: f64,
    crop_left_top_y: f64,
    crop_right_top_x: f64,
    crop_right_top_y: f64,
    crop_left_bottom_x: f64,
    crop_left_bottom_y: f64,
    crop_right_bottom_x: f64,
    crop_right_bottom_y: f64,
}

impl Crop {
    fn of(bbox: [f32; 4]) -> Crop {
        let [x1, y1, x2, y2] = bbox.map(f64::from);
        Crop {
            crop_left_top_x: x1,
            crop_left_top_y: y1,
            crop_right_top_x: x2,
            crop_right_top_y: y1,
            crop_left_bottom_x: x1,
            crop_left_bottom_y: y2,
            crop_right_bottom_x: x2,
            crop_right_bottom_y: y2,
        }
    }
}

/// The attributes every face answer carries. `age` and `gender` are
/// required (non-null) by the schema, so they are always computed.
pub const REPORTED: AttributeSet = AttributeSet::ALL;

impl From<&Face> for FaceAttributesDto {
    fn from(f: &Face) -> Self {
        let [x1, y1, x2, y2] = f.bbox.map(f64::from);
        FaceAttributesDto {
            crop: Crop::of(f.bbox),
            quality: f.quality,
            left_eye_x: Some(f64::from(f.left_eye[0])),
            left_eye_y: Some(f64::from(f.left_eye[1])),
            right_eye_x: Some(f64::from(f.right_eye[0])),
            right_eye_y: Some(f64::from(f.right_eye[1])),
            age: f64::from(f.age.unwrap_or(0.0)),
            gender: match f.gender.unwrap_or(0.0) > 0.5 {
                true => "Male",
                false => "Female",
            },
            face_size: x2 - x1,
            face_mask_confidence: None,
            nose_tip_confidence: None,
            face_mask_status: "Unknown",
            sharpness: f64s(f.sharpness),
            brightness: f64s(f.brightness),
            tinted_glasses: None,
            heavy_frame: None,
            glass_status: None,
            pitch_angle: f64s(f.pitch),
            yaw_angle: f64s(f.yaw),
            roll_angle: f64s(f.roll),
            face_area: (x2 - x1) * (y2 - y1),
            template_quality: f.template_quality,
            face_order: f.face_order,
        }
    }
}

/// SmartFace's `Face`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceDto {
    tracklet_id: String,
    quality: i32,
    template_quality: Option<i32>,
    state: &'static str,
    image_data_id: Option<String>,
    processed_at: Option<String>,
    #[serde(flatten)]
    crop: Crop,
    left_eye_x: Option<f64>,
    left_eye_y: Option<f64>,
    right_eye_x: Option<f64>,
    right_eye_y: Option<f64>,
    frame_id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    age: Option<f64>,
    gender: Option<f64>,
    face_mask_confidence: Option<f64>,
    nose_tip_confidence: Option<f64>,
    face_mask_status: &'static str,
    face_area: Option<f64>,
    size: f64,
    face_order: Option<i32>,
    faces_on_frame_count: Option<i32>,
    face_area_change: f64,
    yaw_angle: Option<f64>,
    pitch_angle: Option<f64>,
    roll_angle: Option<f64>,
    autolearn_cluster_type: Option<String>,
    sharpness: Option<f64>,
    brightness: Option<f64>,
    tinted_glasses: Option<f64>,
    heavy_frame: Option<f64>,
    glass_status: Option<f64>,
    id: String,
    created_at: String,
    updated_at: Option<String>,
}

impl From<&Face> for FaceDto {
    fn from(f: &Face) -> Self {
        let a = FaceAttributesDto::from(f);
        FaceDto {
            // A registered photo is its own frame and its own tracklet.
            tracklet_id: f.tracklet_id.clone().unwrap_or_else(|| f.id.clone()),
            quality: f.quality,
            template_quality: Some(f.template_quality),
            state: "Extracted",
            image_data_id: Some(f.image_id.clone()),
            processed_at: Some(rfc3339(f.created_at)),
            crop: a.crop,
            left_eye_x: a.left_eye_x,
            left_eye_y: a.left_eye_y,
            right_eye_x: a.right_eye_x,
            right_eye_y: a.right_eye_y,
            frame_id: f.frame_id.clone().unwrap_or_else(|| f.image_id.clone()),
            kind: "Regular",
            age: f64s(f.age),
            gender: f64s(f.gender),
            face_mask_confidence: None,
            nose_tip_confidence: None,
            face_mask_status: "Unknown",
            face_area: Some(a.face_area),
            size: a.face_size,
            face_order: Some(f.face_order),
            faces_on_frame_count: Some(f.faces_in_image),
            face_area_change: 0.0,
            yaw_angle: a.yaw_angle,
            pitch_angle: a.pitch_angle,
            roll_angle: a.roll_angle,
            autolearn_cluster_type: None,
            sharpness: a.sharpness,
            brightness: a.brightness,
            tinted_glasses: None,
            heavy_frame: None,
            glass_status: None,
            id: f.id.clone(),
            created_at: rfc3339(f.created_at),
            updated_at: rfc3339_opt(f.updated_at),
        }
    }
}
