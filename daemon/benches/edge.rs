//! The door loop's speed at 640x480: frame-to-decision latency (the relay
//! command is issued right after a granted decision) and sustained
//! processed frames per second.
//!
//!     cargo bench -p facegate --bench edge [-- --frames N]
//!
//! Enrols obama.jpg, then replays N frames (default 300) of obama2.jpg
//! scaled into a 640x480 frame, once at 5 fps (the loop keeps up: latency
//! without queueing) and once at 30 fps (more than it can take: newest-frame
//! processing, drops counted), with the logging relay. Figures come from
//! the daemon's own counters (`GET /api/facegate/v1/Status`).

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{artifacts, Daemon};
use facegate_models::image::{imageops, Rgb};
use facegate_models::RgbImage;
use std::time::{Duration, Instant};

fn scene(frames: usize) -> tempfile::TempDir {
    let photo = facegate_models::image::open(artifacts().join("testdata/obama2.jpg"))
        .unwrap()
        .into_rgb8();
    // obama2.jpg is 626x1200; at 0.4 it fits 480 px of height.
    let small = imageops::resize(&photo, 250, 480, imageops::FilterType::Triangle);
    let mut frame = RgbImage::from_pixel(640, 480, Rgb([100, 100, 100]));
    imageops::replace(&mut frame, &small, 195, 0);
    let dir = tempfile::tempdir().unwrap();
    frame.save(dir.path().join("frame.jpg")).unwrap();
    for i in 0..frames {
        std::fs::copy(
            dir.path().join("frame.jpg"),
            dir.path().join(format!("f{i:05}.jpg")),
        )
        .unwrap();
    }
    std::fs::remove_file(dir.path().join("frame.jpg")).unwrap();
    dir
}

fn run(data: &std::path::Path, scene: &std::path::Path, frames: usize, fps: u32) {
    let config = "[edge]\ndebounce_seconds = 0.0\ncooldown_seconds = 0.0\npulse_ms = 0\n";
    let camera = format!("replay:{}@{fps}", scene.display());
    let daemon = Daemon::start_in_with_args(
        data,
        Some(config),
        &["--camera", &camera, "--relay", "fake"],
    );
    let started = Instant::now();
    let status = loop {
        let status = daemon.get("/api/facegate/v1/Status").json();
        let done =
            status["framesProcessed"].as_u64().unwrap() + status["framesDropped"].as_u64().unwrap();
        if done >= frames as u64 || started.elapsed() > Duration::from_secs(600) {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "| {fps} | {} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} |",
        status["framesProcessed"],
        status["framesDropped"],
        status["framesProcessed"].as_f64().unwrap() / elapsed,
        status["frameToDecisionP50Ms"].as_f64().unwrap(),
        status["frameToDecisionP99Ms"].as_f64().unwrap(),
        status["analyseMs"].as_f64().unwrap(),
        status["searchMs"].as_f64().unwrap(),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let frames = args
        .iter()
        .position(|a| a == "--frames")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(300);
    let data = tempfile::tempdir().unwrap();
    {
        let daemon = Daemon::start_in(data.path(), None);
        daemon.enrol("obama", "obama.jpg", "staff");
    }
    let scene = scene(frames);
    println!("{frames} frames of 640x480 per row\n");
    println!("| camera fps | processed | dropped | processed fps | frame-to-decision p50 ms | p99 ms | detect ms | liveness+template+match ms |");
    println!("|---|---|---|---|---|---|---|---|");
    for fps in [5, 30] {
        run(data.path(), scene.path(), frames, fps);
    }
}
