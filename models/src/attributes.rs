//! Face attributes, computed only when asked: age and gender (SSR-Net
//! style `fr_age`, `fr_gender`), head pose (pitch from `fr_pose`; yaw and
//! roll from the landmarks, which proved steadier), sharpness and
//! brightness from the aligned face.

use crate::align::FivePoints;
use crate::detector::BoundingBox;
use crate::error::EngineError;
use crate::liveness::softmax;
use crate::runtime::Network;
use crate::sampling::{resize_crop, scaled_crop, Patch, Rect};
use image::RgbImage;

/// Which attributes to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeSet {
    pub age: bool,
    pub gender: bool,
    pub pose: bool,
    pub sharpness: bool,
    pub brightness: bool,
}

impl AttributeSet {
    pub const ALL: AttributeSet = AttributeSet {
        age: true,
        gender: true,
        pose: true,
        sharpness: true,
        brightness: true,
    };
    pub const NONE: AttributeSet = AttributeSet {
        age: false,
        gender: false,
        pose: false,
        sharpness: false,
        brightness: false,
    };
}

/// Degrees. Yaw is positive when the nose points to the image's right,
/// pitch when the face tilts up, roll when the face's right-hand side (the
/// image's right eye) is lower.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadPose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Attributes {
    /// Years.
    pub age: Option<f32>,
    /// 0..1; above 0.5 means male.
    pub gender: Option<f32>,
    pub pose: Option<HeadPose>,
    /// 0..1: the aligned face's Laplacian energy, v / (v + 100).
    pub sharpness: Option<f32>,
    /// 0..1: the aligned face's mean luminance.
    pub brightness: Option<f32>,
}

const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// SSR-Net's outputs, in the order its merge formula indexes them.
const SSR_OUTPUTS: [&str; 9] = [
    "prob_stage_1",
    "prob_stage_2",
    "prob_stage_3",
    "stage1_delta_k",
    "stage2_delta_k",
    "stage3_delta_k",
    "index_offset_stage1",
    "index_offset_stage2",
    "index_offset_stage3",
];
/// A nose tip sits about this many inter-ocular distances in front of the
/// eyes, which turns its sideways shift into a yaw angle.
const NOSE_DEPTH: f32 = 0.55;

fn imagenet(plane: usize, value: f32) -> f32 {
    (value / 255.0 - IMAGENET_MEAN[plane]) / IMAGENET_STD[plane]
}

pub struct AttributeNetworks {
    pub age: Network,
    pub gender: Network,
    pub pose: Network,
}

impl AttributeNetworks {
    pub fn estimate(
        &self,
        image: &RgbImage,
        bbox: &BoundingBox,
        points: &FivePoints,
        aligned: &Patch,
        wanted: AttributeSet,
    ) -> Result<Attributes, EngineError> {
        let ssr_input = || {
            let rect = scaled_crop(image.width(), image.height(), *bbox, 1.4);
            resize_crop(image, rect, 64, 64).bgr_tensor(imagenet)
        };
        let age = match wanted.age {
            true => Some(ssr(&self.age, &ssr_input(), 101.0)?),
            false => None,
        };
        let gender = match wanted.gender {
            true => Some(ssr(&self.gender, &ssr_input(), 1.0)?.clamp(0.0, 1.0)),
            false => None,
        };
        let pose = match wanted.pose {
            true => Some(self.head_pose(image, bbox, points)?),
            false => None,
        };
        Ok(Attributes {
            age,
            gender,
            pose,
            sharpness: wanted.sharpness.then(|| sharpness(aligned)),
            brightness: wanted.brightness.then(|| brightness(aligned)),
        })
    }

    fn head_pose(
        &self,
        image: &RgbImage,
        bbox: &BoundingBox,
        points: &FivePoints,
    ) -> Result<HeadPose, EngineError> {
        let (w, h) = (bbox[2] - bbox[0], bbox[3] - bbox[1]);
        let rect = Rect {
            x: (bbox[0] - w / 4.0).max(0.0) as i64,
            y: (bbox[1] - h / 4.0).max(0.0) as i64,
            w: (w * 1.5) as i64,
            h: (h * 1.5) as i64,
        };
        let input = resize_crop(image, rect, 224, 224).bgr_tensor(imagenet);
        let pitch_bins = self.pose.run(&input, &["617"])?.remove(0);
        let (yaw, roll) = geometric_yaw_roll(points);
        Ok(HeadPose {
            yaw,
            pitch: binned_angle(&pitch_bins),
            roll,
        })
    }
}

/// The expected angle over the pose network's 66 three-degree bins.
fn binned_angle(logits: &[f32]) -> f32 {
    let expected: f32 = softmax(logits)
        .iter()
        .enumerate()
        .map(|(i, p)| p * i as f32)
        .sum();
    expected * 3.0 - 99.0
}

/// Roll from the eye line; yaw from the nose tip's sideways offset from
/// the eyes' midpoint, measured along the eye line.
fn geometric_yaw_roll(points: &FivePoints) -> (f32, f32) {
    let [left_eye, right_eye, nose, _, _] = points.0;
    let (dx, dy) = (right_eye[0] - left_eye[0], right_eye[1] - left_eye[1]);
    let eye_distance = (dx * dx + dy * dy).sqrt().max(1e-3);
    let roll = dy.atan2(dx).to_degrees();
    let mid = [
        (left_eye[0] + right_eye[0]) / 2.0,
        (left_eye[1] + right_eye[1]) / 2.0,
    ];
    let along = ((nose[0] - mid[0]) * dx + (nose[1] - mid[1]) * dy) / eye_distance;
    let yaw = (along / eye_distance / NOSE_DEPTH).atan().to_degrees();
    (yaw, roll)
}

/// SSR-Net's stage-wise regression: `scale` 101 gives years, 1 gives the
/// gender score.
fn ssr(network: &Network, input: &ndarray::Array4<f32>, scale: f32) -> Result<f32, EngineError> {
    let x: Vec<f32> = network.run(input, &SSR_OUTPUTS)?.concat();
    if x.len() != 21 {
        return Err(EngineError::Inference(format!(
            "SSR-Net gave {} values, expected 21",
            x.len()
        )));
    }
    let stage = |s: usize| {
        (0..3)
            .map(|i| (i as f32 + x[12 + 3 * s + i]) * x[3 * s + i])
            .sum::<f32>()
    };
    let d = |s: usize| 3.0 * (1.0 + x[9 + s]);
    let a = stage(0) / d(0);
    let b = stage(1) / d(0) / d(1);
    let c = stage(2) / d(0) / d(1) / d(2);
    Ok((a + b + c) * scale)
}

fn grey(patch: &Patch) -> Vec<f32> {
    patch
        .rgb
        .chunks(3)
        .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
        .collect()
}

fn brightness(aligned: &Patch) -> f32 {
    let grey = grey(aligned);
    grey.iter().sum::<f32>() / grey.len() as f32 / 255.0
}

/// Variance of the 4-neighbour Laplacian over the aligned face, squashed
/// to 0..1.
fn sharpness(aligned: &Patch) -> f32 {
    let grey = grey(aligned);
    let (w, h) = (aligned.width, aligned.height);
    let mut responses = Vec::with_capacity(w * h);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let at = |x: usize, y: usize| grey[y * w + x];
            responses
                .push(at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y));
        }
    }
    let n = responses.len() as f32;
    let mean = responses.iter().sum::<f32>() / n;
    let variance = responses.iter().map(|r| (r - mean).powi(2)).sum::<f32>() / n;
    variance / (variance + 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frontal_level_face_has_zero_yaw_and_roll() {
        let points = FivePoints([
            [40.0, 50.0],
            [80.0, 50.0],
            [60.0, 70.0],
            [45.0, 90.0],
            [75.0, 90.0],
        ]);
        let (yaw, roll) = geometric_yaw_roll(&points);
        assert!(yaw.abs() < 1e-4 && roll.abs() < 1e-4);
    }

    #[test]
    fn mirroring_the_points_negates_yaw_and_roll() {
        let points = FivePoints([
            [40.0, 50.0],
            [80.0, 54.0],
            [70.0, 70.0],
            [45.0, 90.0],
            [75.0, 90.0],
        ]);
        let mirror = |p: [f32; 2]| [200.0 - p[0], p[1]];
        let p = points.0;
        // Mirroring swaps which eye and mouth corner is on the image's left.
        let mirrored = FivePoints([
            mirror(p[1]),
            mirror(p[0]),
            mirror(p[2]),
            mirror(p[4]),
            mirror(p[3]),
        ]);
        let (yaw, roll) = geometric_yaw_roll(&points);
        let (myaw, mroll) = geometric_yaw_roll(&mirrored);
        assert!(yaw > 5.0, "{yaw}");
        assert!((yaw + myaw).abs() < 1e-3 && (roll + mroll).abs() < 1e-3);
    }

    #[test]
    fn a_flat_patch_has_no_sharpness_and_its_own_brightness() {
        let flat = Patch {
            width: 8,
            height: 8,
            rgb: vec![51.0; 8 * 8 * 3],
        };
        assert_eq!(sharpness(&flat), 0.0);
        assert!((brightness(&flat) - 0.2).abs() < 1e-4);
    }
}
