//! The door loop end to end: a replay camera shows an enrolled person, then
//! a stranger; the serial relay (a pseudo-terminal here) must receive the
//! open sequence exactly once, and the event log must show both.

mod common;

use common::{artifacts, Daemon};
use std::io::Read;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

const OPEN: [u8; 4] = [0xA0, 0x01, 0x01, 0xA2];
const CLOSE: [u8; 4] = [0xA0, 0x01, 0x00, 0xA1];

/// A pseudo-terminal: the daemon's relay writes to the returned path, the
/// test reads what a relay board would receive from the returned file.
fn pty() -> (std::fs::File, String) {
    let (mut master, mut slave) = (0, 0);
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: openpty fills the descriptors and the NUL-terminated name.
    unsafe {
        assert_eq!(
            libc::openpty(
                &mut master,
                &mut slave,
                name.as_mut_ptr(),
                std::ptr::null(),
                std::ptr::null()
            ),
            0
        );
        let mut termios: libc::termios = std::mem::zeroed();
        libc::tcgetattr(slave, &mut termios);
        libc::cfmakeraw(&mut termios);
        libc::tcsetattr(slave, libc::TCSANOW, &termios);
        libc::fcntl(master, libc::F_SETFL, libc::O_NONBLOCK);
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        (std::fs::File::from_raw_fd(master), path)
    }
}

/// Reads the live event stream until the door opens (or 60 s pass).
fn follow_live_events(base: &str) -> std::thread::JoinHandle<String> {
    use std::io::Write;
    let address = base.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "GET /api/facegate/v1/Events/Stream HTTP/1.1\r\nHost: {address}\r\n\r\n"
        )
        .unwrap();
        let mut seen = String::new();
        let mut buffer = [0u8; 4096];
        while !seen.contains("granted") {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buffer[..n])),
            }
        }
        seen
    })
}

fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

#[test]
fn an_enrolled_person_opens_the_door_once_and_a_stranger_never() {
    let data = tempfile::tempdir().unwrap();
    // Enrol Obama from one photo.
    {
        let daemon = Daemon::start_in(data.path(), None);
        daemon.enrol("obama", "obama.jpg", "staff");
    }
    // A scene: Obama (another photo) for six frames, then Biden for six.
    let scene = tempfile::tempdir().unwrap();
    let testdata = artifacts().join("testdata");
    for i in 0..12 {
        let photo = if i < 6 { "obama2.jpg" } else { "biden.jpg" };
        std::fs::copy(
            testdata.join(photo),
            scene.path().join(format!("{i:02}.jpg")),
        )
        .unwrap();
    }
    let (mut board, port) = pty();
    let config = "[edge]\ndebounce_seconds = 60.0\ncooldown_seconds = 0.0\npulse_ms = 100\n";
    let mut daemon = Daemon::start_in_with_args(
        data.path(),
        Some(config),
        &[
            "--camera",
            &format!("replay:{}@4", scene.path().display()),
            "--relay",
            &format!("serial:{port}"),
        ],
    );
    let live = follow_live_events(&daemon.base);
    // Wait (bounded) until all sixteen frames have been taken in.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = daemon.get("/api/facegate/v1/Status").json();
        if status["framesIn"] == 12
            && status["framesProcessed"].as_u64().unwrap()
                + status["framesDropped"].as_u64().unwrap()
                >= 12
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replay did not finish: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let events = daemon.get("/api/facegate/v1/Events?PageSize=100").json();
    let crop = daemon.get(events["items"][0]["cropUrl"].as_str().unwrap());
    assert_eq!(
        (crop.status, crop.content_type.as_str()),
        (200, "image/jpeg")
    );
    assert!(facegate_models::image::load_from_memory(&crop.bytes).is_ok());
    // The stream delivers the event while the daemon runs, not at its end.
    let streamed = live.join().unwrap();
    assert!(
        streamed.contains("\"reason\":\"granted\""),
        "live stream: {streamed}"
    );
    assert!(daemon.terminate(), "SIGTERM stops the daemon cleanly");

    let mut received = Vec::new();
    let _ = board.read_to_end(&mut received);
    assert_eq!(
        occurrences(&received, &OPEN),
        1,
        "relay bytes {received:02X?}"
    );
    assert!(
        received.ends_with(&CLOSE),
        "the relay is left closed: {received:02X?}"
    );

    let items = events["items"].as_array().unwrap();
    let opened: Vec<_> = items.iter().filter(|e| e["doorOpened"] == true).collect();
    assert_eq!(opened.len(), 1, "{events}");
    assert_eq!(opened[0]["watchlistMemberId"], "obama");
    assert!(opened[0]["score"].as_i64().unwrap() >= 40);
    let stranger: Vec<_> = items
        .iter()
        .filter(|e| e["reason"] == "unknown person")
        .collect();
    assert_eq!(stranger.len(), 1, "{events}");
    assert_eq!(stranger[0]["doorOpened"], false);
    assert!(stranger[0]["watchlistMemberId"].is_null(), "{events}");
    for event in items {
        assert!(event["reason"].is_string() && event["at"].is_string());
    }
}

#[test]
fn a_missing_camera_leaves_the_api_serving() {
    let daemon = Daemon::start_with_args(&[
        "--camera",
        "v4l:/dev/video-facegate-absent",
        "--relay",
        "fake",
    ]);
    assert_eq!(daemon.get("/api/v1/Version").status, 200);
    let status = daemon.get("/api/facegate/v1/Status").json();
    assert_eq!(status["running"], false);
}
