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

    /// Changes the state; an error it records is kept with any URL's
    /// credentials hidden, as the status shows it to every client.
    pub fn update(&self, change: impl FnOnce(&mut SiteLinkDto)) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let state = state.get_or_insert_with(SiteLinkDto::default);
        change(state);
        if let Some(error) = &mut state.last_error {
            *error = hide_credentials(error);
        }
    }
}

/// `text` with the user and password of every URL in it (`nats://user:
/// password@host`) replaced by `***`, for logs and the status.
pub fn hide_credentials(text: &str) -> String {
    let mut hidden = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        hidden.push_str(before);
        let authority_end = after
            .find(|c: char| c == '/' || c == ',' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(after.len());
        let (authority, tail) = after.split_at(authority_end);
        match authority.rfind('@') {
            Some(user_end) => {
                hidden.push_str("***");
                hidden.push_str(&authority[user_end..]);
            }
            None => hidden.push_str(authority),
        }
        rest = tail;
    }
    hidden.push_str(rest);
    hidden
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_hidden_and_the_rest_is_kept() {
        assert_eq!(
            hide_credentials("nats://door:s3cret@10.0.0.1:4222,tls://tok@b:4222"),
            "nats://***@10.0.0.1:4222,tls://***@b:4222"
        );
        assert_eq!(
            hide_credentials("cannot connect to nats://u:p@host/x: refused"),
            "cannot connect to nats://***@host/x: refused"
        );
        assert_eq!(hide_credentials("nats://host:4222"), "nats://host:4222");
        assert_eq!(hide_credentials("no url, a@b"), "no url, a@b");
    }

    #[test]
    fn an_error_recorded_in_the_state_keeps_no_credentials() {
        let link = SiteLink::default();
        link.update(|state| state.last_error = Some("nats://u:pw@h: timed out".into()));
        let error = link.snapshot().unwrap().last_error.unwrap();
        assert_eq!(error, "nats://***@h: timed out");
    }
}
