//! The health of what the edge loop drives, the camera and the relay:
//! written by the loop, read by the status endpoint.

use facegate_hal::{CameraError, RelayError};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum CameraState {
    /// The edge loop is not configured.
    #[default]
    Off,
    Opening,
    Streaming,
    /// The camera failed; it is opened again after a backoff.
    Reopening,
    /// A replay played out.
    Ended,
    Stopped,
}

/// The camera's state and frame counters, for the status endpoint.
#[derive(Default)]
pub struct CameraHealth {
    state: Mutex<CameraState>,
    last_error: Mutex<Option<String>>,
    pub frames_in: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub frames_bad: AtomicU64,
    pub reopens: AtomicU64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CameraHealthDto {
    pub(crate) state: CameraState,
    pub(crate) last_error: Option<String>,
    /// Times the camera was opened again after failing.
    pub(crate) reopens: u64,
}

impl CameraHealth {
    pub fn state(&self) -> CameraState {
        *self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set(&self, state: CameraState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }

    pub(crate) fn failed(&self, error: &CameraError) {
        log::error!("camera: {error}; opening it again");
        self.set(CameraState::Reopening);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
    }

    pub fn snapshot(&self) -> CameraHealthDto {
        CameraHealthDto {
            state: self.state(),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            reopens: self.reopens.load(Ordering::Relaxed),
        }
    }
}

/// The relay's state, for the status endpoint.
#[derive(Default)]
pub struct RelayHealth {
    pub(crate) connected: AtomicBool,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayHealthDto {
    pub(crate) connected: bool,
    /// Commands or connections that failed since start.
    pub(crate) failures: u64,
    pub(crate) last_error: Option<String>,
}

impl RelayHealth {
    pub fn snapshot(&self) -> RelayHealthDto {
        RelayHealthDto {
            connected: self.connected.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    pub(crate) fn failed(&self, error: &RelayError) {
        log::error!("relay: {error}");
        self.connected.store(false, Ordering::Relaxed);
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
    }
}
