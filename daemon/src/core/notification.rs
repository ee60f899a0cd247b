//! A door decision as SmartFace's access notification (its gRPC stream's
//! message), generated from `proto/access_notification_service.proto`.

use super::event::{Block, DoorEvent, Outcome};
use std::time::SystemTime;

#[allow(clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("innovatrics.smartface");
}

use proto::{
    AccessNotification, AccessNotificationBlocked, AccessNotificationDenied,
    AccessNotificationGranted, BlockReason, DenyReason, EyeCoordinates,
};

/// The values of `type_of_access_notification`, a bit each, as a client's
/// request masks them.
pub const FACE_GRANTED: u32 = 1;
pub const FACE_DENIED: u32 = 2;
pub const FACE_BLOCKED: u32 = 4;
pub const PING: u32 = 8;

pub fn timestamp(time: SystemTime) -> prost_types::Timestamp {
    let since_epoch = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: since_epoch.as_secs() as i64,
        nanos: since_epoch.subsec_nanos() as i32,
    }
}

/// The keep-alive connectors expect every few seconds.
pub fn ping() -> AccessNotification {
    AccessNotification {
        type_of_access_notification: PING,
        sent_at: Some(timestamp(SystemTime::now())),
        ..Default::default()
    }
}

impl DoorEvent {
    /// The notification type of this decision (one bit).
    pub fn notification_type(&self) -> u32 {
        match self.outcome {
            Outcome::Granted => FACE_GRANTED,
            Outcome::NotIdentified => FACE_DENIED,
            Outcome::Blocked(_) => FACE_BLOCKED,
        }
    }

    /// The decision as SmartFace sends it; the face image only when the
    /// subscriber asked for image data.
    pub fn notification(&self, with_image: bool) -> AccessNotification {
        let crop_image = match with_image {
            true => self.face_image.clone(),
            false => Vec::new(),
        };
        let member = self.member.clone().unwrap_or_default();
        let score = i64::from(self.event.score.unwrap_or(0));
        let mut notification = AccessNotification {
            stream_id: self.event.stream_id.clone(),
            face_id: self.event.face_id.clone().unwrap_or_default(),
            tracklet_id: self.event.tracklet_id.clone().unwrap_or_default(),
            face_detected_at: Some(timestamp(self.detected_at)),
            frame_timestamp_us: self
                .detected_at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |t| t.as_micros() as i64),
            sent_at: Some(timestamp(SystemTime::now())),
            type_of_access_notification: self.notification_type(),
            eye_coordinates: Some(EyeCoordinates {
                left_eye_x: f64::from(self.eyes[0]),
                left_eye_y: f64::from(self.eyes[1]),
                right_eye_x: f64::from(self.eyes[2]),
                right_eye_y: f64::from(self.eyes[3]),
            }),
            // What Facegate adds: its own reason and whether the door opened.
            headers: [
                ("facegate-reason".to_string(), self.event.reason.clone()),
                (
                    "facegate-door-opened".to_string(),
                    self.event.opened.to_string(),
                ),
                (
                    "facegate-panel-verdict".to_string(),
                    self.event.panel_verdict.as_str().to_string(),
                ),
            ]
            .into(),
            ..Default::default()
        };
        match &self.outcome {
            Outcome::Granted => {
                notification.access_notification_granted = Some(AccessNotificationGranted {
                    watchlist_member_external_id: member.id.clone(),
                    watchlist_external_id: member.watchlist_id.clone(),
                    watchlist_member_display_name: member.display_name,
                    watchlist_member_id: member.id,
                    watchlist_id: member.watchlist_id,
                    watchlist_display_name: member.watchlist_display_name,
                    match_result_score: score,
                    crop_image,
                    watchlist_member_labels: member.labels.into_iter().collect(),
                })
            }
            Outcome::NotIdentified => {
                notification.access_notification_denied = Some(AccessNotificationDenied {
                    crop_image,
                    reason: DenyReason::NotIdentified as i32,
                    match_result_score: score,
                    ..Default::default()
                })
            }
            Outcome::Blocked(block) => {
                let (reason, until) = match block {
                    Block::DenyListed => (BlockReason::IdentifiedInBlockList, None),
                    Block::Spoof => (BlockReason::SpoofDetected, None),
                    // SmartFace has no reason of its own for a schedule or
                    // a panel; the facegate-reason header tells which.
                    Block::OutsideSchedule | Block::Panel => {
                        (BlockReason::OpeningTemporarilyBlocked, None)
                    }
                    Block::TemporarilyBlocked { until } => {
                        (BlockReason::OpeningTemporarilyBlocked, Some(*until))
                    }
                };
                notification.access_notification_blocked = Some(AccessNotificationBlocked {
                    watchlist_member_display_name: member.display_name,
                    watchlist_member_id: member.id,
                    watchlist_id: member.watchlist_id,
                    watchlist_display_name: member.watchlist_display_name,
                    match_result_score: score,
                    crop_image,
                    reason: reason as i32,
                    blocked_until: until.map(timestamp),
                })
            }
        }
        notification
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::NamedMember;
    use crate::store::{Event, Timestamp};
    use std::time::Duration;

    fn decided(outcome: Outcome, member: Option<NamedMember>) -> DoorEvent {
        DoorEvent {
            event: Event {
                sequence: 7,
                at: Timestamp::now(),
                member_id: member.as_ref().map(|m| m.id.clone()),
                score: Some(63),
                liveness: Some(90.0),
                opened: outcome == Outcome::Granted,
                reason: "why".into(),
                crop: Vec::new(),
                face_id: Some("face".into()),
                tracklet_id: Some("track".into()),
                watchlist_id: None,
                panel_verdict: Default::default(),
                stream_id: "camera".into(),
                direction: Default::default(),
            },
            stored: true,
            outcome,
            member,
            detected_at: SystemTime::UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            eyes: [1.0, 2.0, 3.0, 4.0],
            face_image: vec![0xFF, 0xD8],
        }
    }

    fn ann() -> Option<NamedMember> {
        Some(NamedMember {
            id: "ann".into(),
            display_name: "Ann".into(),
            labels: [("badge".to_string(), "7".to_string())].into(),
            watchlist_id: "staff".into(),
            watchlist_display_name: "Staff".into(),
        })
    }

    #[test]
    fn each_outcome_is_its_own_type_with_its_reason() {
        let until = SystemTime::UNIX_EPOCH + Duration::from_secs(99);
        let cases = [
            (Outcome::Granted, FACE_GRANTED, None),
            (Outcome::NotIdentified, FACE_DENIED, None),
            (
                Outcome::Blocked(Block::DenyListed),
                FACE_BLOCKED,
                Some((BlockReason::IdentifiedInBlockList, None)),
            ),
            (
                Outcome::Blocked(Block::Spoof),
                FACE_BLOCKED,
                Some((BlockReason::SpoofDetected, None)),
            ),
            (
                Outcome::Blocked(Block::TemporarilyBlocked { until }),
                FACE_BLOCKED,
                Some((
                    BlockReason::OpeningTemporarilyBlocked,
                    Some(timestamp(until)),
                )),
            ),
        ];
        for (outcome, kind, block) in cases {
            let n = decided(outcome.clone(), ann()).notification(false);
            assert_eq!(n.type_of_access_notification, kind, "{outcome:?}");
            let parts = [
                n.access_notification_granted.is_some(),
                n.access_notification_denied.is_some(),
                n.access_notification_blocked.is_some(),
            ];
            assert_eq!(parts.iter().filter(|p| **p).count(), 1, "{outcome:?}");
            if let Some((reason, until)) = block {
                let blocked = n.access_notification_blocked.unwrap();
                assert_eq!(blocked.reason, reason as i32);
                assert_eq!(blocked.blocked_until, until);
                assert_eq!(blocked.watchlist_member_display_name, "Ann");
            }
        }
    }

    #[test]
    fn a_grant_names_the_member_and_carries_the_image_only_when_asked() {
        let event = decided(Outcome::Granted, ann());
        let n = event.notification(true);
        assert_eq!(
            (
                n.face_id.as_str(),
                n.tracklet_id.as_str(),
                n.stream_id.as_str()
            ),
            ("face", "track", "camera")
        );
        assert_eq!(n.frame_timestamp_us, 1_700_000_000_123_456);
        assert_eq!(
            n.face_detected_at,
            Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_000
            })
        );
        assert_eq!(n.eye_coordinates.unwrap().right_eye_y, 4.0);
        let granted = n.access_notification_granted.unwrap();
        assert_eq!(granted.watchlist_member_external_id, "ann");
        assert_eq!(granted.watchlist_display_name, "Staff");
        assert_eq!(granted.match_result_score, 63);
        assert_eq!(granted.watchlist_member_labels["badge"], "7");
        assert_eq!(granted.crop_image, vec![0xFF, 0xD8]);
        let without = event.notification(false).access_notification_granted;
        assert!(without.unwrap().crop_image.is_empty());
    }

    #[test]
    fn a_ping_is_only_a_ping() {
        let p = ping();
        assert_eq!(p.type_of_access_notification, PING);
        assert!(p.sent_at.is_some() && p.face_id.is_empty());
        assert!(p.access_notification_granted.is_none());
    }
}
