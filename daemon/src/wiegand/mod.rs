//! The Wiegand output, for panels without OSDP: the member's card number
//! as Wiegand bits on two GPIO lines (D0 pulses for a 0, D1 for a 1), each
//! pulse `pulse_us` long and one every `interval_us`. Frames are sent from
//! a thread that does nothing else, spinning for the microsecond parts, so
//! a loaded board keeps the timing panels expect (docs/BENCHMARKS.md).
//! Wiegand has no way back: the panel's verdict is never known here.

use crate::config::WiegandConfig;
use crate::core::credential::{CardFormat, Credential};
use crate::core::panel::{OutputState, PanelAnswer, PanelVerdict};
use crate::core::Core;
use facegate_hal::{CdevLines, LineSpec, OutputLines};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Line 0 carries the zeros, line 1 the ones.
const D0: usize = 0;
const D1: usize = 1;

/// The pulse widths and the bit period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub pulse: Duration,
    pub interval: Duration,
}

/// Starts the output's thread: the lines are requested now, so a wrong
/// chip or a line in use is an error at start.
pub fn start(config: &WiegandConfig, core: &Core) -> Result<(), String> {
    let format = config.card_format().parse("wiegand")?;
    let lines = request_lines(config)?;
    let timing = Timing::of(config);
    let state = OutputState {
        kind: "wiegand".into(),
        device: format!(
            "{} D0 {} D1 {}",
            config.chip, config.d0_line, config.d1_line
        ),
        online: true,
        ..OutputState::default()
    };
    let (mut presentations, state) = core.panel.register(state);
    let card_label = config.card_label.clone();
    std::thread::Builder::new()
        .name("wiegand".into())
        .spawn(move || {
            match run_in_real_time() {
                Ok(()) => log::info!("wiegand: the output's thread runs in real time"),
                Err(e) => log::warn!(
                    "wiegand: the output's thread runs at normal priority ({e}): on a loaded \
                     machine its bits can come milliseconds late (docs/BENCHMARKS.md); \
                     the systemd unit needs RestrictRealtime=no and LimitRTPRIO={REAL_TIME_PRIORITY} \
                     (docs/EDGE.md)"
                ),
            }
            let mut lines = lines;
            // Ends when the core, and with it the panel link, is gone.
            while let Some(presentation) = presentations.blocking_recv() {
                let answer = send_member(
                    &mut lines,
                    format,
                    &card_label,
                    &presentation.labels,
                    timing,
                    &state,
                );
                let _ = presentation.answer.send(answer);
            }
        })
        .map_err(|e| format!("cannot start the Wiegand thread: {e}"))?;
    Ok(())
}

/// The real-time priority of the thread that sends frames: above the
/// daemon's other threads and any ordinary process, below the kernel's
/// own interrupt threads (50).
pub const REAL_TIME_PRIORITY: i32 = 40;

/// Makes the calling thread a real-time one (SCHED_FIFO), so that no
/// ordinary thread delays a bit or stretches a pulse. It sleeps between
/// bits and spins at most a pulse and a few hundred microseconds at a
/// time, so it never holds a core for long. Needs CAP_SYS_NICE or an
/// RLIMIT_RTPRIO of at least `REAL_TIME_PRIORITY`.
pub fn run_in_real_time() -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: REAL_TIME_PRIORITY,
    };
    // SAFETY: the parameter is a valid sched_param; pid 0 is this thread.
    match unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// The configured chip's D0 and D1 lines, as outputs, idle (high).
pub fn request_lines(config: &WiegandConfig) -> Result<CdevLines, String> {
    let line = |offset| LineSpec {
        offset,
        active_low: true,
    };
    CdevLines::outputs(&config.chip, &[line(config.d0_line), line(config.d1_line)])
        .map_err(|e| e.to_string())
}

impl Timing {
    pub fn of(config: &WiegandConfig) -> Timing {
        Timing {
            pulse: Duration::from_micros(config.pulse_us),
            interval: Duration::from_micros(config.interval_us),
        }
    }
}

fn send_member(
    lines: &mut dyn OutputLines,
    format: CardFormat,
    card_label: &str,
    labels: &std::collections::BTreeMap<String, String>,
    timing: Timing,
    state: &Arc<Mutex<OutputState>>,
) -> PanelAnswer {
    let card = labels
        .get(card_label)
        .ok_or_else(|| format!("the member has no {card_label:?} label"))
        .and_then(|number| Credential::encode(format, number));
    let card = match card {
        Ok(card) => card,
        Err(why) => return PanelAnswer::NoCard(why),
    };
    let sent = send_frame(lines, &card, timing);
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    match sent {
        Ok(()) => {
            state.cards_sent += 1;
            PanelAnswer::Sent(PanelVerdict::None)
        }
        Err(e) => {
            state.last_error = e.to_string();
            PanelAnswer::NoCard(format!("the Wiegand lines failed: {e}"))
        }
    }
}

/// Sends one frame: each bit a pulse on its line at its own slot, the
/// slots measured from the frame's start so that delays do not add up.
pub fn send_frame(
    lines: &mut dyn OutputLines,
    card: &Credential,
    timing: Timing,
) -> Result<(), facegate_hal::GpioError> {
    let start = Instant::now();
    for (i, bit) in card.bits.iter().enumerate() {
        let line = if *bit { D1 } else { D0 };
        let slot = start + timing.interval * i as u32;
        wait_until(slot);
        lines.set(line, true)?;
        // From when the line is driven, so no pulse is ever short.
        wait_until(Instant::now() + timing.pulse);
        lines.set(line, false)?;
    }
    Ok(())
}

/// Sleeps until shortly before `deadline`, then spins: a sleep alone
/// overshoots by tens of microseconds, more than a pulse's tolerance.
fn wait_until(deadline: Instant) {
    const SPIN: Duration = Duration::from_micros(200);
    let left = deadline.saturating_duration_since(Instant::now());
    if left > SPIN {
        std::thread::sleep(left - SPIN);
    }
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facegate_hal::fakes::FakeOutputLines;

    const TIMING: Timing = Timing {
        pulse: Duration::from_micros(50),
        interval: Duration::from_micros(2000),
    };

    #[test]
    fn each_bit_is_one_pulse_on_its_line_in_order() {
        let card =
            Credential::encode(CardFormat::Wiegand26 { facility_code: 18 }, "12345").unwrap();
        let mut lines = FakeOutputLines::default();
        send_frame(&mut lines, &card, TIMING).unwrap();
        let changes = lines.changes.lock().unwrap().clone();
        assert_eq!(changes.len(), 2 * 26);
        let mut sent = Vec::new();
        for pair in changes.chunks(2) {
            let ((line, on, _), (same, off, _)) = (pair[0], pair[1]);
            assert!(on && !off && line == same, "{pair:?}");
            sent.push(line == D1);
        }
        // The bits on the wire are the card's, parity bits included.
        assert_eq!(sent, card.bits);
    }

    #[test]
    fn pulses_last_at_least_their_width_and_no_bit_comes_before_its_slot() {
        let card = Credential::encode(CardFormat::Raw { bits: 8 }, "170").unwrap();
        let mut lines = FakeOutputLines::default();
        let called = Instant::now();
        send_frame(&mut lines, &card, TIMING).unwrap();
        let changes = lines.changes.lock().unwrap().clone();
        for (i, pair) in changes.chunks(2).enumerate() {
            assert!(pair[1].2 - pair[0].2 >= TIMING.pulse);
            // Slots are measured from the frame's start, so delays do not
            // add up; how close to its slot each bit is, is in the bench.
            assert!(pair[0].2 - called >= TIMING.interval * i as u32);
        }
    }

    #[test]
    fn a_member_without_a_card_number_sends_nothing() {
        let state = Arc::new(Mutex::new(OutputState::default()));
        let mut lines = FakeOutputLines::default();
        let format = CardFormat::Wiegand26 { facility_code: 1 };
        let answer = send_member(
            &mut lines,
            format,
            "cardNumber",
            &Default::default(),
            TIMING,
            &state,
        );
        assert!(matches!(answer, PanelAnswer::NoCard(_)));
        assert!(lines.changes.lock().unwrap().is_empty());
        let labels = [("cardNumber".to_string(), "77".to_string())].into();
        let answer = send_member(&mut lines, format, "cardNumber", &labels, TIMING, &state);
        assert_eq!(answer, PanelAnswer::Sent(PanelVerdict::None));
        assert_eq!(state.lock().unwrap().cards_sent, 1);
    }
}
