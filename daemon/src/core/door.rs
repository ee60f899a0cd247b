//! Opening the door on request (the console's "open the door now"): a
//! front end asks, the edge loop, which owns the relay, opens it and logs
//! the opening as an event like any decision. The seam lives in the core
//! so that the REST API never imports the edge loop.

use super::event::DoorEvent;
use super::schedule::WatchlistSchedules;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc as tokio_mpsc;

/// One request to open now, answered once the relay took the command
/// (or refused it).
pub struct OpenRequest {
    pub answer: mpsc::Sender<Result<DoorEvent, OpenError>>,
    /// The loop must have begun opening by then, or not open at all: the
    /// one who asked has been told the door did not answer, and a door
    /// that opens for nobody, seconds later, lets anyone in.
    start_by: Instant,
}

impl OpenRequest {
    /// Whether the request waited too long to be carried out.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.start_by
    }
}

#[derive(Debug)]
pub enum OpenError {
    /// No edge loop is configured: there is no door to open.
    NoDoor,
    /// The loop has stopped (its camera ended) or did not answer in time.
    NotAnswered,
    /// The relay refused the command; the event logged says so.
    Relay {
        event: Box<DoorEvent>,
        error: String,
    },
}

/// Where requests to open go: the edge loop registers once at start.
#[derive(Default)]
pub struct DoorControl {
    opener: Mutex<Option<tokio_mpsc::UnboundedSender<OpenRequest>>>,
}

impl DoorControl {
    /// Called by the edge loop, which answers what the receiver yields.
    pub fn register(&self) -> tokio_mpsc::UnboundedReceiver<OpenRequest> {
        let (sender, receiver) = tokio_mpsc::unbounded_channel();
        *self.opener.lock().unwrap_or_else(|e| e.into_inner()) = Some(sender);
        receiver
    }

    /// Asks the edge loop to open the door, waiting up to `limit` for the
    /// relay's answer; returns the event logged. The loop may begin within
    /// the first half of `limit` and the relay has the rest to answer.
    /// Blocks: for the API's worker threads, not for async code.
    pub fn open_now(&self, limit: Duration) -> Result<DoorEvent, OpenError> {
        let (answer, answered) = mpsc::channel();
        let start_by = Instant::now() + limit / 2;
        self.opener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .ok_or(OpenError::NoDoor)?
            .send(OpenRequest { answer, start_by })
            .map_err(|_| OpenError::NotAnswered)?;
        answered
            .recv_timeout(limit)
            .unwrap_or(Err(OpenError::NotAnswered))
    }
}

/// The door as its sensors and schedules tell it, for the status and the
/// console: kept by the edge loop.
#[derive(Default)]
pub struct DoorWatch {
    schedules: Mutex<SchedulesInForce>,
    contact: Mutex<Contact>,
    pub passages: AtomicU64,
    pub held_open: AtomicU64,
    pub forced_open: AtomicU64,
    pub exit_requests: AtomicU64,
}

/// The schedules the door decides by, and where they came from.
#[derive(Default)]
struct SchedulesInForce {
    schedules: Arc<WatchlistSchedules>,
    origin: ScheduleOrigin,
}

/// Where the schedules in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ScheduleOrigin {
    /// This door's `[[schedule]]` tables (none: every watchlist admits at
    /// all hours).
    #[default]
    Config,
    /// The site's, shared by every door.
    Site,
}

/// The door contact's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Contact {
    /// No contact is wired (`door.contact_line`), or it was not read yet.
    #[default]
    Unknown,
    Closed,
    Open,
    /// Open longer than `door.held_open_seconds`.
    HeldOpen,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoorWatchDto {
    contact: Contact,
    passages: u64,
    held_open: u64,
    forced_open: u64,
    exit_requests: u64,
    schedules: Vec<ScheduleStateDto>,
    schedules_from: ScheduleOrigin,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScheduleStateDto {
    watchlist_id: String,
    schedule: String,
    time_zone: String,
    /// Whether the watchlist's members may open now.
    admits_now: bool,
}

impl DoorWatch {
    /// The schedules from now on: the config's at start, a site's
    /// whenever it changes them.
    pub fn set_schedules(&self, schedules: WatchlistSchedules, origin: ScheduleOrigin) {
        *super::lock(&self.schedules) = SchedulesInForce {
            schedules: Arc::new(schedules),
            origin,
        };
    }

    /// The schedules in force now.
    pub fn schedules(&self) -> Arc<WatchlistSchedules> {
        super::lock(&self.schedules).schedules.clone()
    }

    pub fn set_contact(&self, contact: Contact) {
        *super::lock(&self.contact) = contact;
    }

    pub fn snapshot(&self) -> DoorWatchDto {
        let now = std::time::SystemTime::now();
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let (schedules, schedules_from) = {
            let in_force = super::lock(&self.schedules);
            (in_force.schedules.clone(), in_force.origin)
        };
        DoorWatchDto {
            contact: *super::lock(&self.contact),
            passages: count(&self.passages),
            held_open: count(&self.held_open),
            forced_open: count(&self.forced_open),
            exit_requests: count(&self.exit_requests),
            schedules: schedules
                .states(now)
                .into_iter()
                .map(|(watchlist_id, schedule, admits_now)| ScheduleStateDto {
                    watchlist_id,
                    schedule: schedule.name.clone(),
                    time_zone: schedule.zone_name().to_string(),
                    admits_now,
                })
                .collect(),
            schedules_from,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_registered_loop_there_is_no_door_and_a_gone_loop_does_not_answer() {
        let control = DoorControl::default();
        let limit = Duration::from_secs(5);
        assert!(matches!(control.open_now(limit), Err(OpenError::NoDoor)));
        drop(control.register());
        assert!(matches!(
            control.open_now(limit),
            Err(OpenError::NotAnswered)
        ));
    }

    #[test]
    fn a_request_the_loop_took_up_too_late_has_expired_and_a_fresh_one_has_not() {
        let control = DoorControl::default();
        let mut requests = control.register();
        // Nobody answers: the request times out, then the loop gets to it.
        let unanswered = control.open_now(Duration::from_millis(50));
        assert!(matches!(unanswered, Err(OpenError::NotAnswered)));
        assert!(requests.try_recv().unwrap().expired());
        // One the loop takes up at once is carried out.
        let asking = std::thread::spawn(move || {
            let fresh = requests.blocking_recv().unwrap();
            assert!(!fresh.expired());
        });
        let _ = control.open_now(Duration::from_secs(60));
        asking.join().unwrap();
    }
}
