//! Test doubles for the hardware traits. Built only for tests (the `fakes`
//! feature), never into the product.

use crate::{Camera, CameraError, ExecutionProvider, Frame, InferenceBackend};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// An inference backend with a fixed set of providers.
pub struct FakeBackend {
    providers: Vec<ExecutionProvider>,
}

impl FakeBackend {
    pub fn new(providers: &[ExecutionProvider]) -> FakeBackend {
        FakeBackend {
            providers: providers.to_vec(),
        }
    }
}

impl InferenceBackend for FakeBackend {
    fn available(&self) -> Vec<ExecutionProvider> {
        self.providers.clone()
    }
}

/// A door relay that records what it was told, and fails while `broken`
/// is set (as a relay board unplugged mid-run would).
#[derive(Clone, Default)]
pub struct FakeRelay {
    pub commands: Arc<Mutex<Vec<&'static str>>>,
    pub broken: Arc<AtomicBool>,
}

impl FakeRelay {
    fn command(&mut self, name: &'static str) -> Result<(), crate::RelayError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(crate::RelayError(format!("fake relay is broken ({name})")));
        }
        self.commands.lock().unwrap().push(name);
        Ok(())
    }
}

impl crate::DoorRelay for FakeRelay {
    async fn open(&mut self) -> Result<(), crate::RelayError> {
        self.command("open")
    }

    async fn close(&mut self) -> Result<(), crate::RelayError> {
        self.command("close")
    }
}

/// A camera that plays a script: frames, errors, and the end.
pub struct FakeCamera {
    script: std::collections::VecDeque<Result<Option<Frame>, CameraError>>,
}

impl FakeCamera {
    pub fn new(script: Vec<Result<Option<Frame>, CameraError>>) -> FakeCamera {
        FakeCamera {
            script: script.into(),
        }
    }
}

impl Camera for FakeCamera {
    /// The next scripted result; once the script is spent, the device is lost.
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        self.script
            .pop_front()
            .unwrap_or_else(|| Err(CameraError::device("fake camera unplugged")))
    }
}

/// Output lines that record each change with its time.
#[derive(Clone, Default)]
pub struct FakeOutputLines {
    pub changes: Arc<Mutex<Vec<(usize, bool, std::time::Instant)>>>,
}

impl crate::OutputLines for FakeOutputLines {
    fn set(&mut self, line: usize, active: bool) -> Result<(), crate::GpioError> {
        let now = std::time::Instant::now();
        self.changes.lock().unwrap().push((line, active, now));
        Ok(())
    }
}

/// Input lines driven by the test: `levels` at the start, then each change
/// sent on the channel.
pub struct FakeInputLines {
    pub levels: Vec<bool>,
    pub changes: std::sync::mpsc::Receiver<crate::LineChange>,
}

impl crate::InputLines for FakeInputLines {
    fn levels(&mut self) -> Result<Vec<bool>, crate::GpioError> {
        Ok(self.levels.clone())
    }

    fn next_change(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<Option<crate::LineChange>, crate::GpioError> {
        match self.changes.recv_timeout(timeout) {
            Ok(change) => {
                self.levels[change.line] = change.active;
                Ok(Some(change))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err(crate::GpioError("the test's lines are gone".into()))
            }
        }
    }
}
