//! Alignment: a least-squares similarity transform (Umeyama, without
//! reflection) from five facial points onto the ArcFace 112x112 reference
//! points, then bilinear sampling.

use crate::sampling::{warp_affine, Patch};
use image::RgbImage;

/// Left eye, right eye, nose tip, left and right mouth corners, in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FivePoints(pub [[f32; 2]; 5]);

impl FivePoints {
    /// Each point halfway to `other`'s.
    pub fn midway(&self, other: &FivePoints) -> FivePoints {
        FivePoints(std::array::from_fn(|i| {
            let (a, b) = (self.0[i], other.0[i]);
            [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
        }))
    }
}

/// Where ArcFace-style networks expect the five points in a 112x112 crop.
pub const REFERENCE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

pub const ALIGNED_SIZE: usize = 112;

/// The similarity transform [a -b tx; b a ty] that maps `from` onto `to`
/// with the least squared error.
fn similarity(from: &[[f32; 2]; 5], to: &[[f32; 2]; 5]) -> [f32; 6] {
    let mean = |pts: &[[f32; 2]; 5]| {
        let (x, y) = pts
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
        (x / 5.0, y / 5.0)
    };
    let (fx, fy) = mean(from);
    let (tx, ty) = mean(to);
    let (mut dot, mut cross, mut norm) = (0.0f32, 0.0f32, 0.0f32);
    for (f, t) in from.iter().zip(to) {
        let (x, y) = (f[0] - fx, f[1] - fy);
        let (u, v) = (t[0] - tx, t[1] - ty);
        dot += x * u + y * v;
        cross += x * v - y * u;
        norm += x * x + y * y;
    }
    let norm = norm.max(1e-6);
    let (a, b) = (dot / norm, cross / norm);
    [a, -b, tx - (a * fx - b * fy), b, a, ty - (b * fx + a * fy)]
}

/// The face as ArcFace-style networks expect it: 112x112, eyes level.
pub fn align(image: &RgbImage, points: &FivePoints) -> Patch {
    align_to(image, points, &REFERENCE, ALIGNED_SIZE)
}

/// The face with its five points moved onto `reference` in a `size`-pixel
/// square (a template model's own alignment template).
pub fn align_to(
    image: &RgbImage,
    points: &FivePoints,
    reference: &[[f32; 2]; 5],
    size: usize,
) -> Patch {
    warp_affine(image, similarity(&points.0, reference), size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(m: &[f32; 6], p: [f32; 2]) -> [f32; 2] {
        [
            m[0] * p[0] + m[1] * p[1] + m[2],
            m[3] * p[0] + m[4] * p[1] + m[5],
        ]
    }

    #[test]
    fn a_scaled_rotated_shifted_copy_of_the_reference_maps_back_exactly() {
        let (s, angle, shift) = (2.5f32, 0.3f32, [100.0f32, 40.0]);
        let (c, n) = (angle.cos(), angle.sin());
        let moved = REFERENCE.map(|p| {
            [
                s * (c * p[0] - n * p[1]) + shift[0],
                s * (n * p[0] + c * p[1]) + shift[1],
            ]
        });
        let m = similarity(&moved, &REFERENCE);
        for (from, to) in moved.iter().zip(REFERENCE) {
            let got = apply(&m, *from);
            assert!(
                (got[0] - to[0]).abs() < 1e-2 && (got[1] - to[1]).abs() < 1e-2,
                "{got:?} vs {to:?}"
            );
        }
    }
}
