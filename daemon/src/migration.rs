//! SmartFace's face-data migration: when the engine's template model (the
//! template network's precision, or `flip_templates`) differs from the one
//! that made stored templates, those templates are re-computed from the
//! stored images at start, before search is served, since templates of
//! different models must never be compared.

use crate::store::{Face, Store, StoredImage};
use facegate_models::{decode_image, iou, DetectorConfig, FaceEngine};
use std::time::Instant;

/// Faces re-computed per transaction: a stop part-way keeps the work done,
/// and the next start carries on with the faces still to do.
const BATCH: usize = 200;

/// Finds every face the enrolment API could have stored, however small.
const DETECTOR: DetectorConfig = DetectorConfig {
    min_face_size: 10.0,
    max_face_size: f32::MAX,
    ..DetectorConfig::DEFAULT
};

/// Re-computes every template the engine's model did not make. A face whose
/// template cannot be re-computed keeps its old one, which search ignores
/// (see `Gallery::load`); each is logged.
pub fn migrate_templates(
    store: &Store,
    engine: &FaceEngine,
    limits: facegate_models::DecodeLimits,
) -> Result<(), String> {
    let model = engine.template_model();
    let faces = store.faces_not_made_by(model).map_err(|e| e.to_string())?;
    if faces.is_empty() {
        return Ok(());
    }
    log::info!(
        "face-data migration: re-computing {} templates with {model} from the stored images",
        faces.len()
    );
    let started = Instant::now();
    let (mut done, mut failed) = (0, 0);
    for batch in faces.chunks(BATCH) {
        let updated: Vec<Face> = batch
            .iter()
            .filter_map(|face| match recompute(store, engine, face, limits) {
                Ok(updated) => Some(updated),
                Err(why) => {
                    log::warn!(
                        "face-data migration: face {} kept out of search: {why}",
                        face.id
                    );
                    failed += 1;
                    None
                }
            })
            .collect();
        store
            .replace_templates(&updated)
            .map_err(|e| e.to_string())?;
        done += batch.len();
        log::info!("face-data migration: {done} of {} faces", faces.len());
    }
    log::info!(
        "face-data migration: {} templates re-computed, {failed} could not be, in {:.1} s",
        done - failed,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The face with its template made again from its stored image.
fn recompute(
    store: &Store,
    engine: &FaceEngine,
    face: &Face,
    limits: facegate_models::DecodeLimits,
) -> Result<Face, String> {
    let image = store
        .image(&face.image_id)
        .map_err(|e| e.to_string())?
        .ok_or("its image is gone")?;
    recompute_from(engine, face, &image, limits)
}

/// The face with its template made again from `image`, the one it is in.
pub fn recompute_from(
    engine: &FaceEngine,
    face: &Face,
    image: &StoredImage,
    limits: facegate_models::DecodeLimits,
) -> Result<Face, String> {
    let pixels = decode_image(&image.bytes, &limits)
        .map_err(|e| format!("its image: {e}"))?
        .pixels;
    let found = engine
        .detect(&pixels, &DETECTOR)
        .map_err(|e| e.to_string())?;
    // The same face is the one over its box; a face the camera saw is
    // stored in a crop around it (its box is the frame's), where it is the
    // largest.
    let overlap = |bbox: &[f32; 4]| iou(bbox, &face.bbox);
    let same = found
        .iter()
        .filter(|d| overlap(&d.bbox) >= 0.3)
        .max_by(|a, b| overlap(&a.bbox).total_cmp(&overlap(&b.bbox)));
    let detection = same.or(found.first()).ok_or("no face found in its image")?;
    let located = engine
        .landmarks(&pixels, *detection)
        .map_err(|e| e.to_string())?;
    let template = engine
        .template(&engine.align(&pixels, &located))
        .map_err(|e| e.to_string())?;
    Ok(Face {
        template_quality: template.quality,
        template: template.vector,
        template_model: engine.template_model().to_string(),
        ..face.clone()
    })
}
