//! Face detection with the RFB-320 network (`fr_detect`).
//!
//! The network takes the image resized to 320x240 (BGR, (p-127)/128) and
//! returns 4420 already-decoded boxes with face probabilities. Boxes over
//! the threshold go through standard IoU non-maximum suppression, are made
//! square (side = box height, as the package's later stages expect), and
//! are filtered by SmartFace's size limits.

use crate::error::EngineError;
use crate::runtime::Network;
use crate::sampling::{resize_crop, Rect};
use image::RgbImage;

const INPUT_W: usize = 320;
const INPUT_H: usize = 240;
/// Boxes overlapping a stronger one by more than this IoU are dropped.
const NMS_IOU: f32 = 0.4;
/// Candidates kept before NMS, strongest first.
const TOP_K: usize = 750;

/// SmartFace's `FaceDetectorConfig`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Smallest and largest face side, in pixels of the input image.
    pub min_face_size: f32,
    pub max_face_size: f32,
    pub max_faces: usize,
    /// On SmartFace's 0..10000 scale (see `Detection::confidence`).
    pub confidence_threshold: f32,
    /// The `accurate_*` detectors: also detect on overlapping tiles, which
    /// finds faces too small for one 320x240 pass over the whole image.
    pub accurate: bool,
}

impl DetectorConfig {
    /// SmartFace's defaults.
    pub const DEFAULT: DetectorConfig = DetectorConfig {
        min_face_size: 35.0,
        max_face_size: 600.0,
        max_faces: 20,
        confidence_threshold: 450.0,
        accurate: false,
    };
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig::DEFAULT
    }
}

/// x1, y1, x2, y2 in image pixels.
pub type BoundingBox = [f32; 4];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// The square face box.
    pub bbox: BoundingBox,
    /// The network's face probability, 0..1.
    pub probability: f32,
}

impl Detection {
    /// SmartFace's 0..10000 detection confidence: 1000 times the log-odds of
    /// the face probability, clamped. The default threshold 450 keeps
    /// probabilities of 0.61 and up, close to the package's own 0.65.
    pub fn confidence(&self) -> f32 {
        confidence_of(self.probability)
    }

    /// The side of the square box.
    pub fn size(&self) -> f32 {
        self.bbox[2] - self.bbox[0]
    }
}

fn confidence_of(probability: f32) -> f32 {
    let p = probability.clamp(1e-7, 1.0 - 1e-7);
    (1000.0 * (p / (1.0 - p)).ln()).clamp(0.0, 10000.0)
}

fn probability_of(confidence: f32) -> f32 {
    1.0 / (1.0 + (-confidence / 1000.0).exp())
}

pub struct Detector {
    network: Network,
}

impl Detector {
    pub fn new(network: Network) -> Detector {
        Detector { network }
    }

    /// Faces in `image`, largest first.
    pub fn detect(
        &self,
        image: &RgbImage,
        config: &DetectorConfig,
    ) -> Result<Vec<Detection>, EngineError> {
        let (w, h) = (image.width() as i64, image.height() as i64);
        let min_probability = probability_of(config.confidence_threshold);
        let whole = Rect { x: 0, y: 0, w, h };
        let mut candidates = self.candidates(image, whole, min_probability)?;
        if config.accurate {
            for tile in tiles(w, h) {
                candidates.extend(self.candidates(image, tile, min_probability)?);
            }
        }
        let mut faces: Vec<Detection> = suppress(candidates)
            .into_iter()
            .map(|d| Detection {
                bbox: square(d.bbox, w as f32, h as f32),
                probability: d.probability,
            })
            .filter(|d| (config.min_face_size..=config.max_face_size).contains(&d.size()))
            .collect();
        faces.sort_by(|a, b| b.size().total_cmp(&a.size()));
        faces.truncate(config.max_faces);
        Ok(faces)
    }

    /// Boxes over `min_probability` in one pass over `region`, in image
    /// pixels.
    fn candidates(
        &self,
        image: &RgbImage,
        region: Rect,
        min_probability: f32,
    ) -> Result<Vec<Detection>, EngineError> {
        let input =
            resize_crop(image, region, INPUT_W, INPUT_H).bgr_tensor(|_, v| (v - 127.0) / 128.0);
        let outputs = self.network.run(&input, &["scores", "boxes"])?;
        let (scores, boxes) = (&outputs[0], &outputs[1]);
        let (rx, ry, rw, rh) = (
            region.x as f32,
            region.y as f32,
            region.w as f32,
            region.h as f32,
        );
        let mut found: Vec<Detection> = scores
            .chunks(2)
            .zip(boxes.chunks(4))
            .filter(|(score, _)| score[1] >= min_probability)
            .map(|(score, b)| Detection {
                bbox: [
                    rx + b[0] * rw,
                    ry + b[1] * rh,
                    rx + b[2] * rw,
                    ry + b[3] * rh,
                ],
                probability: score[1],
            })
            .collect();
        found.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        found.truncate(TOP_K);
        Ok(found)
    }
}

/// Four overlapping quarter tiles plus a centre tile: each is seen by the
/// network at twice the whole-image scale.
fn tiles(w: i64, h: i64) -> Vec<Rect> {
    let (tw, th) = (w * 5 / 8, h * 5 / 8);
    let (cx, cy) = ((w - tw) / 2, (h - th) / 2);
    [(0, 0), (w - tw, 0), (0, h - th), (w - tw, h - th), (cx, cy)]
        .into_iter()
        .map(|(x, y)| Rect {
            x,
            y,
            w: tw.max(1),
            h: th.max(1),
        })
        .collect()
}

fn area(b: &BoundingBox) -> f32 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

/// Intersection over union of two boxes.
pub fn iou(a: &BoundingBox, b: &BoundingBox) -> f32 {
    let inter = [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ];
    let i = area(&inter);
    i / (area(a) + area(b) - i + 1e-9)
}

/// Standard greedy IoU non-maximum suppression, strongest first.
fn suppress(mut candidates: Vec<Detection>) -> Vec<Detection> {
    candidates.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    let mut kept: Vec<Detection> = Vec::new();
    for candidate in candidates {
        if kept
            .iter()
            .all(|k| iou(&k.bbox, &candidate.bbox) <= NMS_IOU)
        {
            kept.push(candidate);
        }
    }
    kept
}

/// The package's square box: side = box height, same centre, clamped to
/// the image.
fn square(b: BoundingBox, w: f32, h: f32) -> BoundingBox {
    let side = b[3] - b[1];
    let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    [
        (cx - side / 2.0).max(0.0),
        (cy - side / 2.0).max(0.0),
        (cx + side / 2.0).min(w - 1.0),
        (cy + side / 2.0).min(h - 1.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(bbox: BoundingBox, probability: f32) -> Detection {
        Detection { bbox, probability }
    }

    #[test]
    fn nms_keeps_the_strongest_of_overlapping_boxes_and_distinct_ones() {
        let kept = suppress(vec![
            detection([0.0, 0.0, 10.0, 10.0], 0.8),
            detection([1.0, 1.0, 11.0, 11.0], 0.9),
            detection([50.0, 50.0, 60.0, 60.0], 0.7),
        ]);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].probability, 0.9);
        assert_eq!(kept[1].probability, 0.7);
    }

    #[test]
    fn the_confidence_scale_round_trips_and_450_is_about_061() {
        assert!((probability_of(450.0) - 0.6106).abs() < 1e-3);
        assert!((confidence_of(probability_of(1234.0)) - 1234.0).abs() < 0.5);
        assert_eq!(confidence_of(0.3), 0.0);
    }

    #[test]
    fn tiles_cover_the_image_with_overlap() {
        let tiles = tiles(640, 480);
        assert_eq!(tiles.len(), 5);
        for x in (0..640).step_by(7) {
            for y in (0..480).step_by(7) {
                assert!(tiles
                    .iter()
                    .any(|t| x >= t.x && x < t.x + t.w && y >= t.y && y < t.y + t.h));
            }
        }
    }

    #[test]
    fn square_boxes_take_the_height_and_stay_in_the_image() {
        assert_eq!(
            square([10.0, 10.0, 30.0, 50.0], 100.0, 100.0),
            [0.0, 10.0, 40.0, 50.0]
        );
        assert_eq!(square([80.0, 0.0, 100.0, 40.0], 100.0, 100.0)[2], 99.0);
    }
}
