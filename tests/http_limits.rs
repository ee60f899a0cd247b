//! The HTTP layer against hostile peers, on the real binary: what an
//! unauthenticated peer sends, or fails to send, costs a bounded amount of
//! memory, time, threads and descriptors, and never stops the API.

mod common;

use common::Daemon;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const KEY: &str = "limits-test-key";

/// Short timeouts, so that the tests can wait them out.
fn config() -> String {
    format!(
        "[server]\napi_key = \"{KEY}\"\nhead_timeout_seconds = 2.0\n\
         body_timeout_seconds = 10.0\nidle_timeout_seconds = 3.0\n"
    )
}

fn connect(daemon: &Daemon) -> TcpStream {
    let stream = TcpStream::connect(daemon.base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Reads one answer's head from a raw connection: its status and text.
fn read_head(stream: &mut TcpStream) -> (u16, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => panic!(
                "closed before an answer: {:?}",
                String::from_utf8_lossy(&head)
            ),
            Err(e) => panic!("no answer ({e}): {:?}", String::from_utf8_lossy(&head)),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    (status, text)
}

/// Whether the server closed the connection (after any answer bytes).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut rest = [0u8; 4096];
    loop {
        match stream.read(&mut rest) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn version_with_key(daemon: &Daemon) -> u16 {
    daemon
        .raw("GET", "/api/v1/Version", &[("X-Api-Key", KEY)], b"")
        .status
}

fn resident_kib(daemon: &Daemon) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn threads(daemon: &Daemon) -> usize {
    std::fs::read_dir(format!("/proc/{}/task", daemon.pid()))
        .unwrap()
        .count()
}

#[test]
fn oversized_and_ambiguous_requests_are_refused_before_anything_is_set_aside() {
    let daemon = Daemon::start_with_config(&config());

    // A body announced at 4 EiB used to abort the process on allocation.
    let mut huge = connect(&daemon);
    huge.write_all(
        b"GET /api/v1/Version HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4611686018427387904\r\n\r\n",
    )
    .unwrap();
    let (status, head) = read_head(&mut huge);
    assert_eq!(status, 413, "{head}");
    assert!(head.contains("application/problem+json"), "{head}");
    assert!(closed_by_server(&mut huge));
    assert_eq!(version_with_key(&daemon), 200, "the daemon died");

    // A body that could be framed two ways is never guessed at.
    let mut smuggled = connect(&daemon);
    smuggled
        .write_all(b"POST /api/v1/Watchlists HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        .unwrap();
    assert_eq!(read_head(&mut smuggled).0, 400);

    // One endless header line, before authentication: refused once it is
    // longer than a line may be, with the memory it took given back.
    let before = resident_kib(&daemon);
    let mut endless = connect(&daemon);
    endless
        .write_all(b"GET /api/v1/Version HTTP/1.1\r\nX-Endless: ")
        .unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 300 << 20 {
        if endless.write_all(&chunk).is_err() {
            break; // the server closed the connection
        }
        sent += chunk.len();
    }
    assert!(
        sent < 64 << 20,
        "the server read {} MiB of one header line",
        sent >> 20
    );
    let grown = resident_kib(&daemon).saturating_sub(before);
    assert!(grown < 8 * 1024, "RSS grew by {grown} KiB");
    assert_eq!(version_with_key(&daemon), 200);

    // Too many headers.
    let mut many = connect(&daemon);
    let headers: String = (0..200).map(|i| format!("X-{i}: y\r\n")).collect();
    many.write_all(format!("GET /api/v1/Version HTTP/1.1\r\n{headers}\r\n").as_bytes())
        .unwrap();
    assert_eq!(read_head(&mut many).0, 431);

    // A declared body over `max_body_bytes` is answered before it is sent.
    let over = connect(&daemon);
    let mut over = over;
    over.write_all(
        format!(
            "POST /api/v1/Watchlists HTTP/1.1\r\nHost: localhost\r\nX-Api-Key: {KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            16 * 1024 * 1024 + 1
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(read_head(&mut over).0, 413);
    let listed = daemon.raw("GET", "/api/v1/Watchlists", &[("X-Api-Key", KEY)], b"");
    assert_eq!(listed.status, 200);
}

#[test]
fn stalled_peers_hold_no_worker_and_time_out() {
    let daemon = Daemon::start_with_config(&config());
    let threads_idle = threads(&daemon);

    // 60 connections announce a small body and never send it, and 40 more
    // do the same with the key (more than the daemon has HTTP workers):
    // the poller waits for their bodies, not a worker each.
    let stalled: Vec<TcpStream> = (0..100)
        .map(|i| {
            let mut stream = connect(&daemon);
            let key = match i < 60 {
                true => String::new(),
                false => format!("X-Api-Key: {KEY}\r\n"),
            };
            let head = format!(
                "POST /api/v1/Watchlists HTTP/1.1\r\nHost: localhost\r\n{key}\
                 Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{{"
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream
        })
        .collect();
    // 30 more send a header byte every half second.
    let mut slow: Vec<TcpStream> = (0..30)
        .map(|_| {
            let mut stream = connect(&daemon);
            stream
                .write_all(b"GET /api/v1/Version HTTP/1.1\r\n")
                .unwrap();
            stream
        })
        .collect();
    // 100 connect and say nothing.
    let silent: Vec<TcpStream> = (0..100).map(|_| connect(&daemon)).collect();

    let started = Instant::now();
    assert_eq!(version_with_key(&daemon), 200);
    let member = daemon.raw(
        "GET",
        "/api/v1/WatchlistMembers/nobody",
        &[("X-Api-Key", KEY)],
        b"",
    );
    assert_eq!(member.status, 404);
    // Before the stalled bodies' timeout (10 s) ends them.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answers waited {:?} behind stalled peers",
        started.elapsed()
    );
    // Idle and stalled connections cost no thread each.
    let threads_now = threads(&daemon);
    assert!(
        threads_now < threads_idle + 20,
        "{threads_now} threads with 230 stalled connections ({threads_idle} idle)"
    );

    // The slow heads keep trickling, and get 408 once the head timeout
    // (2 s from their first byte) has passed, not a timeout per byte.
    let mut refused = vec![false; slow.len()];
    let trickling = Instant::now();
    while refused.contains(&false) && trickling.elapsed() < Duration::from_secs(6) {
        for (stream, refused) in slow.iter_mut().zip(refused.iter_mut()) {
            stream.set_nonblocking(true).unwrap();
            *refused = *refused || stream.peek(&mut [0u8; 1]).is_ok();
            stream.set_nonblocking(false).unwrap();
            if !*refused {
                stream.write_all(b"X").unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for stream in &mut slow {
        assert_eq!(read_head(stream).0, 408);
    }

    // A body that never came is told so (408) at the body timeout, and
    // the silent connections are closed in time.
    for mut stream in stalled {
        assert_eq!(read_head(&mut stream).0, 408);
    }
    for mut stream in silent {
        assert!(closed_by_server(&mut stream));
    }
    assert_eq!(version_with_key(&daemon), 200);
}

#[test]
fn kept_alive_connections_carry_requests_and_close_when_idle() {
    let daemon = Daemon::start_with_config(&config());
    let mut stream = connect(&daemon);
    // A refused request with a small body, then an authorised one on the
    // same connection: the unread body is discarded between them.
    stream
        .write_all(b"POST /api/v1/Watchlists HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        .unwrap();
    let (status, head) = read_head(&mut stream);
    assert_eq!(status, 401);
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    stream.read_exact(&mut vec![0; length]).unwrap();
    stream
        .write_all(
            format!("GET /api/v1/Version HTTP/1.1\r\nHost: localhost\r\nX-Api-Key: {KEY}\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    assert_eq!(read_head(&mut stream).0, 200);
    // Then it is closed after the idle timeout (3 s).
    let idle = Instant::now();
    assert!(closed_by_server(&mut stream));
    assert!(
        idle.elapsed() >= Duration::from_secs(2),
        "{:?}",
        idle.elapsed()
    );
}

#[test]
fn a_connection_flood_past_the_open_file_limit_leaves_the_api_serving() {
    // 300 descriptors: the daemon fits its connection cap under them.
    let daemon = Daemon::start_with_open_file_limit(&config(), 300);
    let warned = daemon
        .startup_log
        .iter()
        .any(|line| line.contains("open-file limit"));
    assert!(warned, "{:?}", daemon.startup_log);
    let flood: Vec<TcpStream> = (0..600)
        .filter_map(|_| TcpStream::connect(daemon.base.trim_start_matches("http://")).ok())
        .collect();
    assert!(flood.len() > 400, "only {} connections", flood.len());
    for _ in 0..5 {
        assert_eq!(version_with_key(&daemon), 200);
    }
    drop(flood);
    assert_eq!(version_with_key(&daemon), 200);
}
