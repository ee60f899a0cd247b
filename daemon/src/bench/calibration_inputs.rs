//! `facegate bench calibration-inputs`: records what every network is fed
//! while the whole pipeline (detector, landmarks, template, liveness,
//! attributes) runs on the first photo of each person of the tuning part
//! of an LFW-style folder, for `scripts/quantize.py calibrate`. The report
//! part stays unseen by the int8 calibration, as by every other tuning.

use super::open_set::{part_of, Part};
use super::progress::Progress;
use super::{people, read_image, THUMBNAIL_DETECTOR};
use facegate_models::{AnalysisRequest, AttributeSet, FaceEngine};
use std::path::Path;

/// `engine` must record its inputs (`EngineConfig::record_inputs`).
pub fn run(
    engine: &FaceEngine,
    images: &Path,
    limit: usize,
    limits: facegate_models::DecodeLimits,
) -> Result<String, String> {
    let photos: Vec<_> = people(images)?
        .into_iter()
        .filter_map(|photos| photos.into_iter().next())
        .filter(|photo| {
            let person = photo.parent().and_then(Path::file_name);
            person.is_some_and(|name| part_of(&name.to_string_lossy()) == Part::Tuning)
        })
        .take(limit)
        .collect();
    let request = AnalysisRequest {
        detector: THUMBNAIL_DETECTOR,
        attributes: AttributeSet::ALL,
        liveness: true,
    };
    let progress = Progress::new("photos", photos.len());
    let mut faces = 0;
    for (done, photo) in photos.iter().enumerate() {
        let image = read_image(photo, limits)?;
        faces += engine
            .analyse(&image, &request)
            .map_err(|e| format!("{}: {e}", photo.display()))?
            .len();
        progress.set(done + 1);
    }
    Ok(format!(
        "recorded the inputs of {} photos of the tuning part ({faces} faces)",
        photos.len()
    ))
}
