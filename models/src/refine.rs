//! Five-point refinement (`mtcnn_onet`): MTCNN's output network places the
//! eyes, nose tip and mouth corners directly, which aligns faces better for
//! the template network than the five points reduced from the 68
//! landmarks (measured in docs/BENCHMARKS.md).
//!
//! The network takes the square face box resized to 48x48 (area
//! averaging, black outside the image), RGB, (p-127.5)/128, laid out
//! N x width x height x channels (MTCNN's Caffe weights read images
//! transposed); it returns each point relative to the box, x's then y's.

use crate::align::FivePoints;
use crate::detector::BoundingBox;
use crate::error::EngineError;
use crate::runtime::Network;
use crate::sampling::area_resize;
use image::RgbImage;
use ndarray::Array4;

const INPUT_SIDE: usize = 48;

pub struct PointNetwork {
    network: Network,
}

impl PointNetwork {
    pub fn new(network: Network) -> PointNetwork {
        PointNetwork { network }
    }

    /// The five points of the face in `bbox`, in image pixels: the
    /// network first moves the box to where it places faces (its box
    /// regression, made square as MTCNN does), then places the points in
    /// that box.
    pub fn locate(&self, image: &RgbImage, bbox: &BoundingBox) -> Result<FivePoints, EngineError> {
        let (_, moved) = self.run(image, bbox)?;
        let (points, _) = self.run(image, &moved)?;
        Ok(points)
    }

    /// The points in `bbox`, and the box the network regresses it to.
    fn run(
        &self,
        image: &RgbImage,
        bbox: &BoundingBox,
    ) -> Result<(FivePoints, BoundingBox), EngineError> {
        // MTCNN crops whole pixels, both edges included.
        let (x1, y1) = (bbox[0].trunc(), bbox[1].trunc());
        let w = (bbox[2].trunc() - x1 + 1.0).max(1.0);
        let h = (bbox[3].trunc() - y1 + 1.0).max(1.0);
        let patch = area_resize(image, [x1, y1, w, h], INPUT_SIDE);
        let mut input = Array4::<f32>::zeros((1, INPUT_SIDE, INPUT_SIDE, 3));
        for (i, pixel) in patch.rgb.chunks(3).enumerate() {
            let (y, x) = (i / INPUT_SIDE, i % INPUT_SIDE);
            for (c, value) in pixel.iter().enumerate() {
                input[[0, x, y, c]] = (value - 127.5) / 128.0;
            }
        }
        let mut outputs = self.network.run(&input, &["dense_5", "dense_6"])?;
        let (offsets, coordinates) = (outputs.remove(0), outputs.remove(0));
        if offsets.len() != 4 || coordinates.len() != 10 {
            return Err(EngineError::Inference(format!(
                "mtcnn_onet gave {} box offsets and {} point coordinates, expected 4 and 10",
                offsets.len(),
                coordinates.len()
            )));
        }
        let points = FivePoints(std::array::from_fn(|i| {
            [x1 + w * coordinates[i], y1 + h * coordinates[5 + i]]
        }));
        let moved = [
            bbox[0] + offsets[0] * w,
            bbox[1] + offsets[1] * h,
            bbox[2] + offsets[2] * w,
            bbox[3] + offsets[3] * h,
        ];
        Ok((points, square(moved)))
    }
}

/// The square with the box's centre and its longer side (MTCNN's `rerec`).
fn square(b: BoundingBox) -> BoundingBox {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let side = w.max(h);
    let (x, y) = (b[0] + (w - side) / 2.0, b[1] + (h - side) / 2.0);
    [x, y, x + side, y + side]
}
