//! `facegate bench ...`: measurements run against the real engine.

pub mod attributes;
pub mod calibrate;
pub mod lfw;
mod progress;
