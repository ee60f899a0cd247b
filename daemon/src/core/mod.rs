//! The core every front end shares: the enrolled people (store and search
//! index), the face engine, the edge loop's counters, and the door's
//! decisions as they happen. The REST API (`api/`), the gRPC stream
//! (`grpc/`), the GraphQL API (`graphql/`), the edge loop (`edge/`) and the site link (`site/`) are peers over it: each imports
//! the core, never another front end.

pub mod access;
pub mod bus;
pub mod counters;
pub mod door;
pub mod event;
pub mod health;
pub mod notification;
pub mod origin;
pub mod running;
pub mod site;
pub mod tls;

use crate::catalog::Catalog;
use bus::EventBus;
use counters::Counters;
use door::DoorControl;
use event::DoorEvent;
use facegate_models::FaceEngine;
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
    /// The link to the site's NATS servers, in site mode.
    pub site: SiteLink,
}

impl Core {
    /// Hands a decision to every live subscriber, never waiting for one.
    pub fn publish(&self, event: DoorEvent) {
        let event = Arc::new(event);
        self.event_streams.publish(event.clone());
        self.notifications.publish(event.clone());
        self.graphql_events.publish(event);
    }

    /// Ends every live subscription, for shutdown.
    pub fn close_subscriptions(&self) {
        self.event_streams.close();
        self.notifications.close();
        self.graphql_events.close();
    }
}
