//! `facegate bench ...`: measurements run against the real engine.

pub mod lfw;
mod progress;
