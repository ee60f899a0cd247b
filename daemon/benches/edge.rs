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
//!
//! Then two enrolled people one second apart (Obama, then Biden) with the
//! door held open for 3 s: the gap between their decisions, from the event
//! log, shows whether the second person waited for the first one's pulse.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "support/scene.rs"]
mod scene;

use common::Daemon;
use scene::scene;
use std::time::{Duration, Instant};

/// Replays `scene` into a daemon on `data` with the `[edge]` lines of
/// `edge`, until `frames` were processed or dropped; the final status and
/// the daemon.
fn replay(
    data: &std::path::Path,
    edge: &str,
    scene: &std::path::Path,
    frames: usize,
    fps: u32,
    precision: &str,
) -> (serde_json::Value, Daemon) {
    let camera = format!("replay:{}@{fps}", scene.display());
    let daemon = Daemon::start_in_with_engine_and_args(
        data,
        &format!("precision = \"{precision}\""),
        &format!("[edge]\n{edge}"),
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
    (status, daemon)
}

fn run(data: &std::path::Path, scene: &std::path::Path, frames: usize, fps: u32, precision: &str) {
    // The door held open while the person stays: every frame is decided
    // (no debounce), and extending the opening stores no event, so the
    // figures are the loop's, not the event log's.
    let edge = "debounce_seconds = 0.0\ncooldown_seconds = 0.0\npulse_ms = 1000\n";
    let started = Instant::now();
    let (status, _daemon) = replay(data, edge, scene, frames, fps, precision);
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "| {precision} | {fps} | {} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} |",
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
    let one_person = scene(&[("obama2.jpg", frames)]);
    println!("{frames} frames of 640x480 per row\n");
    println!("| precision | camera fps | processed | dropped | processed fps | frame-to-decision p50 ms | p99 ms | analyse ms | search ms |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for precision in ["fp32", "int8"] {
        // Enrolled under the same precision: no face-data migration.
        let data = tempfile::tempdir().unwrap();
        let line = format!("precision = \"{precision}\"");
        {
            let daemon = Daemon::start_in_with_engine(data.path(), &line);
            daemon.enrol("obama", "obama.jpg", "staff");
            daemon.enrol("biden", "biden.jpg", "staff");
        }
        for fps in [5, 30] {
            run(data.path(), one_person.path(), frames, fps, precision);
        }
    }
    second_person_behind_the_first();
}

/// Obama for 1 s, then Biden, at 10 fps, the door held 3 s per open, on a
/// fresh event log.
fn second_person_behind_the_first() {
    let data = tempfile::tempdir().unwrap();
    {
        let daemon = Daemon::start_in(data.path(), None);
        daemon.enrol("obama", "obama.jpg", "staff");
        daemon.enrol("biden", "biden.jpg", "staff");
    }
    let data = data.path();
    let two_people = scene(&[("obama2.jpg", 10), ("biden.jpg", 20)]);
    let edge = "debounce_seconds = 5.0\ncooldown_seconds = 0.0\npulse_ms = 3000\n";
    let (_, daemon) = replay(data, edge, two_people.path(), 30, 10, "fp32");
    let events = daemon.get("/api/facegate/v1/Events?PageSize=100").json();
    let decided_at = |member: &str| {
        let event = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["watchlistMemberId"] == member)
            .unwrap_or_else(|| panic!("no decision for {member}: {events}"));
        humantime::parse_rfc3339(event["at"].as_str().unwrap()).unwrap()
    };
    let gap = decided_at("biden")
        .duration_since(decided_at("obama"))
        .unwrap();
    println!(
        "\ntwo people 1.0 s apart, door held 3 s: the second decided {:.0} ms after the first",
        gap.as_secs_f64() * 1e3
    );
}
