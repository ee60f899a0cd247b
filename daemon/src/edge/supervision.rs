//! Door supervision: the door contact and the exit button, read from GPIO
//! inputs on a thread of their own, judged here. An opening while the lock
//! is released (after a grant, or the exit button) is a passage; one
//! without is "door forced open"; a door left open past its limit is "door
//! held open", said once per opening.

use super::decision::Reason;
use facegate_hal::{InputLines, LineChange};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// What the inputs report, by line: which index is which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wiring {
    pub contact: Option<usize>,
    pub exit_button: Option<usize>,
}

/// An input's news, for the edge loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The contact's state (open: true), at the start and on each change.
    Contact(bool),
    ExitPressed,
}

/// Reads `lines` until `stop`, sending what they tell; a failed read is
/// logged and tried again after a pause, never taken as a change.
pub fn watch(
    mut lines: Box<dyn InputLines>,
    wiring: Wiring,
    inputs: UnboundedSender<Input>,
    stop: Arc<AtomicBool>,
) {
    if let (Some(contact), Ok(levels)) = (wiring.contact, lines.levels()) {
        let _ = inputs.send(Input::Contact(levels[contact]));
    }
    while !stop.load(Ordering::Relaxed) {
        match lines.next_change(Duration::from_millis(100)) {
            Ok(Some(LineChange { line, active })) => {
                let input = match (
                    Some(line) == wiring.contact,
                    Some(line) == wiring.exit_button,
                ) {
                    (true, _) => Input::Contact(active),
                    (_, true) if active => Input::ExitPressed,
                    _ => continue,
                };
                if inputs.send(input).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                log::error!("door inputs: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// The door's state between inputs.
pub struct Supervisor {
    held_open_after: Duration,
    released_until: Option<Instant>,
    opened_at: Option<Instant>,
    held_told: bool,
}

impl Supervisor {
    pub fn new(held_open_after: Duration) -> Supervisor {
        Supervisor {
            held_open_after,
            released_until: None,
            opened_at: None,
            held_told: false,
        }
    }

    /// The lock is released until `until`: an opening meanwhile is a
    /// passage.
    pub fn released(&mut self, until: Instant) {
        self.released_until = self.released_until.max(Some(until));
    }

    /// The contact opened or closed at `now`: the event it makes, if any.
    pub fn contact(&mut self, open: bool, now: Instant) -> Option<Reason> {
        if !open {
            self.opened_at = None;
            return None;
        }
        if self.opened_at.is_some() {
            return None;
        }
        (self.opened_at, self.held_told) = (Some(now), false);
        let released = self.released_until.is_some_and(|until| now <= until);
        // One release lets one opening through.
        self.released_until = None;
        Some(match released {
            true => Reason::DoorPassage,
            false => Reason::DoorForcedOpen,
        })
    }

    /// Whether the door is open and past its limit at `now`: "door held
    /// open", once per opening.
    pub fn tick(&mut self, now: Instant) -> Option<Reason> {
        let opened = self.opened_at?;
        if self.held_told || now.duration_since(opened) < self.held_open_after {
            return None;
        }
        self.held_told = true;
        Some(Reason::DoorHeldOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facegate_hal::fakes::FakeInputLines;

    #[test]
    fn an_opening_after_a_release_is_a_passage_and_one_without_is_forced() {
        let (mut door, now) = (Supervisor::new(Duration::from_secs(30)), Instant::now());
        door.released(now + Duration::from_secs(1));
        assert_eq!(door.contact(true, now), Some(Reason::DoorPassage));
        assert_eq!(door.contact(true, now), None, "still open: no news");
        assert_eq!(door.contact(false, now), None);
        // The release let one opening through; the next is forced.
        assert_eq!(
            door.contact(true, now + Duration::from_millis(500)),
            Some(Reason::DoorForcedOpen)
        );
        door.contact(false, now);
        door.released(now + Duration::from_secs(1));
        assert_eq!(
            door.contact(true, now + Duration::from_secs(2)),
            Some(Reason::DoorForcedOpen),
            "after the lock locked again"
        );
    }

    #[test]
    fn a_door_left_open_is_held_open_once_per_opening() {
        let (mut door, now) = (Supervisor::new(Duration::from_secs(30)), Instant::now());
        door.released(now + Duration::from_secs(1));
        door.contact(true, now);
        assert_eq!(door.tick(now + Duration::from_secs(29)), None);
        assert_eq!(
            door.tick(now + Duration::from_secs(30)),
            Some(Reason::DoorHeldOpen)
        );
        assert_eq!(door.tick(now + Duration::from_secs(60)), None);
        door.contact(false, now + Duration::from_secs(61));
        assert_eq!(door.tick(now + Duration::from_secs(100)), None, "closed");
    }

    #[test]
    fn the_watcher_reports_the_contact_at_start_its_changes_and_button_presses_only() {
        let (changes, received) = std::sync::mpsc::channel();
        let lines = FakeInputLines {
            levels: vec![false, false],
            changes: received,
        };
        let (inputs, mut heard) = tokio::sync::mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let wiring = Wiring {
            contact: Some(0),
            exit_button: Some(1),
        };
        let watcher = {
            let stop = stop.clone();
            std::thread::spawn(move || watch(Box::new(lines), wiring, inputs, stop))
        };
        for (line, active) in [(1, true), (1, false), (0, true), (0, false)] {
            changes.send(LineChange { line, active }).unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 4 {
            got.push(heard.blocking_recv().unwrap());
        }
        assert_eq!(
            got,
            [
                Input::Contact(false),
                Input::ExitPressed,
                Input::Contact(true),
                Input::Contact(false)
            ]
        );
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap();
    }
}
