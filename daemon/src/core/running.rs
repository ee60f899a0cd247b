//! A front end's server running on a thread of its own (gRPC, GraphQL):
//! told to stop by a signal, and known to have stopped when its thread
//! lets go of its token.

use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::oneshot;

pub struct Running {
    shutdown: oneshot::Sender<()>,
    /// Disconnected when the server's thread ends.
    finished: mpsc::Receiver<()>,
}

/// What the server's thread holds: the signal to stop, and the token it
/// drops when it ends.
pub struct Stopping {
    pub signal: oneshot::Receiver<()>,
    pub token: mpsc::Sender<()>,
}

impl Running {
    pub fn new() -> (Running, Stopping) {
        let (shutdown, signal) = oneshot::channel();
        let (token, finished) = mpsc::channel();
        (Running { shutdown, finished }, Stopping { signal, token })
    }

    /// Signals the server and waits up to `limit` for its thread to end;
    /// whether it did.
    pub fn stop(self, limit: Duration) -> bool {
        let _ = self.shutdown.send(());
        matches!(
            self.finished.recv_timeout(limit),
            Err(mpsc::RecvTimeoutError::Disconnected)
        )
    }
}
