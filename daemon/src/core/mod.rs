//! The core every front end shares: the enrolled people (store and search
//! index), the face engine, the edge loop's counters, and the door's
//! decisions as they happen. The REST API (`api/`), the gRPC stream
//! (`grpc/`), the GraphQL API (`graphql/`), the edge loop (`edge/`), the
//! site link (`site/`) and the panel outputs (`osdp/`, `wiegand/`) are
//! peers over it: each imports the core, never another front end.

pub mod access;
pub mod bus;
pub mod counters;
pub mod credential;
pub mod door;
pub mod event;
pub mod health;
pub mod notification;
pub mod origin;
pub mod panel;
pub mod running;
pub mod schedule;
pub mod site;
pub mod tls;

use crate::catalog::Catalog;
use bus::EventBus;
use counters::Counters;
use door::{DoorControl, DoorWatch};
use event::DoorEvent;
use facegate_models::FaceEngine;
use panel::PanelLink;
use site::SiteLink;
use std::sync::Arc;

pub struct Core {
    pub catalog: Catalog,
    pub engine: FaceEngine,
    /// The edge loop's counters and health.
    pub counters: Arc<Counters>,
    /// Door decisions for the Server-Sent Events streams...
    pub event_streams: EventBus<DoorEvent>,
    /// ...and for the gRPC access-notification subscribers, capped apart:
    /// a stream holds a thread, a subscriber only a task...
    pub notifications: EventBus<DoorEvent>,
    /// ...and for the GraphQL subscriptions (`matchResult`, `noMatchResult`).
    pub graphql_events: EventBus<DoorEvent>,
    /// Requests to open the door now, answered by the edge loop.
    pub door: DoorControl,
    /// The door's contact, supervision counts and schedules.
    pub door_watch: DoorWatch,
    /// The link to the site's NATS servers, in site mode.
    pub site: SiteLink,
    /// The access-control panel's outputs (OSDP, Wiegand), when configured.
    pub panel: PanelLink,
}

/// A mutex's guard, even after a panic elsewhere poisoned it: the state
/// behind each of the core's mutexes stays whole between statements.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Core {
    /// Hands a decision to every live subscriber, never waiting for one.
    pub fn publish(&self, event: DoorEvent) {
        let event = Arc::new(event);
        self.event_streams.publish(event.clone());
        self.notifications.publish(event.clone());
        self.graphql_events.publish(event);
    }

    /// Hands a door's own activity (its contact, its exit button), which
    /// SmartFace's streams have no type for, to the live event streams.
    pub fn publish_door_activity(&self, event: DoorEvent) {
        self.event_streams.publish(Arc::new(event));
    }

    /// Ends every live subscription, for shutdown.
    pub fn close_subscriptions(&self) {
        self.event_streams.close();
        self.notifications.close();
        self.graphql_events.close();
    }
}
