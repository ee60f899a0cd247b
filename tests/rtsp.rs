//! IP cameras over RTSP: the real daemon watches a real RTSP server
//! (GStreamer's, from Debian, through `tests/rtsp_server.py`) serving an
//! H.264 file that ffmpeg made from a replay scene, and opens a relay on a
//! pty.

mod common;

use common::door::{decisions, occurrences, pty, read_until, scene, OPEN};
use common::{wait_until, Daemon};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(60);
const USER: &str = "admin";
const PASSWORD: &str = "s3cret-Pa55";

/// The test's RTSP camera; killed with the test.
struct RtspServer {
    child: Option<(Child, ChildStdin)>,
    file: PathBuf,
    port: u16,
}

impl RtspServer {
    /// Serves `file` at rtsp://127.0.0.1:PORT/live, asking for Digest
    /// authentication.
    fn start(file: &Path) -> RtspServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RtspServer {
            child: None,
            file: file.to_path_buf(),
            port,
        };
        server.restart();
        server
    }

    fn restart(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/rtsp_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg("--file")
            .arg(&self.file)
            .args(["--port", &self.port.to_string()])
            .args(["--user", USER, "--password", PASSWORD, "--digest"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3-gi and GStreamer's RTSP server (scripts/setup.sh --test)");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let ready: Value = serde_json::from_str(&first)
            .unwrap_or_else(|_| panic!("the RTSP server did not start: {first:?}"));
        assert_eq!(ready["port"], self.port);
        let stdin = child.stdin.take().unwrap();
        self.child = Some((child, stdin));
    }

    fn kill(&mut self) {
        if let Some((mut child, _)) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self, password: &str) -> String {
        format!("rtsp://{USER}:{password}@127.0.0.1:{}/live", self.port)
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The scene as an H.264 MP4 at 640x480 and `fps`, as a camera at a door
/// would stream it (High profile, a key frame every second).
fn h264_scene(shots: &[(&str, usize)], fps: u32) -> (tempfile::TempDir, PathBuf) {
    let frames = scene(shots);
    let video = frames.path().join("scene.mp4");
    let encoded = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-framerate", &fps.to_string()])
        .arg("-i")
        .arg(frames.path().join("%03d.jpg"))
        .args([
            "-vf",
            "scale=640:480:force_original_aspect_ratio=decrease,\
             pad=640:480:(ow-iw)/2:(oh-ih)/2,format=yuv420p",
            "-c:v",
            "libx264",
            "-g",
            &fps.to_string(),
            "-bf",
            "0",
        ])
        .arg(&video)
        .status()
        .expect("ffmpeg (scripts/setup.sh --test)");
    assert!(encoded.success());
    (frames, video)
}

fn camera_status(daemon: &Daemon) -> Value {
    daemon.get("/api/facegate/v1/Status").json()
}

#[test]
fn a_member_on_an_rtsp_camera_opens_the_relay_a_stranger_does_not_and_a_restarted_camera_is_seen_again(
) {
    let data = tempfile::tempdir().unwrap();
    Daemon::start_in(data.path(), None).enrol("obama", "obama.jpg", "staff");
    let shots = [
        ("blank", 5),
        ("obama2.jpg", 6),
        ("blank", 5),
        ("biden.jpg", 8),
    ];
    let (_frames, video) = h264_scene(&shots, 5);
    let mut camera = RtspServer::start(&video);
    let (mut board, relay) = pty();
    let url = camera.url(PASSWORD);
    let daemon = Daemon::start_in_with_args(
        data.path(),
        Some("[edge]\ndebounce_seconds = 600.0\n"),
        &["--camera", &url, "--relay", &format!("serial:{relay}")],
    );
    let mut received = read_until(&mut board, &OPEN, &daemon);
    wait_until(PATIENCE, "the whole scene to be seen", || {
        decisions(&daemon)
            .iter()
            .any(|(_, member)| member.is_empty())
            && camera_status(&daemon)["framesIn"].as_u64() >= Some(24)
    });
    let decided = decisions(&daemon);
    assert!(
        decided.contains(&("granted".into(), "obama".into())),
        "{decided:?}"
    );
    assert!(
        decided
            .iter()
            .all(|(reason, member)| member == "obama" || reason == "unknown person"),
        "{decided:?}"
    );
    let _ = board.read_to_end(&mut received);
    assert_eq!(occurrences(&received, &OPEN), 1, "{received:02X?}");

    // The camera goes away: the loop says so, and sees it again when it is
    // back, by itself.
    camera.kill();
    wait_until(PATIENCE, "the camera to be lost", || {
        camera_status(&daemon)["camera"]["state"] != "streaming"
    });
    let seen_before = camera_status(&daemon)["framesIn"].as_u64().unwrap();
    camera.restart();
    wait_until(PATIENCE, "the camera to stream again", || {
        let status = camera_status(&daemon);
        status["framesIn"].as_u64().unwrap() >= seen_before + 10
    });
    let status = camera_status(&daemon);
    assert!(
        status["camera"]["reopens"].as_u64().unwrap() >= 1,
        "{status}"
    );
}

#[test]
fn a_wrong_password_is_reported_in_the_status_and_no_password_is_shown_or_logged() {
    let (_frames, video) = h264_scene(&[("blank", 5)], 5);
    let camera = RtspServer::start(&video);
    let wrong = "not-the-Pa55";
    let daemon = Daemon::start_with_args(&["--camera", &camera.url(wrong), "--relay", "fake"]);
    wait_until(PATIENCE, "the refusal in the status", || {
        camera_status(&daemon)["camera"]["lastError"]
            .as_str()
            .is_some_and(|error| error.contains("401"))
    });
    let status = camera_status(&daemon).to_string();
    assert!(status.contains("rtsp://127.0.0.1:"), "{status}");
    let config = daemon.get("/api/facegate/v1/Config").body;
    assert!(config.contains("rtsp://***@127.0.0.1"), "{config}");
    let log = [daemon.startup_log.join("\n"), {
        let tail = daemon.log_tail.lock().unwrap();
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }]
    .join("\n");
    assert!(log.contains("401"), "{log}");
    for shown in [&status, &config, &log] {
        assert!(!shown.contains(wrong) && !shown.contains(USER), "{shown}");
    }
}
