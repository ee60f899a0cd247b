//! The capture thread: frames from the camera to the loop, newest only.
//!
//! A frame replaced before it was processed is counted as dropped, so a
//! slow stage never grows memory. A bad frame (a corrupt MJPEG frame, say)
//! is counted and skipped; a camera that fails (unplugged) is opened again
//! with backoff; the state says which, for the status endpoint.

use crate::core::health::{CameraHealth, CameraState};
use facegate_hal::{Camera, CameraError, CameraFault, Frame};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The newest frame, handed from the capture thread to processing.
#[derive(Default)]
pub struct Latest {
    frame: Mutex<Option<Frame>>,
    pub ready: Notify,
    ended: AtomicBool,
}

impl Latest {
    pub fn take(&self) -> Option<Frame> {
        self.frame.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Whether the camera has ended for good (a replay played out).
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }
}

/// Reads frames until `stop` or the camera's end, opening the camera with
/// `open` (again after each failure).
pub fn run(
    mut open: impl FnMut() -> Result<Box<dyn Camera>, CameraError>,
    latest: &Latest,
    health: &CameraHealth,
    stop: &AtomicBool,
) {
    let mut camera: Option<Box<dyn Camera>> = None;
    let mut backoff = MIN_BACKOFF;
    health.set(CameraState::Opening);
    while !stop.load(Ordering::Relaxed) {
        let Some(source) = camera.as_mut() else {
            match open() {
                Ok(opened) => {
                    camera = Some(opened);
                    health.set(CameraState::Streaming);
                }
                Err(error) => {
                    health.failed(&error);
                    sleep_unless_stopped(backoff, stop);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    health.reopens.fetch_add(1, Ordering::Relaxed);
                }
            }
            continue;
        };
        match source.next_frame() {
            Ok(Some(frame)) => {
                backoff = MIN_BACKOFF;
                health.frames_in.fetch_add(1, Ordering::Relaxed);
                let mut slot = latest.frame.lock().unwrap_or_else(|e| e.into_inner());
                if slot.replace(frame).is_some() {
                    health.frames_dropped.fetch_add(1, Ordering::Relaxed);
                }
                drop(slot);
                latest.ready.notify_one();
            }
            Ok(None) => {
                health.set(CameraState::Ended);
                break;
            }
            Err(error) if error.fault == CameraFault::BadFrame => {
                log::warn!("camera: {error}; frame skipped");
                health.frames_bad.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                health.failed(&error);
                camera = None;
                sleep_unless_stopped(backoff, stop);
                health.reopens.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    if stop.load(Ordering::Relaxed) {
        health.set(CameraState::Stopped);
    }
    latest.ended.store(true, Ordering::Relaxed);
    latest.ready.notify_one();
}

/// Sleeps `length` in short steps, returning early on `stop`.
fn sleep_unless_stopped(length: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(20);
    let mut slept = Duration::ZERO;
    while slept < length && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(step);
        slept += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facegate_hal::fakes::FakeCamera;
    use facegate_models::RgbImage;

    fn frame(sequence: u64) -> Result<Option<Frame>, CameraError> {
        Ok(Some(Frame::now(RgbImage::new(2, 2), sequence)))
    }

    #[test]
    fn bad_frames_are_skipped_and_a_lost_camera_is_opened_again() {
        let mut cameras = vec![
            // Opened second: two frames, then the replay's end.
            FakeCamera::new(vec![frame(10), frame(11), Ok(None)]),
            // Opened first: a frame, a corrupt one, a frame, then unplugged.
            FakeCamera::new(vec![
                frame(0),
                Err(CameraError::bad_frame("corrupt MJPEG")),
                frame(1),
            ]),
        ];
        let mut refusals = 1;
        let open = move || -> Result<Box<dyn Camera>, CameraError> {
            // The device is briefly missing after it was unplugged.
            if cameras.len() == 1 && refusals > 0 {
                refusals -= 1;
                return Err(CameraError::device("no such device"));
            }
            Ok(Box::new(cameras.pop().expect("opened too often")))
        };
        let (latest, health) = (Latest::default(), CameraHealth::default());
        run(open, &latest, &health, &AtomicBool::new(false));
        assert_eq!(health.frames_in.load(Ordering::Relaxed), 4);
        assert_eq!(health.frames_bad.load(Ordering::Relaxed), 1);
        assert_eq!(health.reopens.load(Ordering::Relaxed), 2);
        assert_eq!(health.state(), CameraState::Ended);
        let snapshot = health.snapshot();
        assert_eq!(snapshot.last_error.as_deref(), Some("no such device"));
        assert_eq!(latest.take().map(|f| f.sequence), Some(11));
        assert!(latest.ended());
    }

    #[test]
    fn a_camera_that_never_opens_is_retried_until_stopped() {
        let stop = AtomicBool::new(false);
        let (latest, health) = (Latest::default(), CameraHealth::default());
        std::thread::scope(|scope| {
            scope.spawn(|| {
                run(
                    || Err(CameraError::device("no /dev/video0")),
                    &latest,
                    &health,
                    &stop,
                )
            });
            std::thread::sleep(Duration::from_millis(400));
            assert_eq!(health.state(), CameraState::Reopening);
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(health.state(), CameraState::Stopped);
        assert!(health.reopens.load(Ordering::Relaxed) >= 2);
    }
}
