//! An appliance that stays up: event streams never take request workers, a
//! full disk is an answer the daemon recovers from by itself (and never
//! keeps the door shut), a damaged database is refused loudly, and overload
//! is answered with 429 and 408.

mod common;

use common::door::{door_on_pty, occurrences, scene, wait_until_played, OPEN};
use common::{engine_config, photo_base64, problem, wait_until, Daemon, BINARY};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// An open `Events/Stream` connection that has received its head and the
/// `: connected` comment.
struct EventStream {
    socket: TcpStream,
    received: String,
}

impl EventStream {
    fn open(daemon: &Daemon) -> EventStream {
        let address = daemon.base.trim_start_matches("http://");
        let mut socket = TcpStream::connect(address).unwrap();
        socket.set_read_timeout(Some(LIMIT)).unwrap();
        write!(
            socket,
            "GET /api/facegate/v1/Events/Stream HTTP/1.1\r\nHost: {address}\r\n\r\n"
        )
        .unwrap();
        let mut stream = EventStream {
            socket,
            received: String::new(),
        };
        assert!(
            stream.read_until(": connected"),
            "no stream: {}",
            stream.received
        );
        assert!(
            stream.received.starts_with("HTTP/1.1 200"),
            "{}",
            stream.received
        );
        stream
    }

    /// Reads until `text` arrives (true) or the connection ends (false).
    fn read_until(&mut self, text: &str) -> bool {
        let mut buffer = [0u8; 4096];
        while !self.received.contains(text) {
            match self.socket.read(&mut buffer) {
                Ok(0) => return false,
                Ok(n) => self
                    .received
                    .push_str(&String::from_utf8_lossy(&buffer[..n])),
                Err(e) => panic!("reading the stream failed: {e}; got {}", self.received),
            }
        }
        true
    }
}

fn status(daemon: &Daemon) -> Value {
    let reply = daemon.get("/api/facegate/v1/Status");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

#[test]
fn many_event_streams_leave_the_rest_api_answering_and_one_beyond_the_cap_gets_503() {
    // Two request workers: before, the second stream left none for REST.
    let mut daemon = Daemon::start_with_config("[server]\nthreads = 2\nmax_event_streams = 64\n");
    let member = json!({"id": "m1", "displayName": "M"});
    assert_eq!(daemon.put("/api/v1/WatchlistMembers", &member).status, 200);
    let mut streams: Vec<EventStream> = (0..64).map(|_| EventStream::open(&daemon)).collect();
    assert_eq!(
        status(&daemon)["eventStreams"],
        json!({"open": 64, "max": 64})
    );
    // The client's timeout bounds these: a hung worker pool fails them.
    assert_eq!(daemon.get("/api/v1/Version").status, 200);
    assert_eq!(daemon.get("/api/v1/WatchlistMembers/m1").status, 200);

    let refused = daemon.get("/api/facegate/v1/Events/Stream");
    let body = problem(&refused, 503);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("max_event_streams"),
        "{body}"
    );
    assert!(refused
        .header("Retry-After")
        .is_some_and(|s| s.parse::<u64>().is_ok()));

    // SIGTERM ends every stream and the daemon still stops cleanly.
    assert!(daemon.terminate(), "the daemon exits 0 with streams open");
    for stream in &mut streams {
        assert!(!stream.read_until("never sent"), "the stream ended");
        assert!(stream.received.contains(": the server is shutting down"));
    }
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` (after saying why) where mounting is not permitted.
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("SKIPPED: cannot mount a tmpfs here (the full-disk test needs root)");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem is full.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let small = [0u8; 512];
        while file.write_all(&chunk).is_ok() {}
        while file.write_all(&small).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn put_member(daemon: &Daemon, id: &str) -> common::Reply {
    let note = "n".repeat(4000);
    daemon.put(
        "/api/v1/WatchlistMembers",
        &json!({"id": id, "displayName": id, "note": note}),
    )
}

#[test]
fn a_full_disk_answers_507_and_writes_resume_once_space_is_freed_without_restart() {
    let Some(disk) = SmallDisk::mount("6m") else {
        return;
    };
    let data_dir = disk.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    let mut daemon = Daemon::start_in(&data_dir, None);
    let mut acknowledged = Vec::new();
    for i in 0..3 {
        let id = format!("before-{i}");
        assert_eq!(put_member(&daemon, &id).status, 200);
        acknowledged.push(id);
    }
    let filler = disk.fill();
    let mut full = None;
    for i in 0..2000 {
        let id = format!("filling-{i}");
        let reply = put_member(&daemon, &id);
        match reply.status {
            200 => acknowledged.push(id),
            _ => {
                full = Some(reply);
                break;
            }
        }
    }
    let full = full.expect("a write fails once the disk is full");
    let body = problem(&full, 507);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("disk") && detail.contains("full"), "{body}");
    assert_eq!(
        body["type"],
        "https://tools.ietf.org/html/rfc4918#section-11.5"
    );
    // Reads still answer while the disk is full; so does a second write.
    assert_eq!(daemon.get("/api/v1/Version").status, 200);
    assert_eq!(daemon.get("/api/v1/WatchlistMembers/before-0").status, 200);
    problem(&put_member(&daemon, "while-full"), 507);
    let storage = &status(&daemon)["storage"];
    assert!(storage["freeBytes"].is_u64(), "{storage}");
    assert!(storage["warning"].is_string(), "{storage}");

    std::fs::remove_file(filler).unwrap();
    for i in 0..3 {
        let id = format!("after-{i}");
        let reply = put_member(&daemon, &id);
        assert_eq!(reply.status, 200, "{}", reply.body);
        acknowledged.push(id);
    }
    let present = |daemon: &Daemon| {
        for id in &acknowledged {
            let reply = daemon.get(&format!("/api/v1/WatchlistMembers/{id}"));
            assert_eq!(reply.status, 200, "acknowledged {id} is missing");
        }
    };
    present(&daemon);
    daemon.kill();
    let daemon = Daemon::start_in(&data_dir, None);
    present(&daemon);
}

/// Runs `facegate serve` on `data_dir`; returns whether it failed (rather
/// than started serving) and its log.
fn serve_fails(data_dir: &Path) -> (bool, String) {
    let config = data_dir.with_extension("toml");
    std::fs::write(&config, engine_config()).unwrap();
    let mut child = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = String::new();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = std::io::BufReader::new(stderr).read_to_string(&mut log);
        log
    });
    let mut exit = None;
    let started = std::time::Instant::now();
    while exit.is_none() && started.elapsed() < LIMIT {
        exit = child.try_wait().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let served = exit.is_none();
    if served {
        let _ = child.kill(); // the damage went unnoticed
    }
    let status = child.wait().unwrap();
    log.push_str(&reader.join().unwrap());
    (!served && !status.success(), log)
}

#[test]
fn a_damaged_database_file_is_refused_at_start_naming_it_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut daemon = Daemon::start_in(&data_dir, None);
    for i in 0..20 {
        assert_eq!(put_member(&daemon, &format!("m{i}")).status, 200);
    }
    assert!(daemon.terminate());
    let file = data_dir.join("facegate.redb");
    let intact = std::fs::read(&file).unwrap();
    let random: Vec<u8> = (0..intact.len() as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for (damage, bytes) in [
        ("truncated", &intact[..intact.len() / 2]),
        ("emptied", &intact[..0]),
        ("random bytes", &random[..]),
    ] {
        std::fs::write(&file, bytes).unwrap();
        let (failed, log) = serve_fails(&data_dir);
        assert!(failed, "{damage}: the daemon started; log:\n{log}");
        assert!(
            log.contains(&file.display().to_string()) && log.contains("backup"),
            "{damage}: the error names the file and what to do:\n{log}"
        );
        assert_eq!(
            std::fs::read(&file).unwrap(),
            bytes,
            "{damage}: the file is left as it was"
        );
    }
}

/// A biometric request whose body never finishes arriving: it holds its
/// place in the biometric queue until the connection closes.
fn stalled_search(daemon: &Daemon) -> TcpStream {
    let address = daemon.base.trim_start_matches("http://");
    let mut socket = TcpStream::connect(address).unwrap();
    write!(
        socket,
        "POST /api/v1/Watchlists/Search HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{"
    )
    .unwrap();
    socket
}

fn search_body() -> Value {
    json!({"image": {"data": photo_base64("obama.jpg")}})
}

#[test]
fn a_biometric_request_beyond_the_queue_gets_429_at_once_while_management_answers() {
    // The engine runs 2 at a time (engine.threads = 2); no queue beyond.
    let daemon = Daemon::start_with_config("[server]\nbiometric_queue = 0\n");
    let stalled: Vec<TcpStream> = (0..2).map(|_| stalled_search(&daemon)).collect();
    wait_until(LIMIT, "both stalled requests admitted", || {
        status(&daemon)["biometric"]["waiting"] == 2
    });
    let refused = daemon.post("/api/v1/Watchlists/Search", &search_body());
    let body = problem(&refused, 429);
    assert_eq!(
        body["type"],
        "https://tools.ietf.org/html/rfc6585#section-4"
    );
    assert!(refused
        .header("Retry-After")
        .is_some_and(|s| s.parse::<u64>().is_ok()));
    assert_eq!(daemon.get("/api/v1/Version").status, 200);
    assert_eq!(status(&daemon)["biometric"]["rejected"], 1);

    drop(stalled);
    wait_until(LIMIT, "the stalled requests to leave the queue", || {
        status(&daemon)["biometric"]["waiting"] == 0
    });
    let statuses = burst(&daemon, 8, "/api/v1/Watchlists/Search", &search_body());
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 429].contains(s)),
        "{statuses:?}"
    );
}

/// Sends `count` copies of a request at once; their statuses.
fn burst(daemon: &Daemon, count: usize, path: &str, body: &Value) -> Vec<u16> {
    let start = std::sync::Barrier::new(count);
    std::thread::scope(|scope| {
        let senders: Vec<_> = (0..count)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    daemon.post(path, body).status
                })
            })
            .collect();
        senders.into_iter().map(|s| s.join().unwrap()).collect()
    })
}

#[test]
fn a_biometric_request_that_cannot_wait_for_the_engine_gets_408() {
    // Two run at a time and none may wait: in a burst of 12 simultaneous
    // Verify requests (each over 50 ms of engine work), a third finds
    // both turns taken.
    let daemon = Daemon::start_with_config("[server]\nbiometric_wait_ms = 0\n");
    let photo = json!({"image": {"data": photo_base64("obama.jpg")}});
    let body = json!({"probeImage": photo, "referenceImage": photo});
    let statuses = burst(&daemon, 12, "/api/v1/Faces/Verify", &body);
    assert!(statuses.contains(&408), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 408].contains(s)),
        "{statuses:?}"
    );
    assert!(status(&daemon)["biometric"]["timedOut"].as_u64() > Some(0));
}

#[test]
fn the_door_keeps_opening_on_a_full_disk_and_counts_the_events_it_cannot_store() {
    let Some(disk) = SmallDisk::mount("8m") else {
        return;
    };
    let data = disk.path().join("data");
    {
        let daemon = Daemon::start_in(&data, None);
        daemon.enrol("obama", "obama.jpg", "staff");
    }
    // An empty hall while the disk fills, then Obama twice, 3.4 s apart.
    let scene = scene(&[
        ("blank", 30),
        ("obama2.jpg", 3),
        ("blank", 14),
        ("obama2.jpg", 3),
        ("blank", 5),
    ]);
    // Visits of three frames: one frame decides, so a loop slowed by a
    // loaded machine that sees a visit once still opens.
    let config = "[edge]\ndebounce_seconds = 2.0\ncooldown_seconds = 0.0\npulse_ms = 100\n\
                  evidence_frames = 1\n";
    let (mut daemon, mut board) = door_on_pty(&data, config, scene.path());
    let mut live = EventStream::open(&daemon);
    let filler = disk.fill();
    let before = status(&daemon);
    assert_eq!(
        before["opens"].as_u64().unwrap() + before["denials"].as_u64().unwrap(),
        0,
        "the door decided before the disk was full: {before}"
    );
    wait_until_played(&daemon, 55);

    let after = status(&daemon);
    assert_eq!(after["opens"], 2, "{after}");
    assert_eq!(after["eventsNotStored"], 2, "{after}");
    // The live stream still tells of them, without a stored face.
    assert!(
        live.read_until("\"reason\":\"granted\""),
        "{}",
        live.received
    );
    assert!(
        live.received.contains("\"sequence\":null") && live.received.contains("\"faceId\":null"),
        "{}",
        live.received
    );
    assert!(daemon.terminate());
    let mut received = Vec::new();
    let _ = board.read_to_end(&mut received);
    assert_eq!(
        occurrences(&received, &OPEN),
        2,
        "relay bytes {received:02X?}"
    );
    std::fs::remove_file(filler).unwrap();
}
