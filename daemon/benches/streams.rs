//! The REST API's latency while it holds many event streams, and while
//! biometric clients overload it, against the real binary.
//!
//!     cargo bench -p facegate --bench streams [-- --streams N --requests R]
//!
//! Measures `GET /api/v1/Version` and a member GET (R requests each,
//! default 1000, one client) with no event stream open, then with N open
//! (default 500), then member GETs while 32 clients send Search requests
//! back to back (those refused with 429 retry at once).

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "support/load.rs"]
mod load;

use common::{photo_base64, Daemon};
use load::Load;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn report(name: &str, condition: &str, load: &Load) {
    println!(
        "| {name} | {condition} | {:.0} | {:.2} | {:.2} |",
        load.requests_per_second,
        load.ms(0.5),
        load.ms(0.99)
    );
}

fn get_load(daemon: &Daemon, path: &str, requests: usize) -> Load {
    load::run(1, requests, &|_, _| {
        assert_eq!(daemon.get(path).status, 200);
    })
}

/// An event stream, open once its `: connected` comment has arrived.
fn open_stream(daemon: &Daemon) -> TcpStream {
    let address = daemon.base.trim_start_matches("http://");
    let mut socket = TcpStream::connect(address).unwrap();
    write!(
        socket,
        "GET /api/facegate/v1/Events/Stream HTTP/1.1\r\nHost: {address}\r\n\r\n"
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains(": connected") {
        let n = socket.read(&mut buffer).unwrap();
        assert!(
            n > 0,
            "the stream closed: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buffer[..n]);
    }
    socket
}

fn main() {
    let streams = load::argument("--streams", 500);
    let requests = load::argument("--requests", 1000);
    let daemon =
        Daemon::start_with_config(&format!("[server]\nmax_event_streams = {}\n", streams + 1));
    let member = json!({"id": "m1", "displayName": "M"});
    assert_eq!(daemon.put("/api/v1/WatchlistMembers", &member).status, 200);
    let member_path = "/api/v1/WatchlistMembers/m1";

    println!("| request | while | requests/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    report(
        "Version",
        "no stream",
        &get_load(&daemon, "/api/v1/Version", requests),
    );
    report(
        "member GET",
        "no stream",
        &get_load(&daemon, member_path, requests),
    );
    let open: Vec<TcpStream> = (0..streams).map(|_| open_stream(&daemon)).collect();
    let condition = format!("{streams} streams open");
    report(
        "Version",
        &condition,
        &get_load(&daemon, "/api/v1/Version", requests),
    );
    report(
        "member GET",
        &condition,
        &get_load(&daemon, member_path, requests),
    );
    drop(open);

    let body = json!({"image": {"data": photo_base64("obama.jpg")}});
    let stop = AtomicBool::new(false);
    let (answered, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let during = std::thread::scope(|scope| {
        for _ in 0..32 {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    match daemon.post("/api/v1/Watchlists/Search", &body).status {
                        200 => answered.fetch_add(1, Ordering::Relaxed),
                        429 | 408 => refused.fetch_add(1, Ordering::Relaxed),
                        other => panic!("Search answered {other}"),
                    };
                }
            });
        }
        let during = get_load(&daemon, member_path, requests);
        stop.store(true, Ordering::Relaxed);
        during
    });
    report("member GET", "32 Search clients", &during);
    println!(
        "\nSearch meanwhile: {} answered, {} refused with 429/408",
        answered.into_inner(),
        refused.into_inner()
    );
}
