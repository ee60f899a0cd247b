//! SmartFace's 0..100 match score, from cosine similarity.
//!
//! Calibrated so that a score threshold s accepts impostors at a rate of
//! about 10^(-s/10): 40 means FAR 1e-4. The knots are the cosines at which
//! the false-accept rate over all cross-identity pairs of the LFW
//! development split (`facegate bench calibrate`, docs/BENCHMARKS.md) fell
//! to each target; between knots the score is linear in the cosine, beyond
//! the last it continues along the last segment's slope.

/// (score, cosine) knots, ascending: the empirical cosine at FAR
/// 10^(-score/10) over 5 483 015 impostor pairs (3320 templates of 1241
/// people); score 0 is the lowest impostor cosine. FAR 1e-6 (score 60) is
/// the last target with at least five impostor pairs above it.
const KNOTS: [(f32, f32); 13] = [
    (0.0, -0.4545),
    (5.0, 0.0528),
    (10.0, 0.1328),
    (15.0, 0.1938),
    (20.0, 0.2465),
    (25.0, 0.2938),
    (30.0, 0.3375),
    (35.0, 0.3784),
    (40.0, 0.4163),
    (45.0, 0.4516),
    (50.0, 0.4809),
    (55.0, 0.5008),
    (60.0, 0.5358),
];

/// The score of a cosine similarity on the continuous 0..=100 scale, as
/// Verify's `confidence` (a double) reports it.
pub fn confidence_of(cosine: f32) -> f64 {
    let segment = KNOTS
        .windows(2)
        .find(|w| cosine < w[1].1)
        .unwrap_or(&KNOTS[KNOTS.len() - 2..]);
    let [(s0, c0), (s1, c1)] = [segment[0], segment[1]];
    f64::from(s0 + (cosine - c0) * (s1 - s0) / (c1 - c0)).clamp(0.0, 100.0)
}

/// The integer score of a cosine similarity, 0..=100, as Search reports it.
pub fn score_of(cosine: f32) -> i32 {
    confidence_of(cosine).floor() as i32
}

/// The lowest cosine that scores at least `score`.
pub fn cosine_for_score(score: i32) -> f32 {
    let score = score as f32;
    let segment = KNOTS
        .windows(2)
        .find(|w| score < w[1].0)
        .unwrap_or(&KNOTS[KNOTS.len() - 2..]);
    let [(s0, c0), (s1, c1)] = [segment[0], segment[1]];
    c0 + (score - s0) * (c1 - c0) / (s1 - s0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_rise_with_cosine_within_0_to_100() {
        let mut last = 0;
        for i in -100..=100 {
            let score = score_of(i as f32 / 100.0);
            assert!((0..=100).contains(&score) && score >= last);
            last = score;
        }
        assert_eq!(score_of(-1.0), 0);
        assert_eq!(score_of(1.0), 100);
    }

    #[test]
    fn a_threshold_accepts_exactly_the_cosines_from_its_inverse() {
        for threshold in [0, 10, 35, 40, 41, 64, 80, 100] {
            let cosine = cosine_for_score(threshold);
            assert!(score_of(cosine + 1e-4) >= threshold, "{threshold}");
            assert!(score_of(cosine - 1e-3) < threshold.max(1), "{threshold}");
        }
    }
}
