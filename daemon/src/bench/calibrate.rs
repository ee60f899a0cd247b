//! `facegate bench calibrate`: measures the false-accept rate of every
//! cosine threshold on all cross-identity pairs of an LFW-style folder, and
//! the true-accept rate on all same-identity pairs, to calibrate the
//! SmartFace score scale (score = 10 x -log10 FAR) and to check it.

use super::open_set::{part_of, Part};
use super::progress::Progress;
use super::svg::Canvas;
use super::{largest_template, people, read_image};
use crate::score::Scale;
use facegate_models::{with_calibration, Calibration, FaceEngine, Template};
use std::fmt::Write as _;
use std::path::Path;

/// The fewest impostor pairs above a knot's cosine for its FAR to count as
/// measured: beyond it the scale continues along its last segment.
const MIN_IMPOSTORS_PER_KNOT: usize = 5;

/// The scale a template model's manifest carries before it is calibrated:
/// only so that `calibrate --into` can run it once to measure its own.
pub fn provisional() -> Calibration {
    Calibration {
        cosines: vec![(0.0, -1.0), (100.0, 1.0)],
        genuine: vec![(0.0, 1.0), (100.0, 0.0)],
        magnitudes: [0.0, f32::MAX],
    }
}

/// A template model's calibration from its impostor and genuine cosines
/// (sorted descending) and its templates' magnitudes: a knot every 5
/// points at the cosine where the impostors fall to FAR 10^(-score/10)
/// while at least `MIN_IMPOSTORS_PER_KNOT` pairs lie above it, the genuine
/// pairs' TAR at every 5 points of that scale, and quality 0 and 100 at the
/// 1st and 99th percentile magnitude.
fn calibration(impostor: &[f32], genuine: &[f32], templates: &[(usize, Template)]) -> Calibration {
    let mut cosines: Vec<(f32, f32)> = Vec::new();
    for score in (0..=100).step_by(5) {
        let target = 10f64.powf(-f64::from(score) / 10.0);
        let above = (target * impostor.len() as f64).floor() as usize;
        if above < MIN_IMPOSTORS_PER_KNOT {
            break;
        }
        let cosine = impostor[above - 1];
        if cosines.last().is_none_or(|(_, last)| cosine > *last) {
            cosines.push((score as f32, cosine));
        }
    }
    let mut magnitudes: Vec<f32> = templates.iter().map(|(_, t)| t.magnitude).collect();
    magnitudes.sort_by(f32::total_cmp);
    let percentile = |p: f64| magnitudes[((magnitudes.len() - 1) as f64 * p).round() as usize];
    let mut calibration = Calibration {
        cosines,
        genuine: Vec::new(),
        magnitudes: [percentile(0.01), percentile(0.99)],
    };
    let scale = Scale::of_calibration(&calibration);
    let tar: Vec<(f64, f64)> = (0..=100)
        .step_by(5)
        .map(|score| {
            let at = scale.cosine_for_score(score);
            (f64::from(score), rate_at(genuine, at))
        })
        .collect();
    calibration.genuine = tar;
    calibration
}

/// Every image's template, with the index of its person; only the people
/// of `part` when one is given.
fn templates(
    engine: &FaceEngine,
    images: &Path,
    part: Option<Part>,
    limits: facegate_models::DecodeLimits,
) -> Result<Vec<(usize, Template)>, String> {
    let in_part = |photos: &Vec<std::path::PathBuf>| {
        let name = photos
            .first()
            .and_then(|p| p.parent()?.file_name()?.to_str());
        part.is_none_or(|part| name.is_some_and(|name| part_of(name) == part))
    };
    let people: Vec<_> = people(images)?.into_iter().filter(in_part).collect();
    let progress = Progress::new("templates", people.iter().map(Vec::len).sum());
    let mut out = Vec::new();
    let mut done = 0;
    for (person, photos) in people.iter().enumerate() {
        for photo in photos {
            if let Some(template) = largest_template(engine, &read_image(photo, limits)?)? {
                out.push((person, template));
            }
            done += 1;
            progress.set(done);
        }
    }
    Ok(out)
}

/// Sorted (descending) impostor and genuine cosines over all pairs.
fn all_pairs(templates: &[(usize, Template)]) -> (Vec<f32>, Vec<f32>) {
    let (mut impostor, mut genuine) = (Vec::new(), Vec::new());
    for (i, (person_a, a)) in templates.iter().enumerate() {
        for (person_b, b) in &templates[i + 1..] {
            let cosine = a.similarity(b);
            match person_a == person_b {
                true => genuine.push(cosine),
                false => impostor.push(cosine),
            }
        }
    }
    impostor.sort_by(|a, b| b.total_cmp(a));
    genuine.sort_by(|a, b| b.total_cmp(a));
    (impostor, genuine)
}

/// The share of `sorted_descending` at or above `threshold`.
fn rate_at(sorted_descending: &[f32], threshold: f32) -> f64 {
    let above = sorted_descending.partition_point(|s| *s >= threshold);
    above as f64 / sorted_descending.len().max(1) as f64
}

/// An SVG plot of FAR (log scale) and TAR against the score threshold.
fn plot(rows: &[(i32, f64, f64)]) -> String {
    let mut canvas = Canvas::new(640.0, 400.0, 50.0);
    let x = |c: &Canvas, score: f64| c.x(score / 100.0);
    // FAR from 1 down to 1e-8 over the plot height.
    let y_far = |c: &Canvas, far: f64| c.y(-(far.max(1e-8)).log10() / 8.0);
    let y_tar = |c: &Canvas, tar: f64| c.y(1.0 - tar);
    let (bottom, left, right) = (
        canvas.height() - canvas.margin(),
        canvas.margin(),
        canvas.width() - canvas.margin(),
    );
    for score in (0..=100).step_by(10) {
        let at = x(&canvas, score as f64);
        canvas.text(at, bottom + 16.0, "middle", "black", &score.to_string());
    }
    for exponent in 0..=8 {
        let at = y_far(&canvas, 10f64.powi(-exponent)) + 4.0;
        canvas.text(left - 4.0, at, "end", "black", &format!("1e-{exponent}"));
    }
    for tar in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let at = y_tar(&canvas, tar) + 4.0;
        canvas.text(
            right + 4.0,
            at,
            "start",
            "#1565c0",
            &format!("{:.0} %", tar * 100.0),
        );
    }
    let far: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.1 > 0.0)
        .map(|r| (x(&canvas, r.0 as f64), y_far(&canvas, r.1)))
        .collect();
    let tar: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (x(&canvas, r.0 as f64), y_tar(&canvas, r.2)))
        .collect();
    let target = [
        (x(&canvas, 0.0), y_far(&canvas, 1.0)),
        (x(&canvas, 80.0), y_far(&canvas, 1e-8)),
    ];
    canvas.polyline(&far, "#c62828");
    canvas.polyline(&tar, "#1565c0");
    canvas.polyline(&target, "#bbb");
    let (middle, label_y) = (canvas.width() / 2.0, canvas.height() - 12.0);
    canvas.text(middle, label_y, "middle", "black", "score threshold");
    canvas.text(
        left,
        30.0,
        "start",
        "#c62828",
        "measured FAR (log scale, left axis)",
    );
    canvas.text(right, 30.0, "end", "#1565c0", "TAR (right axis)");
    let (tx, ty) = (x(&canvas, 42.0), y_far(&canvas, 1e-4) - 6.0);
    canvas.text(tx, ty, "start", "#999", "target: FAR = 10^(-score/10)");
    canvas.finish()
}

pub fn run(
    engine: &FaceEngine,
    images: &Path,
    limits: facegate_models::DecodeLimits,
    part: Option<Part>,
    plot_path: Option<&Path>,
    manifest: Option<&Path>,
) -> Result<String, String> {
    let scale = Scale::of_engine(engine);
    let templates = templates(engine, images, part, limits)?;
    if templates.len() < 2 {
        return Err(format!("{}: fewer than two faces found", images.display()));
    }
    let (impostor, genuine) = all_pairs(&templates);
    if let Some(path) = manifest {
        let measured = calibration(&impostor, &genuine, &templates);
        if measured.cosines.len() < 2 {
            return Err(format!(
                "{} impostor pairs are too few to calibrate: more people are needed",
                impostor.len()
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::write(path, with_calibration(&text, &measured))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(format!(
            "{} templates: {} impostor pairs, {} genuine pairs; wrote {}:\n\n{}",
            templates.len(),
            impostor.len(),
            genuine.len(),
            path.display(),
            measured.to_toml()
        ));
    }
    let mut report = format!(
        "{} templates: {} impostor pairs, {} genuine pairs\n\n\
         | score | target FAR | cosine now | measured FAR | TAR | cosine at target FAR | TAR there |\n\
         |---|---|---|---|---|---|---|\n",
        templates.len(),
        impostor.len(),
        genuine.len()
    );
    let mut rows = Vec::new();
    for score in (0..=100).step_by(5) {
        let target = 10f64.powf(-f64::from(score) / 10.0);
        let cosine = scale.cosine_for_score(score);
        let (far, tar) = (rate_at(&impostor, cosine), rate_at(&genuine, cosine));
        // The empirical cosine whose FAR is the target, where measurable.
        let index = (target * impostor.len() as f64).floor() as usize;
        let empirical = match index {
            0 => "unmeasurable | -".to_string(),
            i => format!(
                "{:.4} | {:.4}",
                impostor[i - 1],
                rate_at(&genuine, impostor[i - 1].next_up())
            ),
        };
        let _ = writeln!(
            report,
            "| {score} | {target:.0e} | {cosine:.4} | {far:.2e} | {:.4} | {empirical} |",
            tar
        );
        rows.push((score, far, tar));
    }
    let at_default = (
        rate_at(&impostor, scale.cosine_for_score(40)),
        rate_at(&genuine, scale.cosine_for_score(40)),
    );
    let _ = write!(
        report,
        "\nthreshold 40: FAR {:.2e}, TAR {:.4}; highest impostor cosine {:.4} scores {}",
        at_default.0,
        at_default.1,
        impostor.first().copied().unwrap_or(f32::NAN),
        scale.score_of(impostor.first().copied().unwrap_or(-1.0))
    );
    if let Some(path) = plot_path {
        std::fs::write(path, plot(&rows)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(magnitude: f32) -> (usize, Template) {
        let vector = vec![1.0];
        let quality = 0;
        (
            0,
            Template {
                vector,
                magnitude,
                quality,
            },
        )
    }

    #[test]
    fn a_measured_scale_puts_each_knot_at_its_false_accept_rate_and_stops_where_pairs_run_out() {
        // 10 000 impostor cosines evenly from 0.9999 down to 0: FAR 1e-2
        // (score 20) is the 100th highest.
        let impostor: Vec<f32> = (0..10_000)
            .map(|i| 1.0 - (i + 1) as f32 / 10_000.0)
            .collect();
        let genuine: Vec<f32> = (0..100).map(|i| 1.0 - i as f32 / 100.0).collect();
        let templates: Vec<_> = (1..=100).map(|m| template(m as f32)).collect();
        let measured = calibration(&impostor, &genuine, &templates);
        let knot = |score: f32| measured.cosines.iter().find(|k| k.0 == score).unwrap().1;
        assert!((knot(20.0) - impostor[99]).abs() < 1e-6);
        assert_eq!(knot(0.0), impostor[9_999]);
        // FAR 10^-3.5 leaves three pairs above it: too few, so score 30
        // (ten pairs) is the last knot.
        assert_eq!(measured.cosines.last().unwrap().0, 30.0);
        let scale = Scale::of_calibration(&measured);
        assert!((scale.cosine_for_score(20) - impostor[99]).abs() < 1e-6);
        let tars: Vec<f64> = measured.genuine.iter().map(|g| g.1).collect();
        assert_eq!(tars.len(), 21);
        assert!(tars.windows(2).all(|w| w[0] >= w[1]), "{tars:?}");
        assert_eq!(measured.magnitudes, [2.0, 99.0]);
    }
}
