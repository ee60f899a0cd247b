//! `facegate bench gallery`: 1:N search over synthetic templates.
//!
//! For each gallery size: random unit templates (one face per member), 50
//! probes that are noisy copies of random members (cosine about 0.6 to
//! their source, like two photos of one person), and reports the median
//! search time of the exact scan and of the sign-code shortlist, the bytes
//! each reads per search as GB/s, memory per template (resident set growth
//! while building), and rank-1 agreement of the shortlist with the exact
//! scan. The machine's read bandwidth is measured in the same run. Then the
//! cold start: a 100k-face store in a temporary directory is reopened and
//! the index rebuilt, as `facegate serve` does.

use super::svg::Canvas;
use crate::gallery::{Gallery, Scope};
use crate::score::Scale;
use crate::store::{Face, MemberFields, Store, StoredImage};
use facegate_models::TEMPLATE_DIMENSION;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// xorshift: fast, seeded, good enough for synthetic templates.
struct Random(u64);

impl Random {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        // Sum of two uniforms: a rough bell, all a template needs.
        let a = (self.0 >> 40) as f32 / (1u64 << 24) as f32;
        let b = ((self.0 >> 16) & 0xff_ffff) as f32 / (1u64 << 24) as f32;
        a + b - 1.0
    }

    fn unit(&mut self) -> Vec<f32> {
        let v: Vec<f32> = (0..TEMPLATE_DIMENSION).map(|_| self.next()).collect();
        normalise(v)
    }
}

fn normalise(v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Read bandwidth: all cores summing a 1 GiB buffer, best of three, GB/s.
fn read_bandwidth() -> f64 {
    let words = (1usize << 30) / 8;
    let buffer: Vec<u64> = (0..words as u64).collect();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let total: u64 = std::thread::scope(|scope| {
                buffer
                    .chunks(words.div_ceil(cores))
                    .map(|chunk| {
                        scope.spawn(move || chunk.iter().fold(0u64, |a, b| a.wrapping_add(*b)))
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .fold(0, u64::wrapping_add)
            });
            std::hint::black_box(total);
            (words * 8) as f64 / started.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

fn median_ms(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Log-log plot of the median search time against the gallery size.
fn plot(rows: &[(usize, f64, f64)]) -> String {
    let mut canvas = Canvas::new(560.0, 380.0, 55.0);
    // 1e3..1e7 templates across, 100 ms..0.01 ms down.
    let x = |c: &Canvas, n: f64| c.x((n.log10() - 3.0) / 4.0);
    let y = |c: &Canvas, ms: f64| c.y((2.0 - ms.max(0.01).log10()) / 4.0);
    let (bottom, left, right) = (
        canvas.height() - canvas.margin(),
        canvas.margin(),
        canvas.width() - canvas.margin(),
    );
    for exponent in 3..=7 {
        let at = x(&canvas, 10f64.powi(exponent));
        canvas.text(
            at,
            bottom + 16.0,
            "middle",
            "black",
            &format!("1e{exponent}"),
        );
    }
    for (ms, label) in [
        (100.0, "100 ms"),
        (10.0, "10 ms"),
        (1.0, "1 ms"),
        (0.1, "0.1 ms"),
        (0.01, "0.01 ms"),
    ] {
        let at = y(&canvas, ms) + 4.0;
        canvas.text(left - 4.0, at, "end", "black", label);
    }
    let exact: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (x(&canvas, r.0 as f64), y(&canvas, r.1)))
        .collect();
    let short: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (x(&canvas, r.0 as f64), y(&canvas, r.2)))
        .collect();
    canvas.polyline(&exact, "#c62828");
    canvas.polyline(&short, "#1565c0");
    let (middle, label_y) = (canvas.width() / 2.0, canvas.height() - 12.0);
    canvas.text(middle, label_y, "middle", "black", "enrolled templates");
    canvas.text(left, 30.0, "start", "#c62828", "exact scan, p50");
    canvas.text(
        right,
        30.0,
        "end",
        "#1565c0",
        "sign-code shortlist + exact re-rank, p50",
    );
    canvas.finish()
}

pub fn run(sizes: &[usize], cold_start: usize, plot_path: Option<&Path>) -> Result<String, String> {
    let mut plotted = Vec::new();
    let bandwidth = read_bandwidth();
    let mut report = format!(
        "read bandwidth (all cores, 1 GiB): {bandwidth:.1} GB/s\n\n\
         | templates | exact p50 ms | exact GB/s | shortlist p50 ms | shortlist GB/s | shortlist, one watchlist, p50 ms | bytes/template | rank-1 agreement |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    // Synthetic templates: the scale only sets a realistic threshold.
    let threshold = Scale::FP32.cosine_for_score(40);
    for &n in sizes {
        let mut random = Random(0x9e37_79b9_7f4a_7c15 ^ n as u64);
        let before = resident_bytes();
        let gallery = Gallery::default();
        let mut probes = Vec::new();
        let mut sources = Vec::new();
        for i in 0..n {
            let template = random.unit();
            if i % (n / 50).max(1) == 0 && probes.len() < 50 {
                let noise = random.unit();
                let probe: Vec<f32> = template
                    .iter()
                    .zip(&noise)
                    .map(|(t, e)| 0.6 * t + 0.8 * e)
                    .collect();
                probes.push(normalise(probe));
                sources.push(format!("m{i}"));
            }
            gallery.insert(&format!("f{i}"), &format!("m{i}"), &template);
        }
        let per_template = (resident_bytes().saturating_sub(before)) as f64 / n as f64;
        // Every member in one watchlist: the API's watchlist filter at work.
        let members: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        gallery.link("all", &members);
        drop(members);
        let watchlist = ["all".to_string()];
        let time = |exact: bool, scope: Scope| -> (f64, Vec<Option<String>>) {
            let mut times = Vec::new();
            let mut top = Vec::new();
            for probe in &probes {
                let started = Instant::now();
                let found = gallery.search_with(probe, scope, threshold, 1, exact);
                times.push(started.elapsed().as_secs_f64() * 1e3);
                top.push(found.into_iter().next().map(|c| c.member_id));
            }
            (median_ms(times), top)
        };
        let (exact_ms, exact_top) = time(true, Scope::Everyone);
        let (short_ms, short_top) = time(false, Scope::Everyone);
        let (scoped_ms, _) = time(false, Scope::Watchlists(&watchlist));
        plotted.push((n, exact_ms, short_ms));
        let agree = exact_top
            .iter()
            .zip(&short_top)
            .filter(|(a, b)| a == b)
            .count();
        let found = exact_top
            .iter()
            .zip(&sources)
            .filter(|(t, s)| t.as_deref() == Some(s.as_str()))
            .count();
        let exact_bytes = (n * TEMPLATE_DIMENSION * 4) as f64;
        let short_bytes = (n * 64 + 512 * TEMPLATE_DIMENSION * 4) as f64;
        let _ = writeln!(
            report,
            "| {n} | {exact_ms:.2} | {:.1} | {short_ms:.2} | {:.1} | {scoped_ms:.2} | {per_template:.0} | {agree}/{} (exact found the source {found}/{}) |",
            exact_bytes / exact_ms / 1e6,
            short_bytes / short_ms / 1e6,
            probes.len(),
            probes.len()
        );
    }
    if let Some(path) = plot_path {
        std::fs::write(path, plot(&plotted)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if cold_start > 0 {
        let _ = write!(report, "\n{}", cold_start_report(cold_start)?);
    }
    Ok(report)
}

/// Builds a store of `n` one-face members, then times reopening it and
/// rebuilding the index.
fn cold_start_report(n: usize) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("facegate-cold-start-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).map_err(|e| e.to_string())?;
    let mut random = Random(42);
    let image = StoredImage {
        id: "synthetic".into(),
        content_type: "image/jpeg".into(),
        bytes: Vec::new(),
    };
    let started = Instant::now();
    for i in 0..n {
        let id = format!("m{i}");
        let face = Face::with_template(&format!("f{i}"), &id, &image.id, random.unit());
        store
            .register(
                &id,
                MemberFields::default(),
                &[],
                vec![(face, image.clone())],
            )
            .map_err(|e| format!("{e:?}"))?;
    }
    let build = started.elapsed().as_secs_f64();
    drop(store);
    let started = Instant::now();
    let store = Store::open(&dir).map_err(|e| e.to_string())?;
    let model = facegate_models::template_model(
        facegate_models::Precision::Fp32,
        false,
        facegate_models::Alignment::Landmarks,
    );
    let gallery = Gallery::load(&store, &model).map_err(|e| e.to_string())?;
    let cold = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(dir.join(crate::store::DATABASE_FILE)).map_or(0, |m| m.len());
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(format!(
        "cold start: {} faces reopened from redb and indexed in {cold:.2} s \
         (database {:.0} MB, written in {build:.0} s, one durable commit per member)",
        gallery.len(),
        size as f64 / 1e6
    ))
}
