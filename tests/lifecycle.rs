//! Starting and stopping: a stop lets requests being answered finish, and
//! a config that would fail later is refused at start.

mod common;

use common::{engine_config, photo_base64, Daemon, BINARY};
use serde_json::json;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[test]
fn sigterm_lets_a_request_in_flight_finish_before_the_process_exits() {
    let data = tempfile::tempdir().unwrap();
    // Long enough for the request below on a loaded machine.
    let config = "[server]\nshutdown_timeout_seconds = 120.0\n";
    let mut daemon = Daemon::start_in(data.path(), Some(config));
    daemon.enrol("first", "obama.jpg", "staff");
    // A slow request: a registration that analyses 32 photos.
    let images: Vec<_> = (0..32)
        .map(|_| json!({"data": photo_base64("obama2.jpg")}))
        .collect();
    let body = json!({"id": "slow", "images": images, "watchlistIds": ["staff"]}).to_string();
    let address = daemon.base.trim_start_matches("http://").to_string();
    let mut connection = std::net::TcpStream::connect(&address).unwrap();
    connection
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        connection,
        "POST /api/v1/WatchlistMembers/Register HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Signal once the registration is at the engine, whatever the
    // machine's speed (the assertion on `answered_after` checks it took
    // longer than the signal).
    let deadline = Instant::now() + Duration::from_secs(60);
    while daemon.get("/api/facegate/v1/Status").json()["biometric"]["running"] != 1 {
        assert!(
            Instant::now() < deadline,
            "the registration never reached the engine"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let signalled = Instant::now();
    let pid = daemon.pid().to_string();
    let stopper = std::thread::spawn(move || {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        status.unwrap().success()
    });
    let mut reply = String::new();
    connection.read_to_string(&mut reply).unwrap();
    let answered_after = signalled.elapsed();
    assert!(stopper.join().unwrap());
    assert!(
        reply.starts_with("HTTP/1.1 201"),
        "the request in flight was not answered: {reply:.300}"
    );
    assert!(
        answered_after > Duration::from_millis(50),
        "the registration finished before SIGTERM ({answered_after:?}), so this proved nothing"
    );
    assert!(daemon.wait_exit(), "the daemon exits 0 after draining");

    let restarted = Daemon::start_in(data.path(), None);
    let faces = restarted.get("/api/v1/WatchlistMembers/slow/Faces?PageSize=100");
    assert_eq!(faces.json()["items"].as_array().unwrap().len(), 32);
}

#[test]
fn a_config_value_that_would_overflow_later_is_refused_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("facegate.toml");
    std::fs::write(
        &config,
        format!("{}\n[edge]\ndebounce_seconds = inf\n", engine_config()),
    )
    .unwrap();
    let output = std::process::Command::new(BINARY)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--camera",
            "replay:/nonexistent",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("edge.debounce_seconds"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
