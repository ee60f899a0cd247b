//! Cameras: anything that yields frames. Drivers (the recognition loop)
//! are generic over `Camera`; `ReplayCamera` and `V4lCamera` implement it.

use crate::picture::Picture;
use std::fmt;
use std::time::Instant;

/// One captured frame.
#[derive(Debug)]
pub struct Frame {
    pub image: Picture,
    pub captured_at: Instant,
    /// Counts from 0 for each camera.
    pub sequence: u64,
}

impl Frame {
    /// A frame captured now.
    pub fn now(image: impl Into<Picture>, sequence: u64) -> Frame {
        Frame {
            image: image.into(),
            captured_at: Instant::now(),
            sequence,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraError {
    pub message: String,
    pub fault: CameraFault,
}

/// What a camera error means for the one reading frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraFault {
    /// This frame is unusable (a corrupt MJPEG frame, say); the next one
    /// may be fine.
    BadFrame,
    /// The device cannot be opened or stopped working (unplugged, say):
    /// it must be opened again.
    Device,
}

impl CameraError {
    pub fn device(message: impl Into<String>) -> CameraError {
        CameraError {
            message: message.into(),
            fault: CameraFault::Device,
        }
    }

    pub fn bad_frame(message: impl Into<String>) -> CameraError {
        CameraError {
            message: message.into(),
            fault: CameraFault::BadFrame,
        }
    }
}

impl fmt::Display for CameraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CameraError {}

pub trait Camera: Send {
    /// Blocks until the next frame; `None` when the source has ended (a
    /// replay that does not loop).
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError>;
}
