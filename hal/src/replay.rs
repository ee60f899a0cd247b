//! A camera that replays image files at a fixed frame rate: for tests,
//! demos and re-running recorded scenes.

use crate::camera::{Camera, CameraError, Frame};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct ReplayCamera {
    files: Vec<PathBuf>,
    interval: Duration,
    next: usize,
    due: Option<Instant>,
}

const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff"];

impl ReplayCamera {
    /// Plays `files` in order, `fps` frames per second, once.
    pub fn new(files: Vec<PathBuf>, fps: f64) -> Result<ReplayCamera, CameraError> {
        if files.is_empty() {
            return Err(CameraError::device("a replay needs at least one image"));
        }
        if !(fps > 0.0 && fps <= 1000.0) {
            return Err(CameraError::device(format!(
                "replay frame rate {fps} is not in 0..1000"
            )));
        }
        Ok(ReplayCamera {
            files,
            interval: Duration::from_secs_f64(1.0 / fps),
            next: 0,
            due: None,
        })
    }

    /// Plays the images of `dir` in file-name order.
    pub fn from_dir(dir: &Path, fps: f64) -> Result<ReplayCamera, CameraError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| {
                CameraError::device(format!(
                    "cannot read replay directory {}: {e}",
                    dir.display()
                ))
            })?
            .filter_map(|entry| Some(entry.ok()?.path()))
            .filter(|path| {
                path.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(CameraError::device(format!(
                "no images in replay directory {}",
                dir.display()
            )));
        }
        ReplayCamera::new(files, fps)
    }
}

impl Camera for ReplayCamera {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        let Some(path) = self.files.get(self.next) else {
            return Ok(None);
        };
        let due = self.due.unwrap_or_else(Instant::now);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // A file that cannot be read is one bad frame: the replay moves on.
        let sequence = self.next as u64;
        self.next += 1;
        self.due = Some(due + self.interval);
        let image = image::open(path)
            .map_err(|e| {
                CameraError::bad_frame(format!("cannot read replay frame {}: {e}", path.display()))
            })?
            .into_rgb8();
        Ok(Some(Frame::now(image, sequence)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn a_directory_replays_in_name_order_at_its_frame_rate_then_ends() {
        let dir = tempfile::tempdir().unwrap();
        for (name, shade) in [("b.png", 20u8), ("a.png", 10), ("c.png", 30)] {
            RgbImage::from_pixel(4, 3, Rgb([shade; 3]))
                .save(dir.path().join(name))
                .unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), "not a frame").unwrap();
        let mut camera = ReplayCamera::from_dir(dir.path(), 50.0).unwrap();
        let started = Instant::now();
        let shades: Vec<u8> = std::iter::from_fn(|| camera.next_frame().unwrap())
            .map(|frame| frame.image.get_pixel(0, 0)[0])
            .collect();
        assert_eq!(shades, vec![10, 20, 30]);
        // Three frames at 50 fps span two intervals.
        assert!(started.elapsed() >= Duration::from_millis(40));
    }

    #[test]
    fn empty_or_missing_sources_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ReplayCamera::from_dir(dir.path(), 5.0).is_err());
        assert!(ReplayCamera::from_dir(&dir.path().join("absent"), 5.0).is_err());
        assert!(ReplayCamera::new(vec![dir.path().join("x.png")], 0.0).is_err());
        let mut broken = ReplayCamera::new(vec![dir.path().join("x.png")], 5.0).unwrap();
        let error = broken.next_frame().unwrap_err();
        assert!(error.message.contains("x.png"), "{error}");
        assert_eq!(error.fault, crate::CameraFault::BadFrame);
        assert!(
            broken.next_frame().unwrap().is_none(),
            "the replay moved on"
        );
    }
}
