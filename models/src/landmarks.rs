//! 68 facial landmarks (`fr_landmark`): the face box cropped at scale 1,
//! 64x64 grey divided by 256; the output is relative to the box.

use crate::align::FivePoints;
use crate::detector::BoundingBox;
use crate::error::EngineError;
use crate::runtime::Network;
use crate::sampling::{resize_crop, scaled_crop};
use image::RgbImage;

/// The iBUG 68 points, in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Landmarks {
    pub points: Vec<[f32; 2]>,
}

impl Landmarks {
    fn mean(&self, indices: &[usize]) -> [f32; 2] {
        let n = indices.len() as f32;
        let (x, y) = indices.iter().fold((0.0, 0.0), |(x, y), &i| {
            (x + self.points[i][0], y + self.points[i][1])
        });
        [x / n, y / n]
    }

    /// Each eye is the mean of its four lid points; then the nose tip and
    /// the two mouth corners (each the mean of the outer and inner lip
    /// corner). "Left" is the image's left.
    pub fn five_points(&self) -> FivePoints {
        FivePoints([
            self.mean(&[37, 38, 40, 41]),
            self.mean(&[43, 44, 46, 47]),
            self.points[30],
            self.mean(&[48, 60]),
            self.mean(&[54, 64]),
        ])
    }
}

pub struct LandmarkNetwork {
    network: Network,
}

impl LandmarkNetwork {
    pub fn new(network: Network) -> LandmarkNetwork {
        LandmarkNetwork { network }
    }

    pub fn locate(&self, image: &RgbImage, bbox: &BoundingBox) -> Result<Landmarks, EngineError> {
        let rect = scaled_crop(image.width(), image.height(), *bbox, 1.0);
        let input = resize_crop(image, rect, 64, 64).grey_tensor(256.0);
        let output = self.network.run(&input, &["output"])?.remove(0);
        // The package maps with the box's whole-pixel corner and size.
        let (x1, y1) = (bbox[0].trunc(), bbox[1].trunc());
        let bw = (bbox[2].trunc() - x1).abs().max(1.0);
        let bh = (bbox[3].trunc() - y1).abs().max(1.0);
        let points = output
            .chunks(2)
            .map(|p| [p[0] * bw + x1, p[1] * bh + y1])
            .collect();
        Ok(Landmarks { points })
    }
}
