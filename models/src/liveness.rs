//! Passive liveness (`fr_liveness`, MiniFASNet style): the face box scaled
//! 2.7x, 128x128, BGR with raw 0..255 values; softmax class 0 is "live".

use crate::detector::BoundingBox;
use crate::error::EngineError;
use crate::runtime::Network;
use crate::sampling::{resize_crop, scaled_crop};
use image::RgbImage;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Liveness {
    /// 0..100: the network's probability that the face is live, in percent.
    pub score: f32,
}

pub struct LivenessNetwork {
    network: Network,
}

impl LivenessNetwork {
    pub fn new(network: Network) -> LivenessNetwork {
        LivenessNetwork { network }
    }

    pub fn check(&self, image: &RgbImage, bbox: &BoundingBox) -> Result<Liveness, EngineError> {
        let rect = scaled_crop(image.width(), image.height(), *bbox, 2.7);
        let input = resize_crop(image, rect, 128, 128).bgr_tensor(|_, v| v);
        let logits = self.network.run(&input, &["output"])?.remove(0);
        Ok(Liveness {
            score: 100.0 * softmax(&logits)[0],
        })
    }
}

pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|v| v / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::softmax;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[1.0, 3.0, 2.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[1] > p[2] && p[2] > p[0]);
    }
}
