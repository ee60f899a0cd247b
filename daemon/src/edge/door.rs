//! The door: a task that owns the relay. Holding the door open is this
//! task's business, so the loop goes on seeing (and logging) the next
//! person while the door is open; another grant during an opening extends
//! it. A relay that fails is reconnected with backoff, and once at once
//! when someone is waiting to be let in.

use crate::core::health::RelayHealth;
use facegate_hal::{DoorRelay, RelayError};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The first wait before reconnecting a failed relay; it doubles per
/// failure up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A request to open, answered once the relay took (or refused) it: true
/// when the door opened, false when an opening under way was extended.
type OpenRequest = oneshot::Sender<Result<bool, RelayError>>;

/// The handle the loop opens the door with; dropping every clone ends the
/// task, which leaves the door closed.
#[derive(Clone)]
pub struct Door {
    requests: mpsc::UnboundedSender<OpenRequest>,
}

impl Door {
    /// Starts the door's task on the current tokio runtime. `connect`
    /// makes the relay (again, after a failure).
    pub fn start<R, F>(
        connect: F,
        pulse: Duration,
        health: Arc<RelayHealth>,
    ) -> (Door, tokio::task::JoinHandle<()>)
    where
        R: DoorRelay + 'static,
        F: FnMut() -> Result<R, RelayError> + Send + 'static,
    {
        let (requests, received) = mpsc::unbounded_channel();
        let task = DoorTask {
            connect,
            relay: None,
            pulse,
            open_until: None,
            backoff: MIN_BACKOFF,
            retry_at: Instant::now(),
            health,
        };
        (Door { requests }, tokio::spawn(task.run(received)))
    }

    /// Opens the door for one pulse (true), or extends the opening under
    /// way (false). Returns once the relay has taken the command, not after
    /// the pulse.
    pub async fn open(&self) -> Result<bool, RelayError> {
        let (answer, answered) = oneshot::channel();
        self.requests
            .send(answer)
            .map_err(|_| RelayError("the door task has stopped".into()))?;
        answered
            .await
            .unwrap_or_else(|_| Err(RelayError("the door task has stopped".into())))
    }
}

struct DoorTask<R, F> {
    connect: F,
    relay: Option<R>,
    pulse: Duration,
    /// When the door is open: when to close it.
    open_until: Option<Instant>,
    backoff: Duration,
    retry_at: Instant,
    health: Arc<RelayHealth>,
}

impl<R, F> DoorTask<R, F>
where
    R: DoorRelay,
    F: FnMut() -> Result<R, RelayError>,
{
    async fn run(mut self, mut requests: mpsc::UnboundedReceiver<OpenRequest>) {
        loop {
            if self.relay.is_none() && Instant::now() >= self.retry_at {
                let _ = self.reconnect().await;
            }
            let wake = match (self.open_until, self.relay.is_none()) {
                (Some(close), true) => Some(close.min(self.retry_at)),
                (Some(close), false) => Some(close),
                (None, true) => Some(self.retry_at),
                (None, false) => None,
            };
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                request = requests.recv() => match request {
                    Some(answer) => {
                        let _ = answer.send(self.open().await);
                    }
                    None => break,
                },
                () = sleep => {
                    if self.open_until.is_some_and(|at| at <= Instant::now()) {
                        self.close().await;
                    }
                }
            }
        }
        // The loop has ended: the door is left closed.
        match self.relay.is_some() {
            true => self.close().await,
            false => drop(self.reconnect().await),
        }
    }

    /// Makes a fresh relay and closes it: a door starts closed, and a
    /// board that was reset may be in any state.
    async fn reconnect(&mut self) -> Result<(), RelayError> {
        let attempt = async {
            let mut relay = (self.connect)()?;
            relay.close().await?;
            Ok(relay)
        };
        match attempt.await {
            Ok(relay) => {
                self.relay = Some(relay);
                self.open_until = None;
                self.backoff = MIN_BACKOFF;
                self.health.connected.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                self.failed(&error);
                Err(error)
            }
        }
    }

    fn failed(&mut self, error: &RelayError) {
        self.health.failed(error);
        self.relay = None;
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    async fn open(&mut self) -> Result<bool, RelayError> {
        let until = Instant::now() + self.pulse;
        if self.relay.is_some() && self.open_until.is_some() {
            self.open_until = Some(until);
            return Ok(false);
        }
        // Someone is waiting: a broken connection is retried at once, once.
        let mut last_error = None;
        for _ in 0..2 {
            if self.relay.is_none() {
                self.reconnect().await?;
            }
            let Some(relay) = self.relay.as_mut() else {
                break;
            };
            match relay.open().await {
                Ok(()) => {
                    self.open_until = Some(until);
                    return Ok(true);
                }
                Err(error) => {
                    self.failed(&error);
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| RelayError("the relay is not connected".into())))
    }

    /// Closes the door; on failure the closing is retried after the
    /// reconnect, which closes a fresh relay.
    async fn close(&mut self) {
        let Some(relay) = self.relay.as_mut() else {
            return;
        };
        match relay.close().await {
            Ok(()) => self.open_until = None,
            Err(error) => self.failed(&error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facegate_hal::fakes::FakeRelay;
    use std::sync::atomic::AtomicU64;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn commands(relay: &FakeRelay) -> Vec<&'static str> {
        relay.commands.lock().unwrap().clone()
    }

    #[test]
    fn an_open_returns_at_once_and_the_door_closes_after_the_pulse() {
        let relay = FakeRelay::default();
        let connected = relay.clone();
        let health = Arc::new(RelayHealth::default());
        runtime().block_on(async {
            let (door, task) = Door::start(
                move || Ok(connected.clone()),
                Duration::from_millis(200),
                health.clone(),
            );
            let asked = Instant::now();
            assert!(door.open().await.unwrap(), "a closed door opens");
            assert!(
                asked.elapsed() < Duration::from_millis(150),
                "open waited for the pulse"
            );
            assert_eq!(commands(&relay), ["close", "open"]);
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert_eq!(commands(&relay), ["close", "open", "close"]);
            drop(door);
            task.await.unwrap();
        });
        assert!(health.snapshot().connected);
    }

    #[test]
    fn a_grant_during_an_opening_extends_it_without_a_second_open() {
        let relay = FakeRelay::default();
        let connected = relay.clone();
        runtime().block_on(async {
            let pulse = Duration::from_millis(300);
            let (door, _task) =
                Door::start(move || Ok(connected.clone()), pulse, Default::default());
            assert!(door.open().await.unwrap());
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(!door.open().await.unwrap(), "an open door is held longer");
            // 350 ms after the first open: past its pulse, within the second.
            tokio::time::sleep(Duration::from_millis(150)).await;
            assert_eq!(commands(&relay), ["close", "open"]);
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(commands(&relay), ["close", "open", "close"]);
        });
    }

    #[test]
    fn a_failing_relay_refuses_the_open_and_recovers_by_reconnecting() {
        let relay = FakeRelay::default();
        let connected = relay.clone();
        let health = Arc::new(RelayHealth::default());
        runtime().block_on(async {
            let (door, _task) = Door::start(
                move || Ok(connected.clone()),
                Duration::from_millis(50),
                health.clone(),
            );
            relay.broken.store(true, Ordering::SeqCst);
            let error = door.open().await.unwrap_err();
            assert!(error.0.contains("broken"), "{error}");
            let broken = health.snapshot();
            assert!(!broken.connected);
            assert!(broken.failures >= 1 && broken.last_error.is_some());
            relay.broken.store(false, Ordering::SeqCst);
            door.open().await.unwrap();
            assert!(health.snapshot().connected);
        });
        assert_eq!(commands(&relay).last(), Some(&"open"));
    }

    #[test]
    fn a_relay_that_cannot_be_connected_is_retried_with_backoff() {
        let attempts = Arc::new(AtomicU64::new(0));
        let counted = attempts.clone();
        let health = Arc::new(RelayHealth::default());
        runtime().block_on(async {
            let connect = move || -> Result<FakeRelay, RelayError> {
                counted.fetch_add(1, Ordering::SeqCst);
                Err(RelayError("no such port".into()))
            };
            let (_door, _task) = Door::start(connect, Duration::from_millis(50), health.clone());
            tokio::time::sleep(Duration::from_millis(1000)).await;
        });
        // 100 + 200 + 400 ms of backoff fit in a second; 50 tries would not.
        let tried = attempts.load(Ordering::SeqCst);
        assert!((2..=6).contains(&tried), "{tried} attempts");
        assert_eq!(
            health.snapshot().last_error.as_deref(),
            Some("no such port")
        );
    }
}
