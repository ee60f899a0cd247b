//! Face templates: the aligned face through the template network to a
//! vector, L2-normalised; matching is the cosine similarity, a dot product
//! of unit vectors. faceplugin's `fr_feature` takes the 112x112 face, BGR,
//! (p-127)/128, and gives 512 values; a template model of the user's own
//! (`template_model`) says its own, and its shorter vectors are padded with
//! zeros to the gallery's 512.

use crate::error::EngineError;
use crate::runtime::Network;
use crate::sampling::Patch;

pub const TEMPLATE_DIMENSION: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Unit length.
    pub vector: Vec<f32>,
    /// The network output's length before normalisation; it grows with how
    /// recognisable the face is (blurred, dark or turned faces score low).
    pub magnitude: f32,
    /// SmartFace's 0..100 template quality, from the magnitude on the
    /// model's range (`Preprocessing::magnitudes`).
    pub quality: i32,
}

impl Template {
    /// Cosine similarity, -1..1.
    pub fn similarity(&self, other: &Template) -> f32 {
        self.vector
            .iter()
            .zip(&other.vector)
            .map(|(a, b)| a * b)
            .sum()
    }
}

/// faceplugin's magnitudes for quality 0 and 100: clear frontal photos land
/// near 3.5 (about 75), unusable crops below 2.
pub const FACEPLUGIN_MAGNITUDES: [f32; 2] = [2.0, 4.0];

/// SmartFace's 0..100 template quality of a `magnitude` on the range
/// `[low, high]`.
pub fn quality_of(magnitude: f32, [low, high]: [f32; 2]) -> i32 {
    ((magnitude - low) / (high - low) * 100.0)
        .clamp(0.0, 100.0)
        .round() as i32
}

/// What the template network takes and gives.
#[derive(Debug, Clone)]
pub struct Preprocessing {
    pub bgr: bool,
    /// Each value is (pixel - mean[plane]) * scale.
    pub mean: [f32; 3],
    pub scale: f32,
    pub output: String,
    /// The output's expected length.
    pub dimension: usize,
    pub normalise: bool,
    /// The magnitudes of quality 0 and 100.
    pub magnitudes: [f32; 2],
}

impl Preprocessing {
    pub fn faceplugin() -> Preprocessing {
        Preprocessing {
            bgr: true,
            mean: [127.0; 3],
            scale: 1.0 / 128.0,
            output: "output".into(),
            dimension: TEMPLATE_DIMENSION,
            normalise: true,
            magnitudes: FACEPLUGIN_MAGNITUDES,
        }
    }
}

pub struct TemplateNetwork {
    network: Network,
    preprocessing: Preprocessing,
}

impl TemplateNetwork {
    pub fn new(network: Network, preprocessing: Preprocessing) -> TemplateNetwork {
        TemplateNetwork {
            network,
            preprocessing,
        }
    }

    pub fn precision(&self) -> crate::Precision {
        self.network.precision()
    }

    fn raw(&self, aligned: &Patch) -> Result<Vec<f32>, EngineError> {
        let p = &self.preprocessing;
        let input = aligned.planar_tensor(p.bgr, |plane, v| (v - p.mean[plane]) * p.scale);
        let output = self.network.run(&input, &[p.output.as_str()])?.remove(0);
        if output.len() != p.dimension {
            return Err(EngineError::Inference(format!(
                "{} gave {} values, expected {}",
                self.network.name(),
                output.len(),
                p.dimension
            )));
        }
        Ok(output)
    }

    /// The template of an aligned face; with `flip`, the sum of the face's
    /// and its mirror image's outputs (a little more accurate, twice the
    /// work).
    pub fn extract(&self, aligned: &Patch, flip: bool) -> Result<Template, EngineError> {
        let mut raw = self.raw(aligned)?;
        let mut magnitude = norm(&raw);
        if flip {
            let mirrored = self.raw(&aligned.flipped())?;
            magnitude = (magnitude + norm(&mirrored)) / 2.0;
            raw.iter_mut().zip(&mirrored).for_each(|(a, b)| *a += b);
        }
        // Stored and matched at unit length whatever the network does; a
        // network that normalises itself is left as it gave its output.
        let length = match self.preprocessing.normalise {
            true => norm(&raw).max(1e-12),
            false => 1.0,
        };
        let mut vector: Vec<f32> = raw.iter().map(|v| v / length).collect();
        vector.resize(TEMPLATE_DIMENSION, 0.0);
        Ok(Template {
            vector,
            magnitude,
            quality: quality_of(magnitude, self.preprocessing.magnitudes),
        })
    }
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}
