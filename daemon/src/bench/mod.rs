//! `facegate bench ...`: measurements run against the real engine.

pub mod attributes;
pub mod lfw;
mod progress;
