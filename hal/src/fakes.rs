//! Test doubles for the hardware traits. Built only for tests (the `fakes`
//! feature), never into the product.

use crate::{ExecutionProvider, InferenceBackend};

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

/// A door relay that records what it was told.
#[derive(Clone, Default)]
pub struct FakeRelay {
    pub commands: std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>,
}

impl crate::DoorRelay for FakeRelay {
    async fn open(&mut self) -> Result<(), crate::RelayError> {
        self.commands.lock().unwrap().push("open");
        Ok(())
    }

    async fn close(&mut self) -> Result<(), crate::RelayError> {
        self.commands.lock().unwrap().push("close");
        Ok(())
    }
}
