//! The site link's state: written by the site front end, read by the
//! status endpoint.

use serde::Serialize;
use std::sync::Mutex;

/// `None` for a standalone door.
#[derive(Default)]
pub struct SiteLink(Mutex<Option<SiteLinkDto>>);

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteLinkDto {
    pub site_id: String,
    pub door_id: String,
    /// Whether the door is connected to a NATS server of the site now.
    pub connected: bool,
    pub last_error: Option<String>,
    /// The first of the door's events not yet in the site's stream; every
    /// one before it is there.
    pub next_event_to_send: u64,
    /// Events recorded here and not yet in the site's stream.
    pub events_waiting: u64,
    /// Events the door's log dropped (retention) before they could be
    /// sent, since the daemon started.
    pub events_lost_unsent: u64,
    /// When an event last reached the site's stream (RFC 3339).
    pub last_sent_at: Option<String>,
    /// Whether the site's records are being followed: its buckets are open
    /// and watched, so writes are taken (while connected).
    pub following_records: bool,
    /// The last revision of the site's records applied here.
    pub applied_revision: u64,
    /// Changes of the site's records not applied here yet, as of the last
    /// one applied.
    pub revisions_behind: u64,
    /// When a change of the site's records was last applied (RFC 3339).
    pub last_applied_at: Option<String>,
}

impl SiteLink {
    pub fn snapshot(&self) -> Option<SiteLinkDto> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn update(&self, change: impl FnOnce(&mut SiteLinkDto)) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        change(state.get_or_insert_with(SiteLinkDto::default));
    }
}
