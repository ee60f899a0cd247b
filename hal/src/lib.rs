//! Hardware seams of Facegate, modelled on embedded-hal: small traits for
//! what touches hardware, so drivers are generic over them and each
//! platform implements them (see README.md).

mod inference;

pub use inference::{
    Accelerator, ExecutionProvider, InferenceBackend, NoGpu, ResourceId, UnknownResourceId,
};

#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
