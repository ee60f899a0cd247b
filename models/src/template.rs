//! Face templates (`fr_feature`): the aligned 112x112 face, BGR,
//! (p-127)/128, to a 512-d vector, L2-normalised; matching is the cosine
//! similarity, a dot product of unit vectors.

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

    /// SmartFace's 0..100 template quality, from the magnitude: clear
    /// frontal photos land near 3.5 (about 75), unusable crops below 2.
    pub fn quality(&self) -> i32 {
        ((self.magnitude - 2.0) / 2.0 * 100.0)
            .clamp(0.0, 100.0)
            .round() as i32
    }
}

pub struct TemplateNetwork {
    network: Network,
}

impl TemplateNetwork {
    pub fn new(network: Network) -> TemplateNetwork {
        TemplateNetwork { network }
    }

    pub fn precision(&self) -> crate::Precision {
        self.network.precision()
    }

    fn raw(&self, aligned: &Patch) -> Result<Vec<f32>, EngineError> {
        let input = aligned.bgr_tensor(|_, v| (v - 127.0) / 128.0);
        Ok(self.network.run(&input, &["output"])?.remove(0))
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
        let length = norm(&raw).max(1e-12);
        Ok(Template {
            vector: raw.iter().map(|v| v / length).collect(),
            magnitude,
        })
    }
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}
