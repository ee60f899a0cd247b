//! The numeric precision each network runs in: the pinned float32 file, or
//! its int8 (QDQ) variant made by `scripts/quantize.py`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    Int8,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Int8 => "int8",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Each network's precision by manifest name; a network not named runs in
/// `default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precisions {
    pub default: Precision,
    pub networks: BTreeMap<String, Precision>,
}

impl Precisions {
    /// Every network in one precision.
    pub fn all(precision: Precision) -> Precisions {
        Precisions {
            default: precision,
            networks: BTreeMap::new(),
        }
    }

    pub fn of(&self, network: &str) -> Precision {
        self.networks.get(network).copied().unwrap_or(self.default)
    }
}

impl Default for Precisions {
    fn default() -> Precisions {
        Precisions::all(Precision::Fp32)
    }
}
