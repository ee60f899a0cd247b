//! Live delivery of events to subscribers: the Server-Sent Events streams
//! (a thread each, which waits with `next`) and the gRPC streams (tasks,
//! which wait with `next_async`).
//!
//! Each subscriber has a mailbox of at most `backlog` events. Publishing
//! never waits for a subscriber: one that cannot keep up loses its oldest
//! events and learns how many at its next delivery, so a slow client never
//! slows the edge loop or the other clients.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub struct EventBus<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    subscribers: Mutex<Subscribers<T>>,
    /// Notified whenever a subscription ends, for shutdown to wait on.
    departed: Condvar,
    max_subscribers: usize,
    backlog: usize,
}

struct Subscribers<T> {
    mailboxes: Vec<Arc<Mailbox<T>>>,
    closed: bool,
}

struct Mailbox<T> {
    /// Who subscribed, for the status (e.g. the client's address).
    subscriber: String,
    state: Mutex<MailboxState<T>>,
    /// Wakes a waiting thread (`next`) and a waiting task (`next_async`).
    ready: Condvar,
    ready_async: tokio::sync::Notify,
}

struct MailboxState<T> {
    events: VecDeque<Arc<T>>,
    /// Events lost to overflow since the last delivery.
    dropped: u64,
    /// Since subscribing, for the status.
    dropped_in_all: u64,
    delivered: u64,
    closed: bool,
}

/// One subscriber's end of the bus; unsubscribes when dropped.
pub struct Subscription<T> {
    mailbox: Arc<Mailbox<T>>,
    shared: Arc<Shared<T>>,
}

/// What a subscriber receives.
#[derive(Debug, PartialEq)]
pub enum Delivery<T> {
    /// The events published since the last delivery, after `dropped`
    /// older ones were lost because the subscriber fell behind.
    Events { dropped: u64, events: Vec<Arc<T>> },
    /// Nothing was published within the wait.
    Idle,
    /// The bus is closing: the subscriber should end.
    Closed,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One subscriber, as the status shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriberDto {
    subscriber: String,
    delivered: u64,
    /// Events it lost because it did not keep up.
    dropped: u64,
}

impl<T> EventBus<T> {
    /// A bus for at most `max_subscribers` at once, each holding at most
    /// `backlog` undelivered events.
    pub fn new(max_subscribers: usize, backlog: usize) -> EventBus<T> {
        EventBus {
            shared: Arc::new(Shared {
                subscribers: Mutex::new(Subscribers {
                    mailboxes: Vec::new(),
                    closed: false,
                }),
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

    /// Every subscriber, with what it was sent and what it lost.
    pub fn subscriber_stats(&self) -> Vec<SubscriberDto> {
        lock(&self.shared.subscribers)
            .mailboxes
            .iter()
            .map(|mailbox| {
                let state = lock(&mailbox.state);
                SubscriberDto {
                    subscriber: mailbox.subscriber.clone(),
                    delivered: state.delivered,
                    dropped: state.dropped_in_all,
                }
            })
            .collect()
    }

    /// A new subscription for `subscriber`, or `None` when
    /// `max_subscribers` are already subscribed or the bus is closed.
    pub fn subscribe(&self, subscriber: String) -> Option<Subscription<T>> {
        let mut subscribers = lock(&self.shared.subscribers);
        if subscribers.closed || subscribers.mailboxes.len() >= self.shared.max_subscribers {
            return None;
        }
        let mailbox = Arc::new(Mailbox {
            subscriber,
            state: Mutex::new(MailboxState {
                events: VecDeque::new(),
                dropped: 0,
                dropped_in_all: 0,
                delivered: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            ready_async: tokio::sync::Notify::new(),
        });
        subscribers.mailboxes.push(mailbox.clone());
        Some(Subscription {
            mailbox,
            shared: self.shared.clone(),
        })
    }

    /// Queues `message` for every subscriber, dropping a full mailbox's
    /// oldest event; never blocks on a subscriber.
    pub fn publish(&self, message: Arc<T>) {
        for mailbox in &lock(&self.shared.subscribers).mailboxes {
            let mut state = lock(&mailbox.state);
            if state.events.len() == self.shared.backlog {
                state.events.pop_front();
                state.dropped += 1;
                state.dropped_in_all += 1;
            }
            state.events.push_back(message.clone());
            mailbox.wake();
        }
    }

    /// Tells every subscriber to end and refuses new ones.
    pub fn close(&self) {
        let mut subscribers = lock(&self.shared.subscribers);
        subscribers.closed = true;
        for mailbox in &subscribers.mailboxes {
            lock(&mailbox.state).closed = true;
            mailbox.wake();
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

impl<T> Mailbox<T> {
    fn wake(&self) {
        self.ready.notify_one();
        // Stores a permit when no task waits yet, so none is missed.
        self.ready_async.notify_one();
    }
}

impl<T> MailboxState<T> {
    /// What is waiting, if anything.
    fn take(&mut self) -> Option<Delivery<T>> {
        if self.closed {
            return Some(Delivery::Closed);
        }
        if self.events.is_empty() {
            return None;
        }
        self.delivered += self.events.len() as u64;
        Some(Delivery::Events {
            dropped: std::mem::take(&mut self.dropped),
            events: self.events.drain(..).collect(),
        })
    }
}

impl<T> Subscription<T> {
    /// The events published since the last call, waiting up to `wait` for
    /// one; blocks the thread.
    pub fn next(&self, wait: Duration) -> Delivery<T> {
        let deadline = Instant::now() + wait;
        let mut state = lock(&self.mailbox.state);
        loop {
            if let Some(delivery) = state.take() {
                return delivery;
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

    /// As `next`, for a task: waits without holding a thread.
    pub async fn next_async(&self, wait: Duration) -> Delivery<T> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(delivery) = lock(&self.mailbox.state).take() {
                return delivery;
            }
            let woken = self.mailbox.ready_async.notified();
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return lock(&self.mailbox.state).take().unwrap_or(Delivery::Idle);
            }
        }
    }
}

impl<T> Drop for Subscription<T> {
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

    fn text(name: &str) -> Arc<String> {
        Arc::new(name.to_string())
    }

    fn events(names: &[&str]) -> Vec<Arc<String>> {
        names.iter().map(|&name| text(name)).collect()
    }

    #[test]
    fn subscribers_receive_what_is_published_after_they_subscribe() {
        let bus = EventBus::<String>::new(4, 8);
        bus.publish(text("before"));
        let first = bus.subscribe("test".into()).unwrap();
        bus.publish(text("one"));
        let second = bus.subscribe("test".into()).unwrap();
        bus.publish(text("two"));
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
        let bus = EventBus::<String>::new(4, 3);
        let slow = bus.subscribe("test".into()).unwrap();
        for n in 1..=5 {
            bus.publish(Arc::new(n.to_string()));
        }
        assert_eq!(
            slow.next(NO_WAIT),
            Delivery::Events {
                dropped: 2,
                events: events(&["3", "4", "5"])
            }
        );
        bus.publish(text("6"));
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
        let bus = EventBus::<String>::new(2, 8);
        let first = bus.subscribe("test".into()).unwrap();
        let _second = bus.subscribe("test".into()).unwrap();
        assert!(bus.subscribe("test".into()).is_none());
        drop(first);
        assert_eq!(bus.subscribers(), 1);
        assert!(bus.subscribe("test".into()).is_some());
    }

    #[test]
    fn closing_ends_every_subscription_and_refuses_new_ones() {
        let bus = EventBus::<String>::new(2, 8);
        let subscription = bus.subscribe("test".into()).unwrap();
        bus.publish(text("pending"));
        bus.close();
        assert_eq!(subscription.next(NO_WAIT), Delivery::Closed);
        assert!(bus.subscribe("test".into()).is_none());
        assert_eq!(bus.wait_until_unsubscribed(NO_WAIT), 1);
        let waiter = std::thread::spawn(move || drop(subscription));
        assert_eq!(bus.wait_until_unsubscribed(Duration::from_secs(60)), 0);
        waiter.join().unwrap();
    }

    #[test]
    fn a_task_waiting_for_events_is_woken_by_a_publish_and_counted() {
        let bus = Arc::new(EventBus::<String>::new(2, 2));
        let subscription = bus.subscribe("task".into()).unwrap();
        let publisher = {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for n in 1..=4 {
                    bus.publish(Arc::new(n.to_string()));
                }
            })
        };
        publisher.join().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let delivery = runtime.block_on(subscription.next_async(Duration::from_secs(60)));
        assert_eq!(
            delivery,
            Delivery::Events {
                dropped: 2,
                events: events(&["3", "4"])
            }
        );
        let idle = runtime.block_on(subscription.next_async(Duration::from_millis(10)));
        assert_eq!(idle, Delivery::Idle);
        let stats = serde_json::to_value(bus.subscriber_stats()).unwrap();
        assert_eq!(
            stats,
            serde_json::json!([{"subscriber": "task", "delivered": 2, "dropped": 2}])
        );
        bus.close();
        let closed = runtime.block_on(subscription.next_async(Duration::from_secs(60)));
        assert_eq!(closed, Delivery::Closed);
    }
}
