//! `facegate bench lfw`: face verification accuracy on Labeled Faces in
//! the Wild with the standard protocol: for each fold, the threshold that is
//! most accurate on the other folds is applied to it; the result is the
//! mean and standard deviation of the fold accuracies.

use super::progress::Progress;
use super::protocol::{cross_validated_accuracy, tar_at_far, Pair};
use super::{largest_template, read_image};
use facegate_models::{FaceEngine, Template};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn image_path(images: &Path, (name, number): &(String, u32)) -> PathBuf {
    images.join(name).join(format!("{name}_{number:04}.jpg"))
}

pub struct Report {
    pub pairs: usize,
    pub images: usize,
    pub detection_failures: usize,
    pub mean: f64,
    pub std: f64,
    pub tar: f64,
    pub far: f64,
    pub far_threshold: f32,
}

/// Runs the benchmark; an image without a detected face scores -1 against
/// everything, so it counts against accuracy.
pub fn run(
    engine: &FaceEngine,
    images: &Path,
    pairs: &[Pair],
    limits: facegate_models::DecodeLimits,
) -> Result<Report, String> {
    let mut templates: BTreeMap<&(String, u32), Option<Template>> = BTreeMap::new();
    for pair in pairs {
        templates.insert(&pair.first, None);
        templates.insert(&pair.second, None);
    }
    let progress = Progress::new("templates", templates.len());
    for (done, (key, template)) in templates.iter_mut().enumerate() {
        let image = read_image(&image_path(images, key), limits)?;
        *template = largest_template(engine, &image)?;
        progress.set(done + 1);
    }
    let scored: Vec<(f32, bool, usize)> = pairs
        .iter()
        .map(|pair| {
            let score = match (&templates[&pair.first], &templates[&pair.second]) {
                (Some(a), Some(b)) => a.similarity(b),
                _ => -1.0,
            };
            (score, pair.same, pair.fold)
        })
        .collect();
    let (mean, std) = cross_validated_accuracy(&scored);
    let far = 1e-3;
    let flat: Vec<(f32, bool)> = scored.iter().map(|p| (p.0, p.1)).collect();
    let (tar, far_threshold) = tar_at_far(&flat, far);
    Ok(Report {
        pairs: pairs.len(),
        images: templates.len(),
        detection_failures: templates.values().filter(|t| t.is_none()).count(),
        mean,
        std,
        tar,
        far,
        far_threshold,
    })
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "lfw accuracy: {:.4} +- {:.4} over {} pairs",
            self.mean, self.std, self.pairs
        )?;
        writeln!(
            f,
            "TAR at FAR={}: {:.4} (cosine threshold {:.4})",
            self.far, self.tar, self.far_threshold
        )?;
        write!(
            f,
            "detection failures: {} of {} images",
            self.detection_failures, self.images
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_use_four_digit_numbers() {
        let path = image_path(Path::new("/lfw"), &("Ann_Lee".to_string(), 7));
        assert_eq!(path, Path::new("/lfw/Ann_Lee/Ann_Lee_0007.jpg"));
    }
}
