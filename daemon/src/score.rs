//! SmartFace's 0..100 match score, from cosine similarity.
//!
//! Calibrated so that a score threshold s accepts impostors at a rate of
//! about 10^(-s/10): 40 means FAR 1e-4. The knots are the cosines at which
//! the false-accept rate over all cross-identity pairs of the LFW
//! development split (`facegate bench calibrate`, docs/BENCHMARKS.md) fell
//! to each target; between knots the score is linear in the cosine, beyond
//! the last it continues along the last segment's slope. Each template
//! network precision has its own cosines, so its own scale; a template
//! model of the user's own carries its scale in its manifest.

use facegate_models::{Calibration, FaceEngine, Precision};

/// The score scale of one template model.
#[derive(Debug, Clone, Copy)]
pub struct Scale<'a> {
    /// (score, cosine), ascending.
    knots: &'a [(f32, f32)],
    /// (score, TAR), ascending.
    genuine: &'a [(f64, f64)],
}

/// (score, cosine) knots, ascending: the empirical cosine at FAR
/// 10^(-score/10) over 5 483 015 impostor pairs (3320 templates of 1241
/// people); score 0 is the lowest impostor cosine. FAR 1e-6 (score 60) is
/// the last target with at least five impostor pairs above it.
const FP32_KNOTS: [(f32, f32); 13] = [
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

/// (score, TAR) over the 26 525 genuine pairs of the same run: the share of
/// a person's other photos that reach each score (docs/BENCHMARKS.md).
const FP32_GENUINE: [(f64, f64); 21] = [
    (0.0, 1.0),
    (5.0, 0.9963),
    (10.0, 0.9951),
    (15.0, 0.9942),
    (20.0, 0.9927),
    (25.0, 0.9893),
    (30.0, 0.9834),
    (35.0, 0.9757),
    (40.0, 0.9657),
    (45.0, 0.9497),
    (50.0, 0.9320),
    (55.0, 0.9142),
    (60.0, 0.8714),
    (65.0, 0.8095),
    (70.0, 0.7217),
    (75.0, 0.6056),
    (80.0, 0.4704),
    (85.0, 0.3287),
    (90.0, 0.1993),
    (95.0, 0.1025),
    (100.0, 0.0412),
];

/// The same for int8 templates (`engine.precision = "int8"`), from
/// `facegate bench --config mix.toml calibrate` over the same 3320 photos
/// with fr_feature int8 (docs/BENCHMARKS.md): on the float32 scale its
/// impostors passed threshold 40 at FAR 1.03e-4.
const INT8_KNOTS: [(f32, f32); 13] = [
    (0.0, -0.4483),
    (5.0, 0.0539),
    (10.0, 0.1338),
    (15.0, 0.1947),
    (20.0, 0.2471),
    (25.0, 0.2941),
    (30.0, 0.3373),
    (35.0, 0.3780),
    (40.0, 0.4177),
    (45.0, 0.4530),
    (50.0, 0.4845),
    (55.0, 0.5088),
    (60.0, 0.5462),
];
/// TAR of the int8 templates at each score of this scale, interpolated
/// in cosine between the TARs the same run measured at the float32
/// scale's cosines (flat beyond its last, score 100).
const INT8_GENUINE: [(f64, f64); 21] = [
    (0.0, 1.0000),
    (5.0, 0.9971),
    (10.0, 0.9953),
    (15.0, 0.9943),
    (20.0, 0.9925),
    (25.0, 0.9890),
    (30.0, 0.9827),
    (35.0, 0.9747),
    (40.0, 0.9627),
    (45.0, 0.9450),
    (50.0, 0.9226),
    (55.0, 0.8957),
    (60.0, 0.8398),
    (65.0, 0.7599),
    (70.0, 0.6487),
    (75.0, 0.5096),
    (80.0, 0.3585),
    (85.0, 0.2178),
    (90.0, 0.1100),
    (95.0, 0.0435),
    (100.0, 0.0318),
];

impl<'a> Scale<'a> {
    pub const FP32: Scale<'static> = Scale {
        knots: &FP32_KNOTS,
        genuine: &FP32_GENUINE,
    };
    pub const INT8: Scale<'static> = Scale {
        knots: &INT8_KNOTS,
        genuine: &INT8_GENUINE,
    };

    /// The scale of templates made in `precision`.
    pub fn of(precision: Precision) -> Scale<'static> {
        match precision {
            Precision::Fp32 => Scale::FP32,
            Precision::Int8 => Scale::INT8,
        }
    }

    /// The scale of the engine's templates: its own model's calibration,
    /// else faceplugin's in the template network's precision.
    pub fn of_engine(engine: &'a FaceEngine) -> Scale<'a> {
        match engine.template_calibration() {
            Some(calibration) => Scale::of_calibration(calibration),
            None => Scale::of(engine.template_precision()),
        }
    }

    /// The scale a template model's manifest calibrates.
    pub fn of_calibration(calibration: &'a Calibration) -> Scale<'a> {
        Scale {
            knots: &calibration.cosines,
            genuine: &calibration.genuine,
        }
    }

    /// The expected share of members refused at `threshold`, from one
    /// photo against another (the calibration's genuine pairs).
    pub fn expected_refusal_rate(&self, threshold: i32) -> f64 {
        let score = f64::from(threshold.clamp(0, 100));
        let segment = self
            .genuine
            .windows(2)
            .find(|w| score <= w[1].0)
            .unwrap_or(&self.genuine[self.genuine.len() - 2..]);
        let [(s0, t0), (s1, t1)] = [segment[0], segment[1]];
        1.0 - (t0 + (score - s0) * (t1 - t0) / (s1 - s0))
    }

    /// The score of a cosine similarity on the continuous 0..=100 scale,
    /// as Verify's `confidence` (a double) reports it.
    pub fn confidence_of(&self, cosine: f32) -> f64 {
        let segment = self
            .knots
            .windows(2)
            .find(|w| cosine < w[1].1)
            .unwrap_or(&self.knots[self.knots.len() - 2..]);
        let [(s0, c0), (s1, c1)] = [segment[0], segment[1]];
        f64::from(s0 + (cosine - c0) * (s1 - s0) / (c1 - c0)).clamp(0.0, 100.0)
    }

    /// The integer score of a cosine similarity, 0..=100, as Search
    /// reports it.
    pub fn score_of(&self, cosine: f32) -> i32 {
        self.confidence_of(cosine).floor() as i32
    }

    /// The lowest cosine that scores at least `score`.
    pub fn cosine_for_score(&self, score: i32) -> f32 {
        let score = score as f32;
        let segment = self
            .knots
            .windows(2)
            .find(|w| score < w[1].0)
            .unwrap_or(&self.knots[self.knots.len() - 2..]);
        let [(s0, c0), (s1, c1)] = [segment[0], segment[1]];
        c0 + (score - s0) * (c1 - c0) / (s1 - s0)
    }
}

/// The per-comparison false-accept rate of a score threshold, as the scale
/// is calibrated: 10^(-score/10).
pub fn false_accept_rate(score: i32) -> f64 {
    10f64.powf(-f64::from(score) / 10.0)
}

/// The lowest score threshold (0..=100) that keeps the chance of a
/// stranger matching any of `faces` enrolled faces at or below
/// `stranger_rate`: each face is one more chance, so the per-comparison
/// rate must be `stranger_rate / faces`.
pub fn threshold_for_stranger_rate(stranger_rate: f64, faces: usize) -> i32 {
    let per_comparison = stranger_rate / faces.max(1) as f64;
    (-10.0 * per_comparison.log10()).ceil().clamp(0.0, 100.0) as i32
}

/// The expected share of strangers let in at `threshold` with `faces`
/// enrolled faces.
pub fn expected_stranger_rate(threshold: i32, faces: usize) -> f64 {
    1.0 - (1.0 - false_accept_rate(threshold)).powf(faces as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_rise_with_cosine_within_0_to_100() {
        for scale in [Scale::FP32, Scale::INT8] {
            let mut last = 0;
            for i in -100..=100 {
                let score = scale.score_of(i as f32 / 100.0);
                assert!((0..=100).contains(&score) && score >= last);
                last = score;
            }
            assert_eq!(scale.score_of(-1.0), 0);
            assert_eq!(scale.score_of(1.0), 100);
        }
    }

    #[test]
    fn the_door_threshold_rises_with_the_gallery_to_hold_the_stranger_rate() {
        // One face: 1e-3 per comparison is score 30.
        assert_eq!(threshold_for_stranger_rate(1e-3, 1), 30);
        assert_eq!(threshold_for_stranger_rate(1e-3, 1000), 60);
        assert_eq!(threshold_for_stranger_rate(1e-3, 10_000), 70);
        assert_eq!(threshold_for_stranger_rate(1e-3, 0), 30);
        for faces in [1, 10, 100, 1000, 10_000] {
            let threshold = threshold_for_stranger_rate(1e-3, faces);
            assert!(expected_stranger_rate(threshold, faces) <= 1e-3 * 1.0001);
            assert!(expected_stranger_rate(threshold - 1, faces) > 1e-3);
        }
    }

    #[test]
    fn the_refusal_rate_follows_the_genuine_pairs() {
        let fp32 = Scale::FP32;
        assert!((fp32.expected_refusal_rate(40) - (1.0 - 0.9657)).abs() < 1e-9);
        assert!((fp32.expected_refusal_rate(42) - (1.0 - 0.9593)).abs() < 1e-9);
        for scale in [fp32, Scale::INT8] {
            assert!(scale.expected_refusal_rate(0) == 0.0);
            let rates: Vec<f64> = (0..=100).map(|t| scale.expected_refusal_rate(t)).collect();
            assert!(rates.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn a_threshold_accepts_exactly_the_cosines_from_its_inverse() {
        for scale in [Scale::FP32, Scale::INT8] {
            for threshold in [0, 10, 35, 40, 41, 64, 80, 100] {
                let cosine = scale.cosine_for_score(threshold);
                assert!(scale.score_of(cosine + 1e-4) >= threshold, "{threshold}");
                assert!(
                    scale.score_of(cosine - 1e-3) < threshold.max(1),
                    "{threshold}"
                );
            }
        }
    }

    #[test]
    fn the_int8_scale_holds_its_own_cosines() {
        // Its impostor cosines differ from fp32's, so the same cosine
        // scores differently; threshold 40 is each scale's FAR 1e-4.
        assert_ne!(
            Scale::INT8.cosine_for_score(40),
            Scale::FP32.cosine_for_score(40)
        );
    }
}
