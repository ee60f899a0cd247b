//! A template model of the user's own: a TOML manifest that describes an
//! ONNX recognition network (file and sha256, input, colour order, mean and
//! scale, the five-point alignment template, output and its size, whether
//! to normalise) and its score calibration, so that `engine.template_model`
//! can select it by name instead of faceplugin's `fr_feature`
//! (docs/ENGINE.md, with OpenCV's SFace as the worked example).

use crate::error::EngineError;
use crate::manifest::{sha256_file, ModelSpec, TensorSpec};
use crate::precision::Precision;
use crate::template::TEMPLATE_DIMENSION;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The name that selects faceplugin's built-in network.
pub const BUILT_IN: &str = "faceplugin";

/// The command that writes a manifest's `[calibration]`.
pub const CALIBRATE_COMMAND: &str = "facegate bench calibrate --into";

/// The largest aligned face a manifest may ask for, in pixels a side.
const MAX_INPUT_SIZE: usize = 512;

/// A template model manifest, `<name>.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateModel {
    pub name: String,
    /// The ONNX file, relative to the manifest's directory.
    pub file: PathBuf,
    pub sha256: String,
    /// Where the file comes from, and its licence, for the record.
    pub source: String,
    pub license: String,
    /// The precision the file runs in (reported, and part of the model id).
    pub precision: Precision,
    /// The input tensor's name.
    pub input: String,
    /// The output tensor's name.
    pub output: String,
    /// The aligned face's side, in pixels.
    pub size: usize,
    pub channels: ChannelOrder,
    /// Each input value is (pixel - mean[channel]) * scale, pixels 0..255,
    /// the mean in the channel order above.
    pub mean: [f32; 3],
    pub scale: f32,
    /// Where the network expects the eyes, nose tip and mouth corners in
    /// the `size` x `size` face.
    pub points: [[f32; 2]; 5],
    /// The output's length; at most 512 (the gallery's width: shorter
    /// templates are padded with zeros, which leaves every cosine as it is).
    pub dimension: usize,
    /// Whether the network's output is scaled to unit length before
    /// matching (cosine similarity); templates are always stored unit
    /// length, so `false` is for networks that normalise themselves.
    pub normalise: bool,
    /// Filled in by `facegate bench calibrate --into`; a model without it
    /// cannot serve.
    pub calibration: Option<Calibration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// How this model's cosines become SmartFace's 0..100 scores.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// (score, cosine), both ascending: the cosine at which impostor pairs
    /// fall to a false-accept rate of 10^(-score/10).
    pub cosines: Vec<(f32, f32)>,
    /// (score, TAR), scores ascending: the share of genuine pairs reaching
    /// each score.
    pub genuine: Vec<(f64, f64)>,
    /// The output magnitudes (before normalisation) that template quality
    /// 0 and 100 stand for.
    pub magnitudes: [f32; 2],
}

impl TemplateModel {
    /// Reads and checks the manifest at `path`, and the file it names.
    pub fn load(path: &Path) -> Result<TemplateModel, EngineError> {
        let fail = |why: String| {
            EngineError::Setup(format!("template model manifest {}: {why}", path.display()))
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let mut model: TemplateModel = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        model.check().map_err(fail)?;
        // Absolute, because the runtime joins relative files to model_dir.
        let dir = std::path::absolute(path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| fail(e.to_string()))?;
        model.file = dir.join(&model.file);
        let actual = sha256_file(&model.file)
            .map_err(|e| fail(format!("cannot read {}: {e}", model.file.display())))?;
        if actual != model.sha256 {
            return Err(fail(format!(
                "{} has sha256 {actual}, the manifest says {}",
                model.file.display(),
                model.sha256
            )));
        }
        Ok(model)
    }

    fn check(&self) -> Result<(), String> {
        if self.name == BUILT_IN || self.name.is_empty() {
            return Err(format!("name `{}` is reserved or empty", self.name));
        }
        if !(1..=TEMPLATE_DIMENSION).contains(&self.dimension) {
            return Err(format!(
                "dimension {} is outside 1..={TEMPLATE_DIMENSION}",
                self.dimension
            ));
        }
        if !(16..=MAX_INPUT_SIZE).contains(&self.size) {
            return Err(format!(
                "size {} is outside 16..={MAX_INPUT_SIZE}",
                self.size
            ));
        }
        if self.sha256.len() != 64 {
            return Err("sha256 must be 64 hex digits".into());
        }
        if !self.scale.is_finite() || self.scale == 0.0 {
            return Err("scale must be a non-zero number".into());
        }
        if let Some(calibration) = &self.calibration {
            calibration.check()?;
        }
        Ok(())
    }

    /// The calibration, which serving needs.
    pub fn calibrated(&self) -> Result<&Calibration, EngineError> {
        self.calibration.as_ref().ok_or_else(|| {
            EngineError::Setup(format!(
                "template model `{}` has no [calibration]; run `{CALIBRATE_COMMAND} MANIFEST` \
                 on a folder of labelled photos first",
                self.name
            ))
        })
    }

    /// The model as the runtime loads it.
    pub fn spec(&self) -> ModelSpec {
        ModelSpec {
            name: self.name.clone(),
            file: self.file.display().to_string(),
            source: self.source.clone(),
            license: self.license.clone(),
            sha256: self.sha256.clone(),
            input: TensorSpec {
                name: self.input.clone(),
                shape: vec![1, 3, self.size as i64, self.size as i64],
            },
            outputs: vec![TensorSpec {
                name: self.output.clone(),
                shape: vec![1, self.dimension as i64],
            }],
            fix_command: None,
        }
    }
}

impl Calibration {
    fn check(&self) -> Result<(), String> {
        let ascending = |v: &[(f64, f64)]| v.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
        let cosines: Vec<(f64, f64)> = self
            .cosines
            .iter()
            .map(|(s, c)| (f64::from(*s), f64::from(*c)))
            .collect();
        if cosines.len() < 2 || !ascending(&cosines) {
            return Err(
                "calibration.cosines needs two or more knots, scores and cosines both ascending"
                    .into(),
            );
        }
        let scores_ascend = self.genuine.windows(2).all(|w| w[0].0 < w[1].0);
        if self.genuine.len() < 2 || !scores_ascend {
            return Err("calibration.genuine needs two or more points, scores ascending".into());
        }
        if self.magnitudes[0] >= self.magnitudes[1] {
            return Err("calibration.magnitudes must be [low, high] with low < high".into());
        }
        Ok(())
    }

    /// The manifest's `[calibration]` table, as `bench calibrate` writes it.
    pub fn to_toml(&self) -> String {
        let pairs = |v: Vec<String>| format!("[\n    {},\n]", v.join(",\n    "));
        let cosines = pairs(
            self.cosines
                .iter()
                .map(|(s, c)| format!("[{s:.1}, {c:.4}]"))
                .collect(),
        );
        let genuine = pairs(
            self.genuine
                .iter()
                .map(|(s, t)| format!("[{s:.1}, {t:.4}]"))
                .collect(),
        );
        format!(
            "[calibration]\ncosines = {cosines}\ngenuine = {genuine}\nmagnitudes = [{:.4}, {:.4}]\n",
            self.magnitudes[0], self.magnitudes[1]
        )
    }
}

/// `text` with its `[calibration]` table (from that line to the end, where
/// the format keeps it) replaced by `calibration`.
pub fn with_calibration(text: &str, calibration: &Calibration) -> String {
    let kept = match text.find("\n[calibration]") {
        Some(at) => &text[..=at],
        None if text.starts_with("[calibration]") => "",
        None => text,
    };
    let separator = if kept.is_empty() || kept.ends_with("\n\n") {
        ""
    } else if kept.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    format!("{kept}{separator}{}", calibration.to_toml())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibration() -> Calibration {
        Calibration {
            cosines: vec![(0.0, -0.2), (5.0, 0.1), (10.0, 0.3)],
            genuine: vec![(0.0, 1.0), (5.0, 0.9), (10.0, 0.8)],
            magnitudes: [1.0, 3.0],
        }
    }

    const HEAD: &str = r#"name = "tiny"
file = "tiny.onnx"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
source = "test"
license = "MIT"
precision = "fp32"
input = "data"
output = "fc1"
size = 112
channels = "bgr"
mean = [0.0, 0.0, 0.0]
scale = 1.0
points = [[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]]
dimension = 128
normalise = true
"#;

    #[test]
    fn a_written_calibration_reads_back_and_replaces_the_old_one() {
        let once = with_calibration(HEAD, &calibration());
        let model: TemplateModel = toml::from_str(&once).unwrap();
        assert_eq!(model.calibration, Some(calibration()));
        let mut other = calibration();
        other.magnitudes = [2.0, 5.0];
        let twice = with_calibration(&once, &other);
        assert_eq!(twice.matches("[calibration]").count(), 1, "{twice}");
        let model: TemplateModel = toml::from_str(&twice).unwrap();
        assert_eq!(model.calibration, Some(other));
        assert!(twice.starts_with(HEAD));
    }

    #[test]
    fn a_manifest_wider_than_the_gallery_or_with_falling_knots_is_refused() {
        let mut model: TemplateModel = toml::from_str(HEAD).unwrap();
        model.check().unwrap();
        model.dimension = TEMPLATE_DIMENSION + 1;
        assert!(model.check().unwrap_err().contains("dimension"));
        model.dimension = 128;
        let mut falling = calibration();
        falling.cosines[2].1 = 0.0;
        model.calibration = Some(falling);
        assert!(model.check().unwrap_err().contains("ascending"));
    }

    #[test]
    fn a_manifest_whose_file_has_another_hash_names_both() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tiny.onnx"), b"not the model").unwrap();
        let path = dir.path().join("tiny.toml");
        std::fs::write(&path, HEAD).unwrap();
        let error = TemplateModel::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("tiny.onnx") && error.contains("the manifest says"),
            "{error}"
        );
    }

    #[test]
    fn an_uncalibrated_model_names_the_command_that_calibrates_it() {
        let model: TemplateModel = toml::from_str(HEAD).unwrap();
        let error = model.calibrated().unwrap_err().to_string();
        assert!(error.contains(CALIBRATE_COMMAND), "{error}");
    }
}
