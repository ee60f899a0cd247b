//! Facegate's own endpoints, under `/api/facegate/v1`, apart from the
//! SmartFace paths: the door's event log (paged, and live as Server-Sent
//! Events), each event's face crop, and the status: the edge loop's
//! counters and the engine's execution providers.

use super::admission::AdmissionDto;
use super::paging::{page_request, paged_response};
use super::problem::Problem;
use super::status::EngineStatus;
use super::Api;
use crate::core::bus::{Delivery, SubscriberDto, Subscription};
use crate::core::counters::CountersDto;
use crate::core::door::DoorWatchDto;
use crate::core::event::{DoorEvent, EventDto};
use crate::core::panel::OutputState;
use crate::core::site::SiteLinkDto;
use crate::score::Scale;
use crate::store::{free_space, DATABASE_FILE};
use rouille::{Request, Response, ResponseBody};
use serde::Serialize;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

pub fn list(api: &Api, request: &Request) -> Result<Response, Problem> {
    let page_request = page_request(request, api.max_page_size)?;
    let page = api
        .core
        .catalog
        .store
        .events(&page_request)
        .map_err(Problem::from)?;
    Ok(paged_response(
        "/api/facegate/v1/Events",
        &page_request,
        page.map(|e| EventDto::from(&e)),
    ))
}

pub fn crop(api: &Api, sequence: &str) -> Result<Response, Problem> {
    let not_found = || Problem::not_found(format!("event `{sequence}` does not exist"));
    let sequence: u64 = sequence.parse().map_err(|_| not_found())?;
    let event = api
        .core
        .catalog
        .store
        .event(sequence)
        .map_err(Problem::from)?
        .ok_or_else(not_found)?;
    Ok(Response::from_data("image/jpeg", event.crop))
}

/// The status: the edge loop's counters, the data directory's space, the
/// biometric queue and the event streams.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusDto {
    #[serde(flatten)]
    edge: CountersDto,
    /// Enrolled faces in the search index.
    gallery_faces: usize,
    engine: EngineStatus,
    storage: StorageDto,
    biometric: AdmissionDto,
    event_streams: EventStreamsDto,
    access_notifications: AccessNotificationsDto,
    /// The GraphQL subscriptions (`matchResult`, `noMatchResult`).
    graphql_subscriptions: AccessNotificationsDto,
    /// The link to the site, `null` for a standalone door.
    site: Option<SiteLinkDto>,
    /// The door's contact, its supervision counts and its schedules.
    door_state: DoorWatchDto,
    /// The access-control panel's outputs (OSDP reader, Wiegand lines).
    panel: Vec<OutputState>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StorageDto {
    data_dir: String,
    /// The database file's size; `None` when it cannot be read.
    database_bytes: Option<u64>,
    /// `None` when the filesystem cannot be asked.
    free_bytes: Option<u64>,
    total_bytes: Option<u64>,
    low_space_warning_bytes: u64,
    /// Set when free space is below `low_space_warning_bytes` or unknown.
    warning: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventStreamsDto {
    open: usize,
    max: usize,
}

/// The gRPC subscribers, each with what it was sent and lost.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessNotificationsDto {
    max: usize,
    subscribers: Vec<SubscriberDto>,
}

fn storage_status(api: &Api) -> StorageDto {
    let dir = api.core.catalog.store.data_dir();
    let threshold = api.low_space_warning_bytes;
    let space = free_space(dir);
    let warning = match &space {
        Ok(space) if space.free < threshold => Some(format!(
            "only {} bytes are free on the data directory's filesystem \
             (warning below {threshold}); writes get 507 once it is full",
            space.free
        )),
        Ok(_) => None,
        Err(e) => Some(format!(
            "cannot read the free space of the data directory: {e}"
        )),
    };
    let space = space.ok();
    StorageDto {
        data_dir: dir.display().to_string(),
        database_bytes: std::fs::metadata(dir.join(DATABASE_FILE))
            .ok()
            .map(|meta| meta.len()),
        free_bytes: space.map(|s| s.free),
        total_bytes: space.map(|s| s.total),
        low_space_warning_bytes: threshold,
        warning,
    }
}

pub fn status(api: &Api) -> Result<Response, Problem> {
    Ok(Response::json(&StatusDto {
        edge: api.core.counters.snapshot(
            api.core.catalog.indexed_faces(),
            Scale::of_engine(&api.core.engine),
        ),
        gallery_faces: api.core.catalog.indexed_faces(),
        engine: EngineStatus::of(&api.core.engine),
        storage: storage_status(api),
        biometric: api.admission.snapshot(),
        event_streams: EventStreamsDto {
            open: api.core.event_streams.subscribers(),
            max: api.core.event_streams.max_subscribers(),
        },
        access_notifications: AccessNotificationsDto {
            max: api.core.notifications.max_subscribers(),
            subscribers: api.core.notifications.subscriber_stats(),
        },
        graphql_subscriptions: AccessNotificationsDto {
            max: api.core.graphql_events.max_subscribers(),
            subscribers: api.core.graphql_events.subscriber_stats(),
        },
        site: api.core.site.snapshot(),
        door_state: api.core.door_watch.snapshot(),
        panel: api.core.panel.states(),
    }))
}

/// The live event stream as Server-Sent Events: one `data:` line per
/// event, `: dropped N events` when the client fell so far behind that the
/// oldest of its undelivered events were discarded, and a comment every
/// 15 s so that a departed client is noticed.
///
/// tiny_http, under rouille, sends a body of unknown length in 8 KiB chunks
/// and flushes only when a chunk is full, so a streamed body would reach
/// the client (headers included) only once 8 KiB of events had gathered.
/// The stream therefore takes the connection over, as an upgrade does:
/// tiny_http sends the head at once (with `Connection: upgrade`, which
/// clients ignore on a 200), and each event is written and flushed by
/// itself. The body, without a length, ends when the connection closes.
struct EventStream {
    subscription: Option<Subscription<DoorEvent>>,
}

/// Comments keep an idle connection alive this often.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A writer only formats and writes short messages.
const WRITER_STACK_BYTES: usize = 64 * 1024;

/// Seconds a client refused for the stream cap is asked to wait.
const STREAM_RETRY_AFTER_SECONDS: u64 = 5;

impl rouille::Upgrade for EventStream {
    /// Runs on the request worker, which must go back to the pool at once:
    /// the stream gets a thread of its own. The socket is an opaque blocking
    /// writer, so one thread serving every stream would stall them all
    /// behind a single client whose TCP window is full; a thread per stream
    /// with a small stack costs little, and the streams are capped by
    /// `server.max_event_streams`. A client that stops reading is dropped
    /// once a write waits past `server.body_timeout_seconds`.
    fn build(&mut self, socket: Box<dyn rouille::ReadWrite + Send>) {
        let Some(subscription) = self.subscription.take() else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("event-stream".into())
            .stack_size(WRITER_STACK_BYTES)
            .spawn(move || write_events(socket, &subscription));
        if let Err(e) = spawned {
            log::warn!("cannot start an event stream: {e}");
        }
    }
}

/// Writes the subscription's events to the client until either ends.
fn write_events(
    mut socket: Box<dyn rouille::ReadWrite + Send>,
    subscription: &Subscription<DoorEvent>,
) {
    let mut message = b": connected\n\n".to_vec();
    loop {
        if socket
            .write_all(&message)
            .and_then(|()| socket.flush())
            .is_err()
        {
            return; // the client is gone
        }
        message = match subscription.next(KEEP_ALIVE) {
            Delivery::Events { dropped, events } => sse_messages(dropped, &events),
            Delivery::Idle => b": keep-alive\n\n".to_vec(),
            Delivery::Closed => {
                let _ = socket
                    .write_all(b": the server is shutting down\n\n")
                    .and_then(|()| socket.flush());
                return;
            }
        };
    }
}

/// Events as SSE text, after a notice of the `dropped` ones.
fn sse_messages(dropped: u64, events: &[Arc<DoorEvent>]) -> Vec<u8> {
    sse_text(dropped, events.iter().map(|event| event.json()))
}

fn sse_text(dropped: u64, events: impl Iterator<Item = String>) -> Vec<u8> {
    let mut text = match dropped {
        0 => String::new(),
        n => format!(": dropped {n} events\n\n"),
    };
    for event in events {
        text.push_str(&format!("data: {event}\n\n"));
    }
    text.into_bytes()
}

pub fn stream(api: &Api, request: &Request) -> Result<Response, Problem> {
    let client = request.remote_addr().to_string();
    let subscription = api.core.event_streams.subscribe(client).ok_or_else(|| {
        Problem::service_unavailable(
            format!(
                "at most {} event streams may be open at once (server.max_event_streams)",
                api.core.event_streams.max_subscribers()
            ),
            STREAM_RETRY_AFTER_SECONDS,
        )
    })?;
    Ok(Response {
        status_code: 200,
        headers: vec![
            ("Content-Type".into(), "text/event-stream".into()),
            ("Cache-Control".into(), "no-cache".into()),
        ],
        data: ResponseBody::empty(),
        upgrade: Some(Box::new(EventStream {
            subscription: Some(subscription),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_events_are_announced_before_the_ones_that_follow() {
        let events = || ["{\"a\":1}", "{\"b\":2}"].map(String::from).into_iter();
        assert_eq!(
            String::from_utf8(sse_text(3, events())).unwrap(),
            ": dropped 3 events\n\ndata: {\"a\":1}\n\ndata: {\"b\":2}\n\n"
        );
        assert_eq!(
            String::from_utf8(sse_text(0, events().take(1))).unwrap(),
            "data: {\"a\":1}\n\n"
        );
    }
}
