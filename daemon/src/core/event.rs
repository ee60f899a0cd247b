//! A door decision as every front end sees it: the stored event, and what
//! an access-control client needs besides (who, which watchlist, when the
//! face was seen, the face image). Its JSON form is the REST event log's
//! and the Server-Sent Events stream's; its protobuf form, SmartFace's
//! access notification, is in `notification.rs`.

use super::panel::PanelVerdict;
use crate::store::{Event, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// What the decision was, in the terms of SmartFace's access control.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The door opened for a member (or would have: the event's reason says
    /// when the relay failed).
    Granted,
    /// Nobody known: a stranger, or a face that could not decide (too
    /// small, turned away).
    NotIdentified,
    /// A known face that may not open: on a deny list, a spoof, out of
    /// schedule, or within the debounce or cooldown (until `until`).
    Blocked(Block),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    DenyListed,
    Spoof,
    /// A member whose watchlists are all out of their schedules.
    OutsideSchedule,
    /// A member the access-control panel refused, did not answer for, or
    /// could not be sent (no card number).
    Panel,
    TemporarilyBlocked {
        until: SystemTime,
    },
}

/// The member a decision names, with what connectors show of it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NamedMember {
    pub id: String,
    pub display_name: String,
    pub labels: BTreeMap<String, String>,
    /// The watchlist that admitted (or blocked) the member, and its name.
    pub watchlist_id: String,
    pub watchlist_display_name: String,
}

/// Which way a camera's door lets people through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    #[default]
    Entry,
    Exit,
}

/// One door decision, published on the core's event bus.
#[derive(Debug, Clone)]
pub struct DoorEvent {
    /// As stored; `stored` is false when the store refused it (a full
    /// disk), and its sequence is then meaningless.
    pub event: Event,
    pub stored: bool,
    pub outcome: Outcome,
    /// Named for a grant or a block, never for a stranger.
    pub member: Option<NamedMember>,
    pub detected_at: SystemTime,
    /// Left x, left y, right x, right y, in frame pixels.
    pub eyes: [f32; 4],
    /// The face with a margin, as a JPEG: SmartFace's `crop_image`.
    pub face_image: Vec<u8>,
}

/// An event as the REST log and the live stream carry it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDto {
    /// `None` for a decision the store could not keep.
    sequence: Option<u64>,
    at: String,
    watchlist_member_id: Option<String>,
    score: Option<i32>,
    liveness_score: Option<f32>,
    door_opened: bool,
    reason: String,
    crop_url: Option<String>,
    /// The face decided on, a SmartFace `Face` (`AddFaceFromSystem`
    /// enrols from it) while retention keeps it.
    face_id: Option<String>,
    tracklet_id: Option<String>,
    /// What the access-control panel made of the member's credential.
    panel_verdict: PanelVerdict,
    /// The camera's stream id; `None` for an event from before cameras
    /// were named.
    stream_id: Option<String>,
    direction: Direction,
}

impl From<&Event> for EventDto {
    fn from(e: &Event) -> Self {
        EventDto {
            sequence: Some(e.sequence),
            at: rfc3339(e.at),
            watchlist_member_id: e.member_id.clone(),
            score: e.score,
            liveness_score: e.liveness,
            door_opened: e.opened,
            reason: e.reason.clone(),
            // An opening from the console has no face, so no crop.
            crop_url: (!e.crop.is_empty())
                .then(|| format!("/api/facegate/v1/Events/{}/Crop", e.sequence)),
            face_id: e.face_id.clone(),
            tracklet_id: e.tracklet_id.clone(),
            panel_verdict: e.panel_verdict,
            stream_id: (!e.stream_id.is_empty()).then(|| e.stream_id.clone()),
            direction: e.direction,
        }
    }
}

impl DoorEvent {
    /// The JSON of the live stream.
    pub fn json(&self) -> String {
        let mut dto = EventDto::from(&self.event);
        if !self.stored {
            dto.sequence = None;
            dto.crop_url = None;
        }
        serde_json::to_string(&dto).unwrap_or_default()
    }
}

/// A timestamp as RFC 3339 with microseconds, as SmartFace writes them.
pub fn rfc3339(time: Timestamp) -> String {
    humantime::format_rfc3339_micros(time.to_system_time()).to_string()
}
