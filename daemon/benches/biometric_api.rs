//! Verify and Search latency through REST, from 1 and from 8 concurrent
//! clients, on the face_recognition test photos (0.75-3.3 megapixels),
//! with `engine.precision` "fp32" and then "int8":
//!
//!     cargo bench -p facegate --bench biometric_api [-- --requests N]
//!
//! The gallery holds two registered people: below 100k faces, search time is
//! the engine's (the index scan is under 1 ms, see `facegate bench gallery`).

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "support/load.rs"]
mod load;

use common::{photo_base64, Daemon};
use serde_json::json;

fn measure(
    daemon: &Daemon,
    precision: &str,
    clients: usize,
    requests: usize,
    path: &str,
    body: &serde_json::Value,
) {
    let load = load::run(clients, requests, &|_, _| {
        let reply = daemon.post(path, body);
        assert_eq!(reply.status, 200, "{}", reply.body);
    });
    println!(
        "| {path} | {precision} | {clients} | {:.1} | {:.0} | {:.0} |",
        load.requests_per_second,
        load.ms(0.5),
        load.ms(0.99)
    );
}

fn main() {
    let requests = load::argument("--requests", 40);
    let verify = json!({
        "probeImage": {"image": {"data": photo_base64("obama2.jpg")}},
        "referenceImage": {"image": {"data": photo_base64("obama3.jpg")}},
    });
    let search = json!({"image": {"data": photo_base64("obama2.jpg")}, "watchlistIds": ["staff"]});
    println!("{requests} requests per row\n");
    println!("| endpoint | precision | clients | requests/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    for precision in ["fp32", "int8"] {
        let daemon = Daemon::start_with_engine(&format!("precision = \"{precision}\""));
        daemon.enrol("obama", "obama.jpg", "staff");
        daemon.enrol("biden", "biden.jpg", "staff");
        for clients in [1, 8] {
            for (path, body) in [
                ("/api/v1/Faces/Verify", &verify),
                ("/api/v1/Watchlists/Search", &search),
            ] {
                measure(&daemon, precision, clients, requests, path, body);
            }
        }
    }
}
