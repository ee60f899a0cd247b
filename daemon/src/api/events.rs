//! Facegate's own endpoints, under `/api/facegate/v1`, apart from the
//! SmartFace paths: the door's event log (paged, and live as Server-Sent
//! Events), each event's face crop, and the status: the edge loop's
//! counters and the engine's execution providers.

use super::paging::{page_request, paged_response};
use super::problem::Problem;
use super::status::{EngineStatus, Status};
use super::{rfc3339, Api};
use crate::store::Event;
use rouille::{Request, Response, ResponseBody};
use serde::Serialize;
use std::io::Write;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventDto {
    sequence: u64,
    at: String,
    watchlist_member_id: Option<String>,
    score: Option<i32>,
    liveness_score: Option<f32>,
    door_opened: bool,
    reason: String,
    crop_url: String,
    /// The face decided on, a SmartFace `Face` (`AddFaceFromSystem`
    /// enrols from it) while retention keeps it.
    face_id: Option<String>,
    tracklet_id: Option<String>,
}

impl From<&Event> for EventDto {
    fn from(e: &Event) -> Self {
        EventDto {
            sequence: e.sequence,
            at: rfc3339(e.at),
            watchlist_member_id: e.member_id.clone(),
            score: e.score,
            liveness_score: e.liveness,
            door_opened: e.opened,
            reason: e.reason.clone(),
            crop_url: format!("/api/facegate/v1/Events/{}/Crop", e.sequence),
            face_id: e.face_id.clone(),
            tracklet_id: e.tracklet_id.clone(),
        }
    }
}

/// An event as the JSON the list and the live stream carry.
pub fn event_json(event: &Event) -> String {
    serde_json::to_string(&EventDto::from(event)).unwrap_or_default()
}

pub fn list(api: &Api, request: &Request) -> Result<Response, Problem> {
    let page_request = page_request(request, api.max_page_size)?;
    let page = api
        .catalog
        .store
        .events(&page_request)
        .map_err(|e| Problem::internal(&e))?;
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
        .catalog
        .store
        .event(sequence)
        .map_err(|e| Problem::internal(&e))?
        .ok_or_else(not_found)?;
    Ok(Response::from_data("image/jpeg", event.crop))
}

pub fn status(api: &Api) -> Result<Response, Problem> {
    Ok(Response::json(&Status {
        edge: api.counters.snapshot(),
        engine: EngineStatus::of(&api.engine),
    }))
}

/// The live event stream as Server-Sent Events: one `data:` line per
/// event, and a comment every 15 s so that a departed client is noticed.
///
/// tiny_http, under rouille, sends a body of unknown length in 8 KiB chunks
/// and flushes only when a chunk is full, so a streamed body would reach
/// the client (headers included) only once 8 KiB of events had gathered.
/// The stream therefore takes the connection over, as an upgrade does:
/// tiny_http sends the head at once (with `Connection: upgrade`, which
/// clients ignore on a 200), and each event is written and flushed by
/// itself. The body, without a length, ends when the connection closes.
struct EventStream {
    events: Option<Receiver<String>>,
}

impl rouille::Upgrade for EventStream {
    fn build(&mut self, mut socket: Box<dyn rouille::ReadWrite + Send>) {
        let Some(events) = self.events.take() else {
            return;
        };
        let mut message = b": connected\n\n".to_vec();
        loop {
            if socket
                .write_all(&message)
                .and_then(|()| socket.flush())
                .is_err()
            {
                return; // the client is gone
            }
            message = match events.recv_timeout(Duration::from_secs(15)) {
                Ok(event) => format!("data: {event}\n\n").into_bytes(),
                Err(RecvTimeoutError::Timeout) => b": keep-alive\n\n".to_vec(),
                Err(RecvTimeoutError::Disconnected) => return,
            };
        }
    }
}

pub fn stream(api: &Api) -> Result<Response, Problem> {
    Ok(Response {
        status_code: 200,
        headers: vec![
            ("Content-Type".into(), "text/event-stream".into()),
            ("Cache-Control".into(), "no-cache".into()),
        ],
        data: ResponseBody::empty(),
        upgrade: Some(Box::new(EventStream {
            events: Some(api.bus.subscribe()),
        })),
    })
}
