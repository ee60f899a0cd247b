//! `facegate bench ...`: measurements run against the real engine on
//! LFW-style folders (`NAME/NAME_0001.jpg`), of the gallery, of reading
//! an IP camera, and of the Wiegand output's timing.

pub mod attributes;
pub mod calibrate;
pub mod calibration_inputs;
pub mod door;
pub mod gallery;
pub mod identify;
pub mod lfw;
pub mod open_set;
mod progress;
pub mod protocol;
pub mod rtsp;
mod svg;
pub mod wiegand;

use facegate_models::{decode_image, DetectorConfig, FaceEngine, LocatedFace, RgbImage, Template};
use std::path::{Path, PathBuf};

/// LFW's 150x150 thumbnails hold faces of about 60 px.
const THUMBNAIL_DETECTOR: DetectorConfig = DetectorConfig {
    min_face_size: 20.0,
    max_face_size: 600.0,
    max_faces: 20,
    confidence_threshold: 450.0,
    accurate: false,
};

/// The entries of a folder, sorted by name.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

/// The photos of each person (sub-folder) of an LFW-style folder.
fn people(images: &Path) -> Result<Vec<Vec<PathBuf>>, String> {
    sorted_entries(images)?
        .into_iter()
        .filter(|p| p.is_dir())
        .map(|dir| sorted_entries(&dir))
        .collect()
}

/// The value a share `q` (0..1) of `values` lies below; NaN when empty.
fn quantile(mut values: Vec<f32>, q: f32) -> f32 {
    values.sort_by(f32::total_cmp);
    let index = ((q * values.len() as f32) as usize).min(values.len().saturating_sub(1));
    values.get(index).copied().unwrap_or(f32::NAN)
}

fn read_image(path: &Path, limits: facegate_models::DecodeLimits) -> Result<RgbImage, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    decode_image(&bytes, &limits)
        .map(|decoded| decoded.pixels)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The face the API would use: the largest (as Verify does).
fn largest_face(engine: &FaceEngine, image: &RgbImage) -> Result<Option<LocatedFace>, String> {
    let faces = engine
        .locate(image, &THUMBNAIL_DETECTOR)
        .map_err(|e| e.to_string())?;
    Ok(faces.into_iter().next())
}

/// The template of the largest face, if there is a face.
fn largest_template(engine: &FaceEngine, image: &RgbImage) -> Result<Option<Template>, String> {
    let Some(face) = largest_face(engine, image)? else {
        return Ok(None);
    };
    let aligned = engine.align(image, &face);
    engine
        .template(&aligned)
        .map(Some)
        .map_err(|e| e.to_string())
}
