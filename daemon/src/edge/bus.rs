//! Live delivery of events to Server-Sent Events clients.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

/// Events each subscriber may fall behind by before it is dropped.
const BACKLOG: usize = 256;

#[derive(Default)]
pub struct EventBus {
    subscribers: Mutex<Vec<SyncSender<String>>>,
}

impl EventBus {
    pub fn subscribe(&self) -> Receiver<String> {
        let (sender, receiver) = sync_channel(BACKLOG);
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sender);
        receiver
    }

    /// Sends `message` to every subscriber; gone or hopelessly slow ones
    /// are dropped.
    pub fn publish(&self, message: &str) {
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s.try_send(message.to_string()).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_receive_what_is_published_after_they_subscribe() {
        let bus = EventBus::default();
        bus.publish("before");
        let first = bus.subscribe();
        bus.publish("one");
        let second = bus.subscribe();
        bus.publish("two");
        assert_eq!(first.try_iter().collect::<Vec<_>>(), vec!["one", "two"]);
        assert_eq!(second.try_iter().collect::<Vec<_>>(), vec!["two"]);
        drop(first);
        bus.publish("three");
        assert_eq!(bus.subscribers.lock().unwrap().len(), 1);
    }
}
