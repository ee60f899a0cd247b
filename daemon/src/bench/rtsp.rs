//! `facegate bench rtsp`: what reading an IP camera costs. The camera's
//! stream is read for a while by `RtspCamera`, as the door loop reads it,
//! with a consumer that takes a picture and then spends `analysis` on it
//! (sleeping, so that the process's CPU time is the camera's: RTSP,
//! decoding and the pictures' conversion). Run it pinned to one core
//! (`taskset -c 1`) to read the cost as a share of that core.

use facegate_hal::{Camera, RtspCamera, RtspTransport};
use std::fmt::Write;
use std::time::{Duration, Instant};

pub struct Settings {
    pub url: String,
    pub seconds: f64,
    /// How long the loop spends on each picture it takes.
    pub analysis: Duration,
    pub transport: RtspTransport,
}

pub fn run(settings: &Settings) -> Result<String, String> {
    let mut camera = RtspCamera::open(&settings.url, settings.transport).map_err(|e| e.message)?;
    // The first second (connection, first key frame) is not measured.
    let warm_until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < warm_until {
        camera.next_frame().map_err(|e| e.message)?;
    }
    let (before, cpu_before, started) = (camera.counts(), cpu_seconds(), Instant::now());
    let mut size = (0, 0);
    while started.elapsed().as_secs_f64() < settings.seconds {
        let frame = camera.next_frame().map_err(|e| e.message)?;
        if let Some(frame) = frame {
            size = frame.image.dimensions();
        }
        std::thread::sleep(settings.analysis);
    }
    let (after, cpu, wall) = (
        camera.counts(),
        cpu_seconds() - cpu_before,
        started.elapsed().as_secs_f64(),
    );
    let delta = |pick: fn(&facegate_hal::DecodeCounts) -> u64| pick(&after) - pick(&before);
    let mut report = String::new();
    let _ = writeln!(
        report,
        "| picture | seconds | CPU s per s of video | frames received | decoded | skipped undecoded | taken by the loop |\n\
         |---|---|---|---|---|---|---|\n\
         | {}x{} | {wall:.1} | {:.3} | {} | {} | {} | {} |",
        size.0,
        size.1,
        cpu / wall,
        delta(|c| c.received),
        delta(|c| c.decoded),
        delta(|c| c.skipped),
        delta(|c| c.taken),
    );
    Ok(report)
}

/// The process's user and system CPU time so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
