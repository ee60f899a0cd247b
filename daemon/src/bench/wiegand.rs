//! `facegate bench wiegand`: how well the Wiegand output keeps its timing
//! on a loaded machine. Frames are sent by the output's own `send_frame`
//! from a thread that does nothing else, as the daemon sends them, first
//! on an idle machine and then with busy threads on every core (work that
//! sweeps memory, as frame analysis does), and the time each line change
//! was made is recorded: how late each bit's pulse began after its slot,
//! and how long each pulse lasted. The loaded pass runs twice: with the
//! thread at normal priority, and in real time as the daemon runs it
//! where it may.
//!
//! With `wiegand.chip` set the configured lines are driven (a panel on
//! them reads the frames), so the cost of the GPIO requests is in the
//! figures; without a chip the changes go nowhere and only the sending
//! thread's own timing is measured.

use crate::config::WiegandConfig;
use crate::core::credential::Credential;
use crate::wiegand::{request_lines, run_in_real_time, send_frame, Timing};
use facegate_hal::{GpioError, OutputLines};
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Settings {
    pub frames: usize,
    /// Busy threads while loaded; 0: two per core.
    pub load_threads: usize,
    /// The card number sent.
    pub card: String,
}

/// A panel reads frames a person apart; the gap also lets a late frame
/// not delay the next.
const BETWEEN_FRAMES: Duration = Duration::from_millis(20);

/// What each pass records: every line change, and when it was made.
struct Recording<'a> {
    lines: Option<&'a mut dyn OutputLines>,
    changes: Vec<(bool, Instant)>,
}

impl OutputLines for Recording<'_> {
    fn set(&mut self, line: usize, active: bool) -> Result<(), GpioError> {
        if let Some(lines) = self.lines.as_mut() {
            lines.set(line, active)?;
        }
        self.changes.push((active, Instant::now()));
        Ok(())
    }
}

/// One pass's figures, in microseconds.
struct Pass {
    lateness: Vec<f64>,
    widths: Vec<f64>,
}

pub fn run(config: &WiegandConfig, settings: &Settings) -> Result<String, String> {
    let format = config.card_format().parse("wiegand")?;
    let card = Credential::encode(format, &settings.card)?;
    let timing = Timing::of(config);
    let mut lines = match config.chip.is_empty() {
        true => None,
        false => Some(request_lines(config)?),
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let load_threads = match settings.load_threads {
        0 => 2 * cores,
        n => n,
    };
    let mut sender = |real_time: bool| {
        let lines = lines.as_mut().map(|l| l as &mut dyn OutputLines);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    if real_time {
                        run_in_real_time()
                            .map_err(|e| format!("cannot run the sender in real time: {e}"))?;
                    }
                    send_frames(lines, &card, timing, settings.frames)
                })
                .join()
                .map_err(|_| "the sending thread panicked".to_string())?
        })
    };
    let idle = sender(false)?;
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..load_threads)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || busy(&stop))
        })
        .collect();
    let loaded = sender(false);
    let loaded_real_time = sender(true);
    stop.store(true, Ordering::Relaxed);
    load.into_iter().for_each(|thread| drop(thread.join()));
    let passes = [
        ("idle, normal priority", idle),
        ("loaded, normal priority", loaded?),
        ("loaded, real time", loaded_real_time?),
    ];

    let mut report = String::new();
    let _ = writeln!(
        report,
        "Wiegand output: {} frames of {} bits each pass, pulse {} us every {} us, lines: {}",
        settings.frames,
        card.bits.len(),
        timing.pulse.as_micros(),
        timing.interval.as_micros(),
        match config.chip.is_empty() {
            true => "none (the sending thread's timing only)".to_string(),
            false => format!(
                "{} D0 {} D1 {}",
                config.chip, config.d0_line, config.d1_line
            ),
        }
    );
    let _ = writeln!(
        report,
        "loaded: {load_threads} busy threads on {cores} cores\n\n\
         | pass | pulse start after its slot, us (p50 / p99 / p99.9 / max) \
         | pulse width, us (min / p50 / p99 / max) | pulses over 100 us | bits over 10% of the period late |\n\
         |---|---|---|---|---|"
    );
    let period = timing.interval.as_secs_f64() * 1e6;
    for (name, pass) in passes {
        let (mut late, mut widths) = (pass.lateness, pass.widths);
        late.sort_by(f64::total_cmp);
        widths.sort_by(f64::total_cmp);
        let wide = widths.iter().filter(|w| **w > 100.0).count();
        let very_late = late.iter().filter(|l| **l > period / 10.0).count();
        let _ = writeln!(
            report,
            "| {name} | {:.1} / {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} / {:.1} | {wide} of {} | {very_late} |",
            quantile(&late, 0.5),
            quantile(&late, 0.99),
            quantile(&late, 0.999),
            late.last().copied().unwrap_or(0.0),
            widths.first().copied().unwrap_or(0.0),
            quantile(&widths, 0.5),
            quantile(&widths, 0.99),
            widths.last().copied().unwrap_or(0.0),
            widths.len(),
        );
    }
    Ok(report)
}

fn send_frames(
    lines: Option<&mut dyn OutputLines>,
    card: &Credential,
    timing: Timing,
    frames: usize,
) -> Result<Pass, String> {
    let mut recording = Recording {
        lines,
        changes: Vec::with_capacity(2 * card.bits.len()),
    };
    let mut pass = Pass {
        lateness: Vec::with_capacity(frames * card.bits.len()),
        widths: Vec::with_capacity(frames * card.bits.len()),
    };
    for _ in 0..frames {
        recording.changes.clear();
        let start = Instant::now();
        send_frame(&mut recording, card, timing).map_err(|e| e.to_string())?;
        for (bit, pulse) in recording.changes.chunks(2).enumerate() {
            let [(true, rose), (false, fell)] = pulse else {
                return Err(format!("bit {bit} was not one pulse: {pulse:?}"));
            };
            let slot = start + timing.interval * bit as u32;
            pass.lateness.push(micros(rose.duration_since(slot)));
            pass.widths.push(micros(fell.duration_since(*rose)));
        }
        std::thread::sleep(BETWEEN_FRAMES);
    }
    Ok(pass)
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// The `q` quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n => sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1],
    }
}

/// Work that keeps a core busy and its caches cold: sweeps 8 MiB.
fn busy(stop: &AtomicBool) {
    let mut memory = vec![0u64; 1 << 20];
    let mut sum = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for (i, word) in memory.iter_mut().enumerate().step_by(8) {
            *word = word.wrapping_mul(31).wrapping_add(i as u64);
            sum = sum.wrapping_add(*word);
        }
    }
    std::hint::black_box(sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 50.0);
        assert_eq!(quantile(&values, 0.99), 99.0);
        assert_eq!(quantile(&values, 1.0), 100.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
