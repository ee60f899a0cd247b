//! Live delivery of events to Server-Sent Events clients.
//!
//! Each subscriber has a mailbox of at most `backlog` events. Publishing
//! never waits for a subscriber: one that cannot keep up loses its oldest
//! events and learns how many at its next delivery, so a slow client never
//! slows the edge loop or the other clients.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub struct EventBus {
    shared: Arc<Shared>,
}

struct Shared {
    subscribers: Mutex<Subscribers>,
    /// Notified whenever a subscription ends, for shutdown to wait on.
    departed: Condvar,
    max_subscribers: usize,
    backlog: usize,
}

#[derive(Default)]
struct Subscribers {
    mailboxes: Vec<Arc<Mailbox>>,
    closed: bool,
}

#[derive(Default)]
struct Mailbox {
    state: Mutex<MailboxState>,
    ready: Condvar,
}

#[derive(Default)]
struct MailboxState {
    events: VecDeque<Arc<str>>,
    /// Events lost to overflow since the last delivery.
    dropped: u64,
    closed: bool,
}

/// One subscriber's end of the bus; unsubscribes when dropped.
pub struct Subscription {
    mailbox: Arc<Mailbox>,
    shared: Arc<Shared>,
}

/// What a subscriber receives.
#[derive(Debug, PartialEq)]
pub enum Delivery {
    /// The events published since the last delivery, after `dropped`
    /// older ones were lost because the subscriber fell behind.
    Events { dropped: u64, events: Vec<Arc<str>> },
    /// Nothing was published within the wait.
    Idle,
    /// The bus is closing: the subscriber should end.
    Closed,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl EventBus {
    /// A bus for at most `max_subscribers` at once, each holding at most
    /// `backlog` undelivered events.
    pub fn new(max_subscribers: usize, backlog: usize) -> EventBus {
        EventBus {
            shared: Arc::new(Shared {
                subscribers: Mutex::default(),
                departed: Condvar::new(),
                max_subscribers,
                backlog: backlog.max(1),
            }),
        }
    }

    pub fn max_subscribers(&self) -> usize {
        self.shared.max_subscribers
    }

    pub fn subscribers(&self) -> usize {
        lock(&self.shared.subscribers).mailboxes.len()
    }

    /// A new subscription, or `None` when `max_subscribers` are already
    /// subscribed or the bus is closed.
    pub fn subscribe(&self) -> Option<Subscription> {
        let mut subscribers = lock(&self.shared.subscribers);
        if subscribers.closed || subscribers.mailboxes.len() >= self.shared.max_subscribers {
            return None;
        }
        let mailbox = Arc::new(Mailbox::default());
        subscribers.mailboxes.push(mailbox.clone());
        Some(Subscription {
            mailbox,
            shared: self.shared.clone(),
        })
    }

    /// Queues `message` for every subscriber, dropping a full mailbox's
    /// oldest event; never blocks on a subscriber.
    pub fn publish(&self, message: &str) {
        let message: Arc<str> = Arc::from(message);
        for mailbox in &lock(&self.shared.subscribers).mailboxes {
            let mut state = lock(&mailbox.state);
            if state.events.len() == self.shared.backlog {
                state.events.pop_front();
                state.dropped += 1;
            }
            state.events.push_back(message.clone());
            mailbox.ready.notify_one();
        }
    }

    /// Tells every subscriber to end and refuses new ones.
    pub fn close(&self) {
        let mut subscribers = lock(&self.shared.subscribers);
        subscribers.closed = true;
        for mailbox in &subscribers.mailboxes {
            lock(&mailbox.state).closed = true;
            mailbox.ready.notify_one();
        }
    }

    /// Waits up to `limit` for every subscription to end; how many did not.
    pub fn wait_until_unsubscribed(&self, limit: Duration) -> usize {
        let subscribers = lock(&self.shared.subscribers);
        self.shared
            .departed
            .wait_timeout_while(subscribers, limit, |s| !s.mailboxes.is_empty())
            .unwrap_or_else(|e| e.into_inner())
            .0
            .mailboxes
            .len()
    }
}

impl Subscription {
    /// The events published since the last call, waiting up to `wait` for
    /// one.
    pub fn next(&self, wait: Duration) -> Delivery {
        let deadline = Instant::now() + wait;
        let mut state = lock(&self.mailbox.state);
        loop {
            if state.closed {
                return Delivery::Closed;
            }
            if !state.events.is_empty() {
                return Delivery::Events {
                    dropped: std::mem::take(&mut state.dropped),
                    events: state.events.drain(..).collect(),
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Delivery::Idle;
            }
            state = self
                .mailbox
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        lock(&self.shared.subscribers)
            .mailboxes
            .retain(|m| !Arc::ptr_eq(m, &self.mailbox));
        self.shared.departed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_WAIT: Duration = Duration::ZERO;

    fn events(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|&name| Arc::from(name)).collect()
    }

    #[test]
    fn subscribers_receive_what_is_published_after_they_subscribe() {
        let bus = EventBus::new(4, 8);
        bus.publish("before");
        let first = bus.subscribe().unwrap();
        bus.publish("one");
        let second = bus.subscribe().unwrap();
        bus.publish("two");
        let got = |dropped, names: &[&str]| Delivery::Events {
            dropped,
            events: events(names),
        };
        assert_eq!(first.next(NO_WAIT), got(0, &["one", "two"]));
        assert_eq!(second.next(NO_WAIT), got(0, &["two"]));
        assert_eq!(second.next(NO_WAIT), Delivery::Idle);
    }

    #[test]
    fn a_subscriber_that_falls_behind_loses_the_oldest_events_and_is_told_how_many() {
        let bus = EventBus::new(4, 3);
        let slow = bus.subscribe().unwrap();
        for n in 1..=5 {
            bus.publish(&n.to_string());
        }
        assert_eq!(
            slow.next(NO_WAIT),
            Delivery::Events {
                dropped: 2,
                events: events(&["3", "4", "5"])
            }
        );
        bus.publish("6");
        assert_eq!(
            slow.next(NO_WAIT),
            Delivery::Events {
                dropped: 0,
                events: events(&["6"])
            },
            "the loss is reported once"
        );
    }

    #[test]
    fn subscriptions_beyond_the_cap_are_refused_until_one_ends() {
        let bus = EventBus::new(2, 8);
        let first = bus.subscribe().unwrap();
        let _second = bus.subscribe().unwrap();
        assert!(bus.subscribe().is_none());
        drop(first);
        assert_eq!(bus.subscribers(), 1);
        assert!(bus.subscribe().is_some());
    }

    #[test]
    fn closing_ends_every_subscription_and_refuses_new_ones() {
        let bus = EventBus::new(2, 8);
        let subscription = bus.subscribe().unwrap();
        bus.publish("pending");
        bus.close();
        assert_eq!(subscription.next(NO_WAIT), Delivery::Closed);
        assert!(bus.subscribe().is_none());
        assert_eq!(bus.wait_until_unsubscribed(NO_WAIT), 1);
        let waiter = std::thread::spawn(move || drop(subscription));
        assert_eq!(bus.wait_until_unsubscribed(Duration::from_secs(60)), 0);
        waiter.join().unwrap();
    }
}
