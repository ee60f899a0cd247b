//! Replay-camera scenes shared by the door-loop benchmarks: test photos
//! scaled into 640x480 frames, played from a folder.
#![allow(dead_code)] // each bench uses a different part of this module

use crate::common::artifacts;
use facegate_models::image::{imageops, Rgb};
use facegate_models::RgbImage;

/// An empty 640x480 frame (no face), the background of `frame_of`.
pub fn empty_frame() -> RgbImage {
    RgbImage::from_pixel(640, 480, Rgb([100, 100, 100]))
}

/// A test photo scaled into a 640x480 frame, 480 px high.
pub fn frame_of(photo: &str) -> RgbImage {
    let photo = facegate_models::image::open(artifacts().join("testdata").join(photo))
        .unwrap()
        .into_rgb8();
    let width = photo.width() * 480 / photo.height();
    let small = imageops::resize(&photo, width.min(640), 480, imageops::FilterType::Triangle);
    let mut frame = empty_frame();
    imageops::replace(&mut frame, &small, i64::from((640 - small.width()) / 2), 0);
    frame
}

/// A replay folder: each (index into `frames`, n) shows that frame for n
/// frames, in order. Each frame is encoded once (in a subfolder, which the
/// replay skips) and hard-linked, so long scenes cost little disk.
pub fn replay_folder(
    frames: &[RgbImage],
    shots: impl IntoIterator<Item = (usize, usize)>,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let encoded = dir.path().join("encoded");
    std::fs::create_dir(&encoded).unwrap();
    for (k, frame) in frames.iter().enumerate() {
        frame.save(encoded.join(format!("{k}.jpg"))).unwrap();
    }
    let mut index = 0;
    for (k, n) in shots {
        for _ in 0..n {
            let link = dir.path().join(format!("f{index:07}.jpg"));
            std::fs::hard_link(encoded.join(format!("{k}.jpg")), link).unwrap();
            index += 1;
        }
    }
    dir
}

/// A replay folder: each (photo, n) for n frames, in order.
pub fn scene(shots: &[(&str, usize)]) -> tempfile::TempDir {
    let frames: Vec<RgbImage> = shots.iter().map(|(photo, _)| frame_of(photo)).collect();
    replay_folder(&frames, shots.iter().enumerate().map(|(k, (_, n))| (k, *n)))
}
