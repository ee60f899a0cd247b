//! Verify and Search latency through REST, from 1 and from 8 concurrent
//! clients, on the face_recognition test photos (0.75-3.3 megapixels):
//!
//!     cargo bench -p facegate --bench biometric_api [-- --requests N]
//!
//! The gallery holds two registered people: below 100k faces, search time is
//! the engine's (the index scan is under 1 ms, see `facegate bench gallery`).

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{photo_base64, Daemon};
use serde_json::json;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3
}

fn measure(daemon: &Daemon, clients: usize, requests: usize, path: &str, body: &serde_json::Value) {
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|client| {
                scope.spawn(move || {
                    (client..requests)
                        .step_by(clients)
                        .map(|_| {
                            let t = Instant::now();
                            let reply = daemon.post(path, body);
                            assert_eq!(reply.status, 200, "{}", reply.body);
                            t.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "| {path} | {clients} | {:.1} | {:.0} | {:.0} |",
        requests as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let requests = args
        .iter()
        .position(|a| a == "--requests")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(40);
    let daemon = Daemon::start();
    let watchlist = json!({"id": "staff", "displayName": "Staff", "fullName": "Staff"});
    assert_eq!(daemon.put("/api/v1/Watchlists", &watchlist).status, 200);
    for (id, photo) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
        let body =
            json!({"id": id, "images": [{"data": photo_base64(photo)}], "watchlistIds": ["staff"]});
        assert_eq!(
            daemon
                .post("/api/v1/WatchlistMembers/Register", &body)
                .status,
            201
        );
    }
    let verify = json!({
        "probeImage": {"image": {"data": photo_base64("obama2.jpg")}},
        "referenceImage": {"image": {"data": photo_base64("obama3.jpg")}},
    });
    let search = json!({"image": {"data": photo_base64("obama2.jpg")}, "watchlistIds": ["staff"]});
    println!("{requests} requests per row\n");
    println!("| endpoint | clients | requests/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for clients in [1, 8] {
        measure(&daemon, clients, requests, "/api/v1/Faces/Verify", &verify);
        measure(
            &daemon,
            clients,
            requests,
            "/api/v1/Watchlists/Search",
            &search,
        );
    }
}
