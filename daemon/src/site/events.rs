//! Every decision of this door, sent to the site's event stream in order.
//!
//! The door's event log in redb is the outbox: the store keeps the first
//! event the stream has not acknowledged (`next_event_for_site`), and from
//! there on events are sent when the link allows, oldest first. Each message carries a
//! JetStream message id made of the door, its database and the event's
//! sequence, so an event sent again after a crash between the stream's
//! acknowledgement and the store's note of it is dropped by the stream as
//! a duplicate (within the stream's duplicate window, 2 minutes).

use super::{write_off_runtime, Names};
use crate::core::event::{rfc3339, EventDto};
use crate::core::Core;
use crate::store::{Event, Timestamp};
use async_nats::connection::State;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use async_nats::Client;
use std::sync::Arc;
use std::time::Duration;

/// Events sent before their acknowledgements are awaited.
const BATCH: usize = 128;

/// How often the log is looked at for new events, and a lost link retried.
const POLL: Duration = Duration::from_millis(200);

/// Sends the door's events for as long as the daemon runs. A failure of
/// the link or the store is reported and retried: the door goes on.
pub(super) async fn send(client: &Client, names: &Names, core: &Arc<Core>) {
    let mut outbox = Outbox {
        client,
        jetstream: jetstream::new(client.clone()),
        names,
        core,
        stream_ready: false,
        message_id_prefix: None,
    };
    loop {
        if client.connection_state() != State::Connected {
            // A reconnection may be to a server of a new deployment.
            outbox.stream_ready = false;
        }
        match outbox.send_waiting().await {
            Ok(true) => {}
            Ok(false) => tokio::time::sleep(POLL).await,
            Err(e) => {
                log::warn!("site: {e}");
                core.site.update(|state| state.last_error = Some(e));
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// What sending keeps between batches.
struct Outbox<'a> {
    client: &'a Client,
    jetstream: jetstream::Context,
    names: &'a Names,
    core: &'a Arc<Core>,
    /// The stream was made or found on this connection.
    stream_ready: bool,
    /// `<door>.<database id>.`, made once.
    message_id_prefix: Option<String>,
}

impl Outbox<'_> {
    /// Sends a batch of the events the stream has not acknowledged yet;
    /// whether there was any to send.
    async fn send_waiting(&mut self) -> Result<bool, String> {
        let (core, names) = (self.core, self.names);
        let store = &core.catalog.store;
        let unsent = store.next_event_for_site().map_err(|e| e.to_string())?;
        let next = store.next_event_sequence().map_err(|e| e.to_string())?;
        core.site.update(|state| {
            state.next_event_to_send = unsent;
            state.events_waiting = next.saturating_sub(unsent);
        });
        if next == unsent || self.client.connection_state() != State::Connected {
            return Ok(false);
        }
        if !self.stream_ready {
            event_stream(&self.jetstream, names)
                .await
                .map_err(|e| format!("cannot open the site's event stream: {e}"))?;
            self.stream_ready = true;
        }
        let prefix = self.message_id_prefix().await?;
        let batch = store
            .events_from(unsent, BATCH)
            .map_err(|e| e.to_string())?;
        // Events the log's retention dropped before they were sent are
        // reported, and count as dealt with.
        let kept_from = batch.first().map_or(unsent, |first| first.sequence);
        if kept_from > unsent {
            let lost = kept_from - unsent;
            log::warn!("site: the door's log dropped {lost} events before they could be sent");
            core.site.update(|state| state.events_lost_unsent += lost);
        }
        let (acknowledged, error) = publish(&self.jetstream, names, &prefix, &batch).await;
        let unsent_now = acknowledged.map_or(kept_from, |last| last + 1);
        if unsent_now > unsent {
            write_off_runtime(core, move |core| {
                let store = &core.catalog.store;
                store
                    .set_next_event_for_site(unsent_now)
                    .map_err(|e| e.to_string())
            })
            .await?;
            core.site
                .update(|state| state.last_sent_at = Some(rfc3339(Timestamp::now())));
        }
        match error {
            Some(e) => Err(format!("sending events to the site: {e}")),
            None => Ok(true),
        }
    }

    /// The door and its database (an id made once and kept in it), so that
    /// a door whose database was replaced starts new message ids.
    async fn message_id_prefix(&mut self) -> Result<String, String> {
        if let Some(prefix) = &self.message_id_prefix {
            return Ok(prefix.clone());
        }
        let database = write_off_runtime(self.core, |core| {
            core.catalog
                .store
                .camera_stream_id()
                .map_err(|e| e.to_string())
        })
        .await?;
        let prefix = format!("{}.{database}.", self.names.door_id);
        self.message_id_prefix = Some(prefix.clone());
        Ok(prefix)
    }
}

/// The site's event stream, made by the first door to need it.
async fn event_stream(jetstream: &jetstream::Context, names: &Names) -> Result<(), String> {
    jetstream
        .get_or_create_stream(stream::Config {
            name: names.event_stream(),
            subjects: vec![names.event_subjects()],
            storage: stream::StorageType::File,
            num_replicas: names.replicas,
            ..Default::default()
        })
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Sends `batch` and waits for the stream's acknowledgements: the
/// sequence of the last event of the unbroken acknowledged run, and the
/// error that broke it, if any.
async fn publish(
    jetstream: &jetstream::Context,
    names: &Names,
    message_id_prefix: &str,
    batch: &[Event],
) -> (Option<u64>, Option<String>) {
    let subject = names.door_events();
    let mut acknowledgements = Vec::with_capacity(batch.len());
    for event in batch {
        let message = PublishMessage::build()
            .payload(message(event, names).into())
            .message_id(format!("{message_id_prefix}{}", event.sequence));
        match jetstream.send_publish(subject.clone(), message).await {
            Ok(acknowledgement) => acknowledgements.push((event.sequence, acknowledgement)),
            // Those sent already are sent again later, as duplicates.
            Err(e) => return (None, Some(e.to_string())),
        }
    }
    let mut through = None;
    for (sequence, acknowledgement) in acknowledgements {
        match acknowledgement.await {
            Ok(_) => through = Some(sequence),
            Err(e) => return (through, Some(e.to_string())),
        }
    }
    (through, None)
}

/// The event as the REST API shows it, with the door it happened at.
fn message(event: &Event, names: &Names) -> Vec<u8> {
    let mut json = serde_json::to_value(EventDto::from(event)).unwrap_or_default();
    if let Some(fields) = json.as_object_mut() {
        fields.insert("siteId".into(), names.site_id.clone().into());
        fields.insert("doorId".into(), names.door_id.clone().into());
    }
    json.to_string().into_bytes()
}
