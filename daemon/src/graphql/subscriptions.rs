//! `matchResult` and `noMatchResult`: the door's decisions as they happen,
//! from the core's bus. Each subscription is a mailbox on the GraphQL bus
//! (capped by `graphql.max_subscribers`); one that does not read loses its
//! oldest decisions, as the SSE and gRPC streams do, and the door never
//! waits for it.

use super::nodes::{Node, Notice};
use super::schema::Served;
use crate::core::bus::{Delivery, Subscription};
use crate::core::event::DoorEvent;
use async_graphql::dynamic::{FieldValue, ResolverContext, SubscriptionFieldFuture};
use async_graphql::{Error, Value};
use futures_util::stream;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// How long a mailbox is waited on before the wait starts again; a
/// closed bus (shutdown) ends the stream within it.
const WAIT: Duration = Duration::from_secs(30);

struct Subscriber {
    served: Arc<Served>,
    subscription: Subscription<DoorEvent>,
    /// `matchResult` (a member) or `noMatchResult` (a stranger).
    wants_match: bool,
    filter: Option<Value>,
    input: &'static str,
    pending: VecDeque<Node>,
}

impl Subscriber {
    async fn next(&mut self) -> Option<Result<Node, Error>> {
        loop {
            if let Some(node) = self.pending.pop_front() {
                return Some(Ok(node));
            }
            match self.subscription.next_async(WAIT).await {
                Delivery::Events { events, .. } => {
                    for event in events {
                        match self.deliverable(event) {
                            Ok(Some(node)) => self.pending.push_back(node),
                            Ok(None) => {}
                            Err(e) => return Some(Err(e)),
                        }
                    }
                }
                Delivery::Idle => {}
                Delivery::Closed => return None,
            }
        }
    }

    /// The decision as this subscription delivers it, if it wants it.
    fn deliverable(&self, event: Arc<DoorEvent>) -> Result<Option<Node>, Error> {
        let store = &self.served.core.catalog.store;
        let notice = Notice::read(event, store, &self.served.door);
        if notice.is_match() != Some(self.wants_match) {
            return Ok(None);
        }
        let node = Node::Notice(Arc::new(notice));
        let passes = match &self.filter {
            Some(filter) => {
                self.served
                    .inputs
                    .accepts(&node, filter, self.input, &self.served.reader())?
            }
            None => true,
        };
        Ok(passes.then_some(node))
    }
}

pub fn decisions(ctx: ResolverContext<'_>, wants_match: bool) -> SubscriptionFieldFuture<'_> {
    SubscriptionFieldFuture::new(async move {
        let served = ctx.data::<Arc<Served>>()?.clone();
        let bus = &served.core.graphql_events;
        let subscription = bus.subscribe("graphql".to_string()).ok_or_else(|| {
            Error::new(format!(
                "at most {} GraphQL subscriptions at once (graphql.max_subscribers)",
                bus.max_subscribers()
            ))
        })?;
        let subscriber = Subscriber {
            served: served.clone(),
            subscription,
            wants_match,
            filter: ctx.args.get("where").map(|w| w.as_value().clone()),
            input: match wants_match {
                true => "MatchResultNotificationDTOFilterInput",
                false => "NoMatchResultNotificationDTOFilterInput",
            },
            pending: VecDeque::new(),
        };
        Ok(stream::unfold(subscriber, |mut subscriber| async move {
            let next = subscriber.next().await?;
            Some((next.map(FieldValue::owned_any), subscriber))
        }))
    })
}
