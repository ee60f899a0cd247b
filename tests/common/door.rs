//! The door's surroundings for the edge tests: a relay board on a
//! pseudo-terminal, a replay camera's scene, and waiting for it to play.

use super::{artifacts, Daemon};
use std::io::Read;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

pub const OPEN: [u8; 4] = [0xA0, 0x01, 0x01, 0xA2];
pub const CLOSE: [u8; 4] = [0xA0, 0x01, 0x00, 0xA1];

/// A pseudo-terminal: the daemon's relay writes to the returned path, the
/// test reads what a relay board would receive from the returned file.
pub fn pty() -> (std::fs::File, String) {
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
        // Not inherited by the daemons the tests start: a board the test
        // unplugs (closes) must be gone for the daemon too.
        libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(slave, libc::F_SETFD, libc::FD_CLOEXEC);
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        (std::fs::File::from_raw_fd(master), path)
    }
}

/// A replay folder: each (photo, n) shows that test photo for n frames;
/// "blank" is an empty hall.
pub fn scene(shots: &[(&str, usize)]) -> tempfile::TempDir {
    let scene = tempfile::tempdir().unwrap();
    let testdata = artifacts().join("testdata");
    let frames = shots
        .iter()
        .flat_map(|(photo, n)| std::iter::repeat_n(*photo, *n));
    for (i, photo) in frames.enumerate() {
        let frame = scene.path().join(format!("{i:03}.jpg"));
        match photo {
            "blank" => facegate_models::RgbImage::from_pixel(640, 480, [90, 90, 90].into())
                .save(&frame)
                .unwrap(),
            photo => drop(std::fs::copy(testdata.join(photo), &frame).unwrap()),
        }
    }
    scene
}

/// Waits (bounded) until the replay's `frames` were all taken in and
/// processed or dropped.
pub fn wait_until_played(daemon: &Daemon, frames: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = daemon.get("/api/facegate/v1/Status").json();
        let done = |name: &str| status[name].as_u64().unwrap();
        if done("framesIn") == frames && done("framesProcessed") + done("framesDropped") >= frames {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replay did not finish: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// A daemon on `data` with `config` whose door loop replays `scene` at
/// `fps` frames per second to `relay` (`serial:PATH` or `fake`), with
/// `extra` arguments.
pub fn start_door(
    data: &std::path::Path,
    config: &str,
    scene: &std::path::Path,
    fps: u32,
    relay: &str,
    extra: &[&str],
) -> Daemon {
    let camera = format!("replay:{}@{fps}", scene.display());
    let mut args = vec!["--camera", camera.as_str(), "--relay", relay];
    args.extend_from_slice(extra);
    Daemon::start_in_with_args(data, Some(config), &args)
}

/// A daemon on `data` with `config` replaying `scene` at 5 fps into a relay
/// on a fresh pty; returns it with the relay board's side.
pub fn door_on_pty(
    data: &std::path::Path,
    config: &str,
    scene: &std::path::Path,
) -> (Daemon, std::fs::File) {
    let (board, port) = pty();
    let daemon = start_door(data, config, scene, 5, &format!("serial:{port}"), &[]);
    (daemon, board)
}

/// The door's decisions, oldest first: (reason, member or "").
pub fn decisions(daemon: &Daemon) -> Vec<(String, String)> {
    let events = daemon.get("/api/facegate/v1/Events?PageSize=1000").json();
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let member = e["watchlistMemberId"].as_str().unwrap_or("");
            (
                e["reason"].as_str().unwrap().to_string(),
                member.to_string(),
            )
        })
        .collect()
}

/// Reads what the relay board receives until it holds `wanted` (or 60 s
/// pass, which fails the test with the daemon's status and decisions).
pub fn read_until(board: &mut std::fs::File, wanted: &[u8], daemon: &Daemon) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut received = Vec::new();
    while occurrences(&received, wanted) == 0 {
        assert!(
            Instant::now() < deadline,
            "the relay never received {wanted:02X?}: {received:02X?}; status {}, decisions {:?}",
            daemon.get("/api/facegate/v1/Status").body,
            decisions(daemon)
        );
        let _ = board.read_to_end(&mut received);
        std::thread::sleep(Duration::from_millis(50));
    }
    received
}
