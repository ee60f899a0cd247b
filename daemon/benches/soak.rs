//! Soak: the real daemon with the door loop running on a 15 fps replay
//! camera and mixed REST load, for a long time; resources and latency
//! minute by minute, to see what stays flat and what grows.
//!
//!     cargo bench -p facegate --bench soak [-- --minutes N --warm-up W]
//!
//! Runs N minutes (default 30). The scene cycles every 12 s through
//! obama2.jpg (3 s), an empty frame (3 s), biden.jpg (3 s) and an empty
//! frame (3 s), with the logging relay, the default door settings and
//! `events_kept = 50`, `faces_kept = 50` (so that the event log and the
//! decision faces are pruned within the warm-up and stop growing).
//! Meanwhile four client threads:
//!
//! - enrolment: Register a member from one photo, AddNewFace a second one,
//!   and DELETE the member enrolled 50 rounds earlier (a sliding gallery);
//! - Search (`Watchlists/Search`) of the photos in turn;
//! - Verify (`Faces/Verify`) of pairs of photos in turn;
//! - member edits: upsert, GET, LinkToWatchlist, UnlinkFromWatchlist,
//!   an event page, and DELETE of the member made 200 rounds earlier.
//!
//! The biometric threads pause 250 ms between requests and the edit thread
//! 50 ms between rounds: steady load, not overload. A 429 or 408 (the
//! biometric admission refusing) is counted apart; any other unexpected
//! status or a transport error is a failure, reported, and fails the run.
//!
//! Every minute: the daemon's RSS, threads (`/proc/PID/status`), open file
//! descriptors (`/proc/PID/fd`), database file size, stored members,
//! gallery faces and events, frames processed and dropped, and each request
//! kind's p99 over that minute. Then a summary at start, after the warm-up
//! (W minutes, default 5) and at the end.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "support/load.rs"]
mod load;
#[path = "support/scene.rs"]
mod scene;

use common::{photo_base64, Daemon};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FPS: usize = 15;
const PHOTOS: [&str; 4] = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];
const WATCHLIST: &str = "soak";
/// Enrolled members kept by the enrolment thread; member records by the
/// edit thread.
const ENROLLED_KEPT: usize = 50;
const EDITED_KEPT: usize = 200;
/// Events and unowned decision faces kept.
const KEPT: u64 = 50;

/// The requests of one minute, by kind.
#[derive(Default)]
struct Minute {
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    refused: u64,
    failed: u64,
}

/// Requests that check their answers and tally them.
struct Client<'a> {
    daemon: &'a Daemon,
    minute: Mutex<Minute>,
    failures: Mutex<Vec<String>>,
}

impl Client<'_> {
    /// Sends the request; `Some(reply)` when it answered `expected`.
    /// Refusals (429, 408) and failures are counted.
    fn send(
        &self,
        kind: &'static str,
        method: &str,
        path: &str,
        body: Option<&Value>,
        expected: u16,
    ) -> Option<common::Reply> {
        let started = Instant::now();
        let result = self.daemon.try_call(method, path, body);
        let took = started.elapsed();
        let mut minute = self.minute.lock().unwrap();
        let failure = match result {
            Ok(reply) if reply.status == expected => {
                minute.latencies.entry(kind).or_default().push(took);
                return Some(reply);
            }
            Ok(reply) if [429, 408].contains(&reply.status) => {
                minute.refused += 1;
                return None;
            }
            Ok(reply) => format!(
                "{kind}: {method} {path} answered {}: {:.300}",
                reply.status, reply.body
            ),
            Err(e) => format!("{kind}: {method} {path} failed: {e}"),
        };
        minute.failed += 1;
        drop(minute);
        eprintln!("FAILURE {failure}");
        self.failures.lock().unwrap().push(failure);
        None
    }
}

fn image(photo: &str) -> Value {
    json!({"data": photo_base64(photo)})
}

/// Runs `round` (with the round number) until `stop`, pausing `pause`.
fn repeat(stop: &AtomicBool, pause: Duration, mut round: impl FnMut(usize)) {
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        round(i);
        i += 1;
        std::thread::sleep(pause);
    }
}

fn enrolment(client: &Client, stop: &AtomicBool) {
    let mut kept = VecDeque::new();
    repeat(stop, Duration::from_millis(250), |i| {
        let id = format!("enrolled{i}");
        let body = json!({"id": id, "images": [image(PHOTOS[i % 4])], "watchlistIds": [WATCHLIST]});
        let path = "/api/v1/WatchlistMembers/Register";
        if client
            .send("Register", "POST", path, Some(&body), 201)
            .is_none()
        {
            return;
        }
        kept.push_back(id.clone());
        let body = json!({"imageData": image(PHOTOS[(i + 1) % 4])});
        let path = format!("/api/v1/WatchlistMembers/{id}/AddNewFace");
        client.send("AddNewFace", "POST", &path, Some(&body), 201);
        if kept.len() > ENROLLED_KEPT {
            let old = kept.pop_front().unwrap();
            let path = format!("/api/v1/WatchlistMembers/{old}");
            client.send("member DELETE", "DELETE", &path, None, 204);
        }
    });
}

fn searches(client: &Client, stop: &AtomicBool) {
    let bodies: Vec<Value> = PHOTOS.iter().map(|p| json!({"image": image(p)})).collect();
    repeat(stop, Duration::from_millis(250), |i| {
        let body = &bodies[i % bodies.len()];
        client.send(
            "Search",
            "POST",
            "/api/v1/Watchlists/Search",
            Some(body),
            200,
        );
    });
}

fn verifications(client: &Client, stop: &AtomicBool) {
    let bodies: Vec<Value> = (0..PHOTOS.len())
        .map(|k| {
            json!({
                "probeImage": {"image": image(PHOTOS[k])},
                "referenceImage": {"image": image(PHOTOS[(k + 1) % PHOTOS.len()])},
            })
        })
        .collect();
    repeat(stop, Duration::from_millis(250), |i| {
        let body = &bodies[i % bodies.len()];
        client.send("Verify", "POST", "/api/v1/Faces/Verify", Some(body), 200);
    });
}

fn edits(client: &Client, stop: &AtomicBool) {
    let mut kept = VecDeque::new();
    repeat(stop, Duration::from_millis(50), |i| {
        let id = format!("edited{i}");
        let body = json!({"id": id, "displayName": id, "labels": [{"key": "badge", "value": i.to_string()}]});
        if client
            .send(
                "member PUT",
                "PUT",
                "/api/v1/WatchlistMembers",
                Some(&body),
                200,
            )
            .is_none()
        {
            return;
        }
        kept.push_back(id.clone());
        let path = format!("/api/v1/WatchlistMembers/{id}");
        client.send("member GET", "GET", &path, None, 200);
        let link = json!({"watchlistId": WATCHLIST, "watchlistMembersIds": [id]});
        let path = "/api/v1/WatchlistMembers/LinkToWatchlist";
        client.send("Link", "POST", path, Some(&link), 204);
        let path = "/api/v1/WatchlistMembers/UnlinkFromWatchlist";
        client.send("Unlink", "POST", path, Some(&link), 204);
        let path = "/api/facegate/v1/Events?PageSize=10&Ascending=false";
        client.send("Events GET", "GET", path, None, 200);
        if kept.len() > EDITED_KEPT {
            let old = kept.pop_front().unwrap();
            let path = format!("/api/v1/WatchlistMembers/{old}");
            client.send("member DELETE", "DELETE", &path, None, 204);
        }
    });
}

/// The daemon's resources and stored data at one moment.
#[derive(Clone, Copy)]
struct Sample {
    rss_kib: u64,
    threads: u64,
    fds: u64,
    db_bytes: u64,
    members: u64,
    gallery_faces: u64,
    events: u64,
    frames_processed: u64,
    frames_dropped: u64,
}

/// Sets the flag when dropped, also when a panic unwinds: the client
/// threads stop whatever ends the run.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// How the process ended, once it has (a zombie or gone): its wait status
/// from /proc/PID/stat.
fn ended(pid: u32) -> Option<String> {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Some("gone".to_string());
    };
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    (fields.first() == Some(&"Z")).then(|| {
        let status: i32 = fields.last().and_then(|s| s.parse().ok()).unwrap_or(-1);
        format!(
            "exited with code {} (signal {})",
            (status >> 8) & 0xff,
            status & 0x7f
        )
    })
}

/// The number after `field:` in /proc/PID/status.
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("the daemon (pid {pid}) is gone: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn total(daemon: &Daemon, path: &str) -> u64 {
    let reply = daemon.get(&format!("{path}?PageSize=1&ShowTotalCount=true"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["totalItemsCount"].as_u64().unwrap()
}

fn sample(daemon: &Daemon) -> Sample {
    let pid = daemon.pid();
    let status = daemon.get("/api/facegate/v1/Status").json();
    let counter = |name: &str| {
        status[name]
            .as_u64()
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    };
    Sample {
        rss_kib: proc_status(pid, "VmRSS"),
        threads: proc_status(pid, "Threads"),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count() as u64,
        db_bytes: std::fs::metadata(daemon.data_dir.join("facegate.redb"))
            .unwrap()
            .len(),
        members: total(daemon, "/api/v1/WatchlistMembers"),
        gallery_faces: status["door"]["galleryFaces"].as_u64().unwrap(),
        events: total(daemon, "/api/facegate/v1/Events"),
        frames_processed: counter("framesProcessed"),
        frames_dropped: counter("framesDropped"),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// One minute's row: resources at its end, frames and requests during it.
struct Row {
    minute: usize,
    at: Sample,
    processed: u64,
    dropped: u64,
    requests: Minute,
}

fn print_tables(rows: &[Row], kinds: &[&'static str]) {
    println!("| minute | RSS MiB | threads | fds | DB MiB | members | gallery faces | events | frames processed | dropped | refused 429/408 | failed |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let s = row.at;
        println!(
            "| {} | {:.1} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
            row.minute,
            s.rss_kib as f64 / 1024.0,
            s.threads,
            s.fds,
            mib(s.db_bytes),
            s.members,
            s.gallery_faces,
            s.events,
            row.processed,
            row.dropped,
            row.requests.refused,
            row.requests.failed,
        );
    }
    println!("\np99 ms of each request kind (requests answered as expected in that minute):\n");
    println!("| minute | {} |", kinds.join(" | "));
    println!("|---|{}", "---|".repeat(kinds.len()));
    for row in rows.iter().filter(|r| r.minute > 0) {
        let cells: Vec<String> = kinds
            .iter()
            .map(|kind| match row.requests.latencies.get(kind) {
                Some(l) if !l.is_empty() => {
                    let mut sorted = l.clone();
                    sorted.sort();
                    format!("{:.0} ({})", load::quantile_ms(&sorted, 0.99), l.len())
                }
                _ => "-".to_string(),
            })
            .collect();
        println!("| {} | {} |", row.minute, cells.join(" | "));
    }
}

/// Least-squares slope of `values` per minute.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
    let cov: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if var == 0.0 {
        0.0
    } else {
        cov / var
    }
}

fn summary(rows: &[Row], warm_up: usize) {
    let start = &rows[0].at;
    let warm = &rows[warm_up.min(rows.len() - 1)].at;
    let end = &rows[rows.len() - 1].at;
    let after: Vec<&Row> = rows.iter().filter(|r| r.minute >= warm_up).collect();
    println!("\n| quantity | start | after warm-up (minute {warm_up}) | end (minute {}) | end vs warm-up | slope after warm-up per minute |", rows.len() - 1);
    println!("|---|---|---|---|---|---|");
    let line = |name: &str, value: &dyn Fn(&Sample) -> f64, unit: f64| {
        let points: Vec<(f64, f64)> = after
            .iter()
            .map(|r| (r.minute as f64, value(&r.at) / unit))
            .collect();
        let (w, e) = (value(warm) / unit, value(end) / unit);
        let change = match w {
            0.0 => String::from("-"),
            w => format!("{:+.1} %", (e - w) / w * 100.0),
        };
        println!(
            "| {name} | {:.1} | {w:.1} | {e:.1} | {change} | {:+.3} |",
            value(start) / unit,
            slope(&points)
        );
    };
    line("RSS MiB", &|s| s.rss_kib as f64, 1024.0);
    line("threads", &|s| s.threads as f64, 1.0);
    line("open fds", &|s| s.fds as f64, 1.0);
    line("database MiB", &|s| s.db_bytes as f64, (1 << 20) as f64);
    line("members", &|s| s.members as f64, 1.0);
    line("gallery faces", &|s| s.gallery_faces as f64, 1.0);
    line("events", &|s| s.events as f64, 1.0);
    let grew = |name: &str, w: f64, e: f64, tolerance: f64| {
        if e > w * (1.0 + tolerance) {
            println!("GROWTH: {name} {w:.1} after warm-up, {e:.1} at the end");
        }
    };
    grew(
        "RSS MiB",
        warm.rss_kib as f64 / 1024.0,
        end.rss_kib as f64 / 1024.0,
        0.05,
    );
    grew("threads", warm.threads as f64, end.threads as f64, 0.0);
    grew("open fds", warm.fds as f64, end.fds as f64, 0.0);
    grew("database MiB", mib(warm.db_bytes), mib(end.db_bytes), 0.05);
}

fn main() {
    let minutes = load::argument("--minutes", 30);
    let warm_up = load::argument("--warm-up", 5).min(minutes.saturating_sub(1));
    // The scene outlasts the run by a minute.
    let frames = vec![
        scene::frame_of("obama2.jpg"),
        scene::empty_frame(),
        scene::frame_of("biden.jpg"),
    ];
    let cycles = (minutes + 1) * 60 / 12 + 1;
    let shots = (0..cycles).flat_map(|_| [(0, 3 * FPS), (1, 3 * FPS), (2, 3 * FPS), (1, 3 * FPS)]);
    let camera_dir = scene::replay_folder(&frames, shots);
    let data = tempfile::tempdir().unwrap();
    let camera = format!("replay:{}@{FPS}", camera_dir.path().display());
    let daemon = Daemon::start_in_with_args(
        data.path(),
        Some(&format!(
            "[edge]\nevents_kept = {KEPT}\nfaces_kept = {KEPT}\n"
        )),
        &["--camera", &camera, "--relay", "fake"],
    );
    let body = json!({"id": WATCHLIST, "displayName": WATCHLIST, "fullName": WATCHLIST});
    assert_eq!(daemon.put("/api/v1/Watchlists", &body).status, 200);

    let client = Client {
        daemon: &daemon,
        minute: Mutex::default(),
        failures: Mutex::default(),
    };
    let stop = AtomicBool::new(false);
    println!(
        "soak: {minutes} min, warm-up {warm_up} min, camera {FPS} fps, daemon pid {}\n",
        daemon.pid()
    );
    let mut died = None;
    let mut rows = vec![Row {
        minute: 0,
        at: sample(&daemon),
        processed: 0,
        dropped: 0,
        requests: Minute::default(),
    }];
    std::thread::scope(|scope| {
        let workers: [fn(&Client, &AtomicBool); 4] = [enrolment, searches, verifications, edits];
        for work in workers {
            let (client, stop) = (&client, &stop);
            scope.spawn(move || work(client, stop));
        }
        let _stop = StopOnDrop(&stop);
        let started = Instant::now();
        for minute in 1..=minutes {
            let due = started + Duration::from_secs(60 * minute as u64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if let Some(how) = ended(daemon.pid()) {
                died = Some(format!("the daemon {how} during minute {minute}"));
                break;
            }
            let requests = std::mem::take(&mut *client.minute.lock().unwrap());
            let at = sample(&daemon);
            let before = rows[rows.len() - 1].at;
            let row = Row {
                minute,
                at,
                processed: at.frames_processed - before.frames_processed,
                dropped: at.frames_dropped - before.frames_dropped,
                requests,
            };
            let answered: usize = row.requests.latencies.values().map(Vec::len).sum();
            eprintln!(
                "minute {minute}: RSS {:.1} MiB, {} threads, {} fds, DB {:.2} MiB, {} members, {} faces, {} events, {} frames processed, {} dropped, {answered} requests answered, {} refused, {} failed",
                at.rss_kib as f64 / 1024.0,
                at.threads,
                at.fds,
                mib(at.db_bytes),
                at.members,
                at.gallery_faces,
                at.events,
                row.processed,
                row.dropped,
                row.requests.refused,
                row.requests.failed
            );
            rows.push(row);
        }
    });
    let mut kinds: Vec<&'static str> = rows
        .iter()
        .flat_map(|r| r.requests.latencies.keys().copied())
        .collect();
    kinds.sort();
    kinds.dedup();
    print_tables(&rows, &kinds);
    summary(&rows, warm_up);
    let failures = client.failures.into_inner().unwrap();
    let refused: u64 = rows.iter().map(|r| r.requests.refused).sum();
    println!(
        "\n{} requests answered as expected, {refused} refused (429/408), {} failed",
        rows.iter()
            .flat_map(|r| r.requests.latencies.values())
            .map(Vec::len)
            .sum::<usize>(),
        failures.len()
    );
    for failure in failures.iter().take(20) {
        println!("  {failure}");
    }
    if let Some(died) = died {
        let tail = daemon.log_tail.lock().unwrap();
        println!("\n{died}; the end of its log:");
        for line in tail.iter().rev().take(40).rev() {
            println!("  {line}");
        }
        panic!("{died}");
    }
    assert!(failures.is_empty(), "{} requests failed", failures.len());
}
