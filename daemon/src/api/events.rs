//! Facegate's own endpoints, under `/api/facegate/v1`, apart from the
//! SmartFace paths: the door's event log (paged, and live as Server-Sent
//! Events), each event's face crop, and the edge loop's counters.

use super::paging::{page_request, paged_response};
use super::problem::Problem;
use super::{rfc3339, Api};
use crate::store::Event;
use rouille::{Request, Response, ResponseBody};
use serde::Serialize;
use std::io::Read;
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
    Ok(Response::json(&api.counters.snapshot()))
}

/// A Server-Sent Events body: one `data:` line per event, and a comment
/// every 15 s so that a departed client is noticed.
struct EventStream {
    events: Receiver<String>,
    pending: Vec<u8>,
}

impl Read for EventStream {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.is_empty() {
            match self.events.recv_timeout(Duration::from_secs(15)) {
                Ok(event) => self.pending = format!("data: {event}\n\n").into_bytes(),
                Err(RecvTimeoutError::Timeout) => self.pending = b": keep-alive\n\n".to_vec(),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let n = buffer.len().min(self.pending.len());
        buffer[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

pub fn stream(api: &Api) -> Result<Response, Problem> {
    let body = EventStream {
        events: api.bus.subscribe(),
        pending: b": connected\n\n".to_vec(),
    };
    Ok(Response {
        status_code: 200,
        headers: vec![
            ("Content-Type".into(), "text/event-stream".into()),
            ("Cache-Control".into(), "no-cache".into()),
        ],
        data: ResponseBody::from_reader(body),
        upgrade: None,
    })
}
