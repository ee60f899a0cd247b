//! Verify and Search latency through REST, as ratios to one float32
//! template inference on one thread measured in the same run, with the
//! daemon's own per-request breakdown (its `facegate::timing` debug log):
//!
//!     cargo bench -p facegate --bench biometric_api [-- --requests N]
//!
//! Photos: the face_recognition test photos as they are (0.75 and 3.3
//! megapixels), obama2/obama3 scaled to 250x250 pixels' area (LFW's
//! size), and each framed in a 2.8-megapixel photo (at its own size, or
//! scaled to the frame's height, with grey around it). Rows from 1 and from 8 concurrent clients,
//! with `engine.precision` "fp32" and then "int8". The gallery holds two
//! registered people: below 100k faces, search time is the engine's (the
//! index scan is under 1 ms, see `facegate bench gallery`).

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "support/load.rs"]
mod load;

use base64::Engine as _;
use common::{artifacts, photo_base64, Daemon};
use facegate_hal::ExecutionProvider;
use facegate_models::image::imageops::{self, FilterType};
use facegate_models::image::{ImageFormat, Rgb};
use facegate_models::{
    decode_image, Alignment, DecodeLimits, DetectorConfig, EngineConfig, FaceEngine, Precision,
    Precisions, RgbImage,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::time::Instant;

/// The median of one float32 template inference on one thread, in ms.
fn template_unit_ms() -> f64 {
    let artifacts = artifacts();
    let engine = FaceEngine::load(&EngineConfig {
        model_dir: artifacts.join("models"),
        runtime_library: artifacts.join("onnxruntime/libonnxruntime.so"),
        threads: 1,
        execution_providers: vec![ExecutionProvider::Cpu],
        provider_options: Default::default(),
        flip_templates: false,
        alignment: Alignment::Mtcnn,
        precision: Precisions::all(Precision::Fp32),
        record_inputs: None,
        template_model: None,
    })
    .expect("the engine loads");
    let bytes = std::fs::read(artifacts.join("testdata/obama2.jpg")).unwrap();
    let image = decode_image(&bytes, &DecodeLimits::UNLIMITED)
        .unwrap()
        .pixels;
    let face = engine.locate(&image, &DetectorConfig::DEFAULT).unwrap()[0].clone();
    let aligned = engine.align(&image, &face);
    let mut times: Vec<f64> = (0..53)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(engine.template(&aligned).unwrap());
            started.elapsed().as_secs_f64() * 1e3
        })
        .skip(3)
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn jpeg_base64(image: &RgbImage) -> String {
    let mut jpeg = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(jpeg)
}

fn test_photo(name: &str) -> RgbImage {
    let bytes = std::fs::read(artifacts().join("testdata").join(name)).unwrap();
    decode_image(&bytes, &DecodeLimits::UNLIMITED)
        .unwrap()
        .pixels
}

/// A test photo scaled to about `pixels` pixels, as base64 JPEG.
fn scaled_base64(name: &str, pixels: f64) -> String {
    let image = test_photo(name);
    let factor = (pixels / f64::from(image.width() * image.height())).sqrt();
    let side = |length: u32| (f64::from(length) * factor).round() as u32;
    let scaled = imageops::resize(
        &image,
        side(image.width()),
        side(image.height()),
        FilterType::CatmullRom,
    );
    jpeg_base64(&scaled)
}

/// A test photo at its own size in the middle of a grey 4:3 photo of
/// `pixels` pixels (a wider shot of the same face), as base64 JPEG.
fn framed_base64(name: &str, pixels: f64) -> String {
    let image = test_photo(name);
    let (w, h) = (
        (pixels * 4.0 / 3.0).sqrt() as u32,
        (pixels * 0.75).sqrt() as u32,
    );
    let photo = match image.height() > h {
        true => imageops::resize(
            &image,
            image.width() * h / image.height(),
            h,
            FilterType::CatmullRom,
        ),
        false => image,
    };
    let mut frame = RgbImage::from_pixel(w, h, Rgb([128, 128, 128]));
    let (x, y) = ((w - photo.width()) / 2, (h - photo.height()) / 2);
    imageops::replace(&mut frame, &photo, i64::from(x), i64::from(y));
    jpeg_base64(&frame)
}

/// The median of each part of the daemon's breakdowns of `operation` in
/// its log tail (emptied before each row).
fn breakdown(daemon: &Daemon, operation: &str) -> String {
    let tail = daemon.log_tail.lock().unwrap();
    let mut parts: BTreeMap<usize, (String, Vec<f64>)> = BTreeMap::new();
    let prefix = format!("{operation} ms: ");
    for line in tail.iter() {
        let Some(list) = line.split(&prefix).nth(1) else {
            continue;
        };
        for (order, part) in list.split(", ").enumerate() {
            let Some((name, ms)) = part.rsplit_once(' ') else {
                continue;
            };
            let entry = parts.entry(order).or_insert((name.to_string(), Vec::new()));
            entry.1.extend(ms.parse::<f64>().ok());
        }
    }
    let medians: Vec<String> = parts
        .into_values()
        .filter(|(_, values)| !values.is_empty())
        .map(|(name, mut values)| {
            values.sort_by(f64::total_cmp);
            format!("{name} {:.1}", values[values.len() / 2])
        })
        .collect();
    medians.join(", ")
}

struct Row<'a> {
    label: &'a str,
    path: &'a str,
    body: Value,
}

fn main() {
    let requests = load::argument("--requests", 40);
    let unit = template_unit_ms();
    println!("one fp32 template inference, 1 thread, median of 50: {unit:.2} ms\n");
    let verify = |probe: String, reference: String| {
        json!({
            "probeImage": {"image": {"data": probe}},
            "referenceImage": {"image": {"data": reference}},
        })
    };
    let search = |image: String| json!({"image": {"data": image}, "watchlistIds": ["staff"]});
    let (small, large) = (250.0 * 250.0, 2.8e6);
    let rows = [
        Row {
            label: "Verify, 0.75 + 3.3 Mpx",
            path: "/api/v1/Faces/Verify",
            body: verify(photo_base64("obama2.jpg"), photo_base64("obama3.jpg")),
        },
        Row {
            label: "Verify, 250x250 px each",
            path: "/api/v1/Faces/Verify",
            body: verify(
                scaled_base64("obama2.jpg", small),
                scaled_base64("obama3.jpg", small),
            ),
        },
        Row {
            label: "Verify, 2.8 Mpx each",
            path: "/api/v1/Faces/Verify",
            body: verify(
                framed_base64("obama2.jpg", large),
                framed_base64("obama3.jpg", large),
            ),
        },
        Row {
            label: "Search, 0.75 Mpx",
            path: "/api/v1/Watchlists/Search",
            body: search(photo_base64("obama2.jpg")),
        },
        Row {
            label: "Search, 250x250 px",
            path: "/api/v1/Watchlists/Search",
            body: search(scaled_base64("obama2.jpg", small)),
        },
        Row {
            label: "Search, 2.8 Mpx",
            path: "/api/v1/Watchlists/Search",
            body: search(framed_base64("obama2.jpg", large)),
        },
    ];
    println!("{requests} requests per row; p50 also as template inferences (p50 / {unit:.2} ms)\n");
    println!("| request | precision | clients | requests/s | p50 ms | p50 / template | p99 ms |");
    println!("|---|---|---|---|---|---|---|");
    let mut breakdowns = Vec::new();
    for precision in ["fp32", "int8"] {
        let dir = tempfile::tempdir().unwrap();
        let daemon = Daemon::start_in_with_engine_and_args(
            dir.path(),
            &format!("precision = \"{precision}\""),
            "[log]\nlevel = \"debug\"\n",
            &[],
        );
        daemon.enrol("obama", "obama.jpg", "staff");
        daemon.enrol("biden", "biden.jpg", "staff");
        for clients in [1, 8] {
            for row in &rows {
                daemon.log_tail.lock().unwrap().clear();
                let load = load::run(clients, requests, &|_, _| {
                    let reply = daemon.post(row.path, &row.body);
                    assert_eq!(reply.status, 200, "{}", reply.body);
                });
                println!(
                    "| {} | {precision} | {clients} | {:.1} | {:.0} | {:.2} | {:.0} |",
                    row.label,
                    load.requests_per_second,
                    load.ms(0.5),
                    load.ms(0.5) / unit,
                    load.ms(0.99)
                );
                if clients == 1 {
                    let operation = row.label.split(',').next().unwrap();
                    let parts = breakdown(&daemon, operation);
                    breakdowns.push(format!("{}, {precision}: {parts}", row.label));
                }
            }
        }
    }
    println!("\nthe daemon's breakdown, 1 client, median ms of each part:\n");
    for line in breakdowns {
        println!("- {line}");
    }
}
