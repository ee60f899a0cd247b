//! The open-set split and rates shared by `facegate bench identify`, `bench
//! door` and the REST benchmark (`benches/lfw_api.rs`), so that all three
//! report on the same people.
//!
//! A stable hash of each person's folder name (FNV-1a) decides: bit 0 puts
//! the person in the tuning part or the report part, bit 1 on the gallery
//! side or the stranger side of that part.

use super::protocol::tar_at_far;

/// FNV-1a, 64-bit: a hash of the name that no Rust release will change.
pub fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Tuning,
    Report,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Gallery,
    Stranger,
}

/// The part a person (folder name) belongs to.
pub fn part_of(name: &str) -> Part {
    assign(name).0
}

/// The part and side of a person (folder name).
pub fn assign(name: &str) -> (Part, Side) {
    let hash = name_hash(name);
    let part = match hash & 1 {
        0 => Part::Tuning,
        _ => Part::Report,
    };
    let side = match hash >> 1 & 1 {
        0 => Side::Gallery,
        _ => Side::Stranger,
    };
    (part, side)
}

/// FPIR and FNIR when values at or above `threshold` are accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub fpir: f64,
    pub fnir: f64,
}

pub fn rates_at(scored: &[(f32, bool)], threshold: f32) -> Rates {
    let share = |mated: bool| {
        let all = scored.iter().filter(|s| s.1 == mated);
        let accepted = all.clone().filter(|s| s.0 >= threshold).count();
        accepted as f64 / all.count().max(1) as f64
    };
    Rates {
        fpir: share(false),
        fnir: 1.0 - share(true),
    }
}

/// The lowest threshold whose FPIR is at most `fpir`, and the FNIR there.
pub fn fnir_at_fpir(scored: &[(f32, bool)], fpir: f64) -> (f64, f32) {
    let (tpir, threshold) = tar_at_far(scored, fpir);
    (1.0 - tpir, threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hash_with_fnv_1a() {
        assert_eq!(name_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(name_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
