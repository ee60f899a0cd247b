//! Median latency of each face-engine stage on the face_recognition test
//! photos, on one thread and on all cores, with every network in float32
//! and then in int8.
//!
//!     cargo bench -p facegate-models --bench stages [-- --runs N]
//!
//! Reads the artifacts from `$FACEGATE_ARTIFACTS` or `artifacts/`.

use facegate_hal::ExecutionProvider;
use facegate_models::{
    decode_image, Alignment, AttributeSet, DecodeLimits, DetectorConfig, EngineConfig, FaceEngine,
    Precision, Precisions, RgbImage,
};
use std::path::PathBuf;
use std::time::Instant;

const PHOTOS: [&str; 4] = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];

/// The median time of `f` in milliseconds over `runs` rounds of all photos.
fn median_ms<T>(runs: usize, photos: usize, mut f: impl FnMut(usize) -> T) -> f64 {
    for i in 0..photos {
        std::hint::black_box(f(i)); // warm-up
    }
    let mut times: Vec<f64> = (0..runs * photos)
        .map(|i| {
            let started = Instant::now();
            std::hint::black_box(f(i % photos));
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(10);
    let artifacts = std::env::var_os("FACEGATE_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../artifacts"));
    let files: Vec<Vec<u8>> = PHOTOS
        .iter()
        .map(|name| std::fs::read(artifacts.join("testdata").join(name)).expect("test photos"))
        .collect();
    let images: Vec<RgbImage> = files
        .iter()
        .map(|bytes| {
            decode_image(bytes, &DecodeLimits::UNLIMITED)
                .unwrap()
                .pixels
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let detector = DetectorConfig::default();
    let accurate = DetectorConfig {
        accurate: true,
        ..detector
    };

    println!(
        "median ms per photo over {runs} rounds of {} photos\n",
        PHOTOS.len()
    );
    println!(
        "| stage | fp32, 1 thread | fp32, {cores} threads | int8, 1 thread | int8, {cores} threads |"
    );
    println!("|---|---|---|---|---|");
    let mut rows: Vec<(&str, Vec<f64>)> = Vec::new();
    let runs_of = |precision| [(precision, 1), (precision, cores)];
    for (precision, threads) in [Precision::Fp32, Precision::Int8]
        .into_iter()
        .flat_map(runs_of)
    {
        let engine = FaceEngine::load(&EngineConfig {
            model_dir: artifacts.join("models"),
            runtime_library: artifacts.join("onnxruntime/libonnxruntime.so"),
            threads,
            execution_providers: vec![ExecutionProvider::Cpu],
            provider_options: Default::default(),
            flip_templates: false,
            alignment: Alignment::Mtcnn,
            precision: Precisions::all(precision),
            record_inputs: None,
            template_model: None,
        })
        .expect("engine loads (run scripts/setup.sh)");
        let faces: Vec<_> = images
            .iter()
            .map(|image| engine.locate(image, &detector).unwrap().remove(0))
            .collect();
        let aligned: Vec<_> = images
            .iter()
            .zip(&faces)
            .map(|(image, face)| engine.align(image, face))
            .collect();
        let n = PHOTOS.len();
        let figures = [
            (
                "decode (JPEG, 0.9-3.3 Mpx)",
                median_ms(runs, n, |i| {
                    decode_image(&files[i], &DecodeLimits::UNLIMITED).unwrap()
                }),
            ),
            (
                "detect",
                median_ms(runs, n, |i| engine.detect(&images[i], &detector).unwrap()),
            ),
            (
                "detect, accurate_*",
                median_ms(runs, n, |i| engine.detect(&images[i], &accurate).unwrap()),
            ),
            (
                "landmarks",
                median_ms(runs, n, |i| {
                    engine.landmarks(&images[i], faces[i].detection).unwrap()
                }),
            ),
            (
                "align",
                median_ms(runs, n, |i| engine.align(&images[i], &faces[i])),
            ),
            (
                "template",
                median_ms(runs, n, |i| engine.template(&aligned[i]).unwrap()),
            ),
            (
                "liveness",
                median_ms(runs, n, |i| engine.liveness(&images[i], &faces[i]).unwrap()),
            ),
            (
                "attributes (age, gender, pose, sharpness, brightness)",
                median_ms(runs, n, |i| {
                    engine
                        .attributes(&images[i], &faces[i], &aligned[i], AttributeSet::ALL)
                        .unwrap()
                }),
            ),
        ];
        for (i, (name, ms)) in figures.into_iter().enumerate() {
            match rows.get_mut(i) {
                Some(row) => row.1.push(ms),
                None => rows.push((name, vec![ms])),
            }
        }
    }
    for (name, ms) in rows {
        let cells: Vec<String> = ms.iter().map(|ms| format!("{ms:.2}")).collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}
