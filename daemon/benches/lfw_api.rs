//! Face recognition accuracy through the REST API on an LFW-style split:
//!
//!     cargo bench -p facegate --bench lfw_api [-- --lfw DIR] [--open-set-only]
//!
//! DIR (default `../shared/data/lfw-dev`, or `$FACEGATE_LFW`) holds
//! `pairs.txt` and `images/`. Without it the benchmark says so and exits
//! cleanly. It starts the real daemon and measures, over HTTP:
//! - verification: `POST /api/v1/Faces/Verify` on every pair, accuracy with
//!   the standard protocol on the returned 0..100 confidence;
//! - identification: one photo per person registered with
//!   `POST /api/v1/WatchlistMembers/Register`, every other photo searched
//!   with `POST /api/v1/Watchlists/Search`; rank-1 accuracy, and how many
//!   probes match their person at the default threshold 40;
//! - open-set identification (a door's problem: most faces are nobody
//!   enrolled) on the report part of `facegate bench identify`'s split: its
//!   gallery side registered, its members' other photos and its strangers'
//!   photos searched; FPIR and FNIR at score 40 and FNIR at FPIR 1 % and
//!   0.1 % (thresholds read off this part), to compare with `bench
//!   identify`'s figures for the same people.

#[path = "../../tests/common/mod.rs"]
mod common;
// Without the test harness its unit tests' imports go unused.
#[allow(unused_imports)]
#[path = "../src/bench/protocol.rs"]
mod protocol;
// The daemon's split and rates; this bench needs only some of them, and
// without the test harness its unit tests' imports go unused.
#[allow(dead_code, unused_imports)]
#[path = "../src/bench/open_set.rs"]
mod open_set;

use base64::Engine as _;
use common::Daemon;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// LFW thumbnails are 150x150 with faces of about 60 px: the API's
/// default minimum of 35 px would miss a few.
fn detector() -> Value {
    json!({"minFaceSize": 20})
}

fn image(images: &Path, name: &str, number: u32) -> Value {
    let path = images.join(name).join(format!("{name}_{number:04}.jpg"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    json!({"data": base64::engine::general_purpose::STANDARD.encode(bytes)})
}

fn lfw_dir() -> PathBuf {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--lfw")
        .and_then(|i| args.get(i + 1).map(PathBuf::from))
        .or_else(|| std::env::var_os("FACEGATE_LFW").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/lfw-dev"))
}

fn verification(daemon: &Daemon, images: &Path, pairs: &[protocol::Pair]) {
    let mut scored = Vec::new();
    let mut failures = 0;
    for pair in pairs {
        let probe = |(name, number): &(String, u32)| json!({"image": image(images, name, *number), "faceDetectorConfig": detector()});
        let reply = daemon.post(
            "/api/v1/Faces/Verify",
            &json!({"probeImage": probe(&pair.first), "referenceImage": probe(&pair.second)}),
        );
        let score = match reply.status {
            200 => reply.json()["confidence"].as_f64().unwrap() as f32,
            _ => {
                failures += 1;
                -1.0
            }
        };
        scored.push((score, pair.same, pair.fold));
    }
    let (mean, std) = protocol::cross_validated_accuracy(&scored);
    let flat: Vec<(f32, bool)> = scored.iter().map(|p| (p.0, p.1)).collect();
    let (tar, threshold) = protocol::tar_at_far(&flat, 1e-3);
    println!(
        "verify through REST: accuracy {mean:.4} +- {std:.4} over {} pairs ({failures} without a face); \
         TAR {tar:.4} at FAR=1e-3 (confidence >= {threshold})",
        pairs.len()
    );
}

fn create_watchlist(daemon: &Daemon, id: &str) {
    let reply = daemon.put(
        "/api/v1/Watchlists",
        &json!({"id": id, "displayName": id, "fullName": id}),
    );
    assert_eq!(reply.status, 200);
}

/// Each person's folder name and number of photos, by name.
fn people(images: &Path) -> Vec<(String, u32)> {
    let mut people: Vec<(String, u32)> = std::fs::read_dir(images)
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let count = std::fs::read_dir(e.path()).ok()?.count() as u32;
            Some((e.file_name().to_string_lossy().into_owned(), count))
        })
        .collect();
    people.sort();
    people
}

fn identification(daemon: &Daemon, images: &Path) {
    create_watchlist(daemon, "lfw");
    let people = people(images);
    let mut enrolled = 0;
    for (name, _) in &people {
        let reply = daemon.post(
            "/api/v1/WatchlistMembers/Register",
            &json!({"id": name, "images": [image(images, name, 1)], "watchlistIds": ["lfw"],
                    "faceDetectorConfig": detector()}),
        );
        enrolled += usize::from(reply.status == 201);
    }
    let (mut probes, mut rank1, mut at_default, mut no_face) = (0, 0, 0, 0);
    for (name, count) in &people {
        for number in 2..=*count {
            probes += 1;
            let reply = daemon.post(
                "/api/v1/Watchlists/Search",
                &json!({"image": image(images, name, number), "watchlistIds": ["lfw"], "threshold": 0,
                        "maxResultCount": 1, "faceDetectorConfig": detector()}),
            );
            if reply.status != 200 {
                no_face += 1;
                continue;
            }
            // The probe's person is the face nearest the centre; LFW
            // photos are centred on them. Take the best match of any face.
            let faces = reply.json();
            let best = faces
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|face| face["matchResults"].as_array()?.first().cloned())
                .max_by_key(|m| m["score"].as_i64().unwrap_or(0));
            if let Some(best) = best {
                if best["watchlistMemberId"] == name.as_str() {
                    rank1 += 1;
                    at_default += usize::from(best["score"].as_i64().unwrap_or(0) >= 40);
                }
            }
        }
    }
    println!(
        "search through REST: {enrolled} of {} people registered (one photo each); \
         rank-1 {:.4} over {probes} probes; correct and scoring >= 40: {:.4}; {no_face} probes without a face",
        people.len(),
        rank1 as f64 / probes as f64,
        at_default as f64 / probes as f64
    );
}

/// The score of a search's best match, if it is `expected` (any member for
/// a stranger); -1 for none, so it never passes a threshold.
fn search_score(daemon: &Daemon, probe: Value, expected: Option<&str>) -> f32 {
    let reply = daemon.post(
        "/api/v1/Watchlists/Search",
        &json!({"image": probe, "watchlistIds": ["report"], "threshold": 0, "maxResultCount": 1,
                "faceDetectorConfig": {"minFaceSize": 20, "maxFaces": 1}}),
    );
    if reply.status != 200 {
        return -1.0;
    }
    let faces = reply.json();
    let best = faces[0]["matchResults"][0].clone();
    match (best["score"].as_f64(), expected) {
        (Some(score), None) => score as f32,
        (Some(score), Some(member)) if best["watchlistMemberId"] == member => score as f32,
        _ => -1.0,
    }
}

/// The open-set gallery's member ids, apart from the closed-set ones.
fn open_set_id(name: &str) -> String {
    format!("report-{name}")
}

fn open_set_identification(daemon: &Daemon, images: &Path) {
    create_watchlist(daemon, "report");
    let people: Vec<(String, u32)> = people(images)
        .into_iter()
        .filter(|(name, _)| open_set::assign(name).0 == open_set::Part::Report)
        .collect();
    let mut enrolled = 0;
    for (name, _) in people
        .iter()
        .filter(|(name, _)| open_set::assign(name).1 == open_set::Side::Gallery)
    {
        let reply = daemon.post(
            "/api/v1/WatchlistMembers/Register",
            &json!({"id": open_set_id(name), "images": [image(images, name, 1)], "watchlistIds": ["report"],
                    "faceDetectorConfig": detector()}),
        );
        assert_eq!(reply.status, 201, "registering {name}: {}", reply.body);
        enrolled += 1;
    }
    let mut scored = Vec::new();
    for (name, count) in &people {
        match open_set::assign(name).1 {
            open_set::Side::Gallery => {
                for number in 2..=*count {
                    let member = open_set_id(name);
                    let score = search_score(daemon, image(images, name, number), Some(&member));
                    scored.push((score, true));
                }
            }
            open_set::Side::Stranger => {
                for number in 1..=*count {
                    let score = search_score(daemon, image(images, name, number), None);
                    scored.push((score, false));
                }
            }
        }
    }
    let mated = scored.iter().filter(|s| s.1).count();
    let rank1 = scored.iter().filter(|s| s.1 && s.0 >= 0.0).count();
    let at_40 = open_set::rates_at(&scored, 40.0);
    println!(
        "open-set search through REST, report part: {enrolled} registered, {mated} mated and {} stranger probes; \
         rank-1 {:.2} %; at score 40 FPIR {:.2} % and FNIR {:.2} %",
        scored.len() - mated,
        100.0 * rank1 as f64 / mated as f64,
        100.0 * at_40.fpir,
        100.0 * at_40.fnir
    );
    for fpir in [0.01, 0.001] {
        let (fnir, threshold) = open_set::fnir_at_fpir(&scored, fpir);
        println!(
            "open-set search through REST: FNIR at FPIR {:.2} %: {:.2} % (score threshold {threshold}, chosen on the report part)",
            100.0 * fpir,
            100.0 * fnir
        );
    }
}

fn main() {
    let lfw = lfw_dir();
    let Ok(text) = std::fs::read_to_string(lfw.join("pairs.txt")) else {
        println!(
            "skipped: no LFW split at {} (pass --lfw DIR or set FACEGATE_LFW)",
            lfw.display()
        );
        return;
    };
    let pairs = protocol::parse_pairs(&text).expect("a valid pairs.txt");
    let images = lfw.join("images");
    let daemon = Daemon::start();
    // `--open-set-only` skips the longer closed-set parts.
    if !std::env::args().any(|a| a == "--open-set-only") {
        verification(&daemon, &images, &pairs);
        identification(&daemon, &images);
    }
    open_set_identification(&daemon, &images);
}
