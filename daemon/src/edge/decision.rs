//! The door decision for one observed face, with the rules real access
//! controllers offer: per-watchlist thresholds, liveness, face size and pose
//! limits, deny lists, schedules, a per-member re-open debounce and a
//! cooldown.

use crate::core::event::{Block, Outcome};
use crate::core::schedule::WatchlistSchedules;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub liveness_required: bool,
    /// 0..100.
    pub liveness_threshold: f32,
    pub min_face_size: f32,
    /// Degrees either way.
    pub max_yaw: f32,
    pub max_pitch: f32,
    /// 0..100: faces whose template quality is lower do not decide.
    pub min_template_quality: i32,
    /// A match in one of these never opens.
    pub deny_watchlists: Vec<String>,
    /// The same member does not open again within this time.
    pub debounce: Duration,
    /// Nobody opens within this time after any open.
    pub cooldown: Duration,
    /// A face opens only once this many frames of its track in a row
    /// passed every rule for the same member: one frame that happens to
    /// resemble a member does not open.
    pub evidence_frames: usize,
}

/// The best match of a face: its member, score, and the member's watchlists
/// (id and threshold) among the ones the loop searches.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub member_id: String,
    pub score: i32,
    pub watchlists: Vec<(String, i32)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub matched: Option<Match>,
    /// The score the door asks of any match, for its stranger rate; a
    /// watchlist may ask more.
    pub door_threshold: i32,
    pub liveness: Option<f32>,
    pub face_size: f32,
    pub yaw: f32,
    pub pitch: f32,
    /// The template's 0..100 quality.
    pub template_quality: i32,
    /// When the face was seen, for the schedules.
    pub seen_at: SystemTime,
}

impl Observation {
    /// The first of the match's watchlists whose threshold (raised to the
    /// door's) the score reaches: the one that knows the face. None for a
    /// stranger.
    pub fn admitting_watchlist(&self) -> Option<&str> {
        self.admitting_watchlists().next()
    }

    /// Every watchlist of the match whose threshold the score reaches.
    fn admitting_watchlists(&self) -> impl Iterator<Item = &str> {
        self.matched.iter().flat_map(move |matched| {
            matched
                .watchlists
                .iter()
                .filter(move |(_, threshold)| {
                    matched.score >= (*threshold).max(self.door_threshold)
                })
                .map(|(id, _)| id.as_str())
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Granted,
    FaceTooSmall,
    PoseOutOfRange,
    PoorQuality,
    Unknown,
    DenyListed,
    NotLive,
    /// A member, but every watchlist that knows them is out of schedule.
    OutsideSchedule,
    Debounced,
    Cooldown,
    /// Granted, but the relay did not take the command.
    RelayFailed,
    /// Every rule passed, in fewer frames than the door asks: no decision
    /// yet, and no event.
    Confirming,
    /// Not a face: someone opened the door from the console.
    OpenedFromConsole,
    /// Granted here; the panel, which drives the lock, refused.
    PanelDenied,
    /// Granted here; the panel gave no verdict in time, so the relay
    /// that follows it stays closed.
    PanelSilent,
    /// Granted here and sent to a panel that tells no verdict (Wiegand).
    SentToPanel,
    /// Granted here, but the member has no card number to send.
    NoCredential,
    /// Not a face, the door contact: opened while the lock was released.
    DoorPassage,
    /// Opened while the lock was locked.
    DoorForcedOpen,
    /// Left open past `door.held_open_seconds`.
    DoorHeldOpen,
    /// The exit button (request to exit) was pressed.
    ExitButton,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Granted => "granted",
            Reason::FaceTooSmall => "face too small",
            Reason::PoseOutOfRange => "head turned too far",
            Reason::PoorQuality => "face image too poor",
            Reason::Unknown => "unknown person",
            Reason::DenyListed => "on a deny list",
            Reason::NotLive => "liveness check failed",
            Reason::OutsideSchedule => "outside schedule",
            Reason::Debounced => "opened for this person moments ago",
            Reason::Cooldown => "door cooling down after an open",
            Reason::RelayFailed => "relay failed",
            Reason::Confirming => "confirming in the next frames",
            Reason::OpenedFromConsole => "opened from the console",
            Reason::PanelDenied => "refused by the panel",
            Reason::PanelSilent => "no answer from the panel",
            Reason::SentToPanel => "sent to the panel",
            Reason::NoCredential => "no card number for the panel",
            Reason::DoorPassage => "door opened (passage)",
            Reason::DoorForcedOpen => "door forced open",
            Reason::DoorHeldOpen => "door held open",
            Reason::ExitButton => "exit button",
        }
    }
}

impl Reason {
    /// The decision in SmartFace's access-control terms; `until` tells
    /// when a member held back by the debounce or cooldown may open.
    pub fn outcome(self, until: Option<Instant>) -> Outcome {
        match self {
            Reason::Granted
            | Reason::RelayFailed
            | Reason::OpenedFromConsole
            | Reason::SentToPanel => Outcome::Granted,
            Reason::PanelDenied | Reason::PanelSilent | Reason::NoCredential => {
                Outcome::Blocked(Block::Panel)
            }
            Reason::FaceTooSmall
            | Reason::PoseOutOfRange
            | Reason::PoorQuality
            | Reason::Unknown
            | Reason::Confirming => Outcome::NotIdentified,
            // Not faces: only the event log and its live stream carry
            // them, SmartFace's streams have no type for them.
            Reason::DoorPassage
            | Reason::DoorForcedOpen
            | Reason::DoorHeldOpen
            | Reason::ExitButton => Outcome::NotIdentified,
            Reason::DenyListed => Outcome::Blocked(Block::DenyListed),
            Reason::NotLive => Outcome::Blocked(Block::Spoof),
            Reason::OutsideSchedule => Outcome::Blocked(Block::OutsideSchedule),
            Reason::Debounced | Reason::Cooldown => {
                let left = until.map_or(Duration::ZERO, |t| {
                    t.saturating_duration_since(Instant::now())
                });
                Outcome::Blocked(Block::TemporarilyBlocked {
                    until: SystemTime::now() + left,
                })
            }
        }
    }
}

/// What the loop remembers between decisions.
#[derive(Default)]
pub struct DecisionState {
    last_open: Option<Instant>,
    last_open_for: HashMap<String, Instant>,
}

impl DecisionState {
    /// Remembers that the door opened for `member` at `now`, for the
    /// debounce and the cooldown. Only an open the relay took counts: a
    /// member refused by a failed relay may try again at once.
    pub fn opened(&mut self, member: &str, now: Instant) {
        self.last_open = Some(now);
        self.last_open_for.insert(member.to_string(), now);
    }

    /// When a member held back by the debounce or the cooldown may open:
    /// the later of the two ends.
    pub fn blocked_until(&self, rules: &Rules, member: &str, reason: Reason) -> Option<Instant> {
        let cooldown_ends = self.last_open.map(|t| t + rules.cooldown);
        match reason {
            Reason::Debounced => {
                let debounce_ends = self.last_open_for.get(member).map(|t| *t + rules.debounce);
                debounce_ends.max(cooldown_ends)
            }
            Reason::Cooldown => cooldown_ends,
            _ => None,
        }
    }

    /// Decides for one face seen at `now`; `schedules` say when each
    /// scheduled watchlist admits (a deny list is never asked).
    pub fn judge(
        &self,
        rules: &Rules,
        schedules: &WatchlistSchedules,
        seen: &Observation,
        now: Instant,
    ) -> Reason {
        if seen.face_size < rules.min_face_size {
            return Reason::FaceTooSmall;
        }
        if seen.yaw.abs() > rules.max_yaw || seen.pitch.abs() > rules.max_pitch {
            return Reason::PoseOutOfRange;
        }
        if seen.template_quality < rules.min_template_quality {
            return Reason::PoorQuality;
        }
        // A best match under every threshold of its watchlists (raised to
        // the door's) is nobody.
        let Some(matched) = seen
            .matched
            .as_ref()
            .filter(|_| seen.admitting_watchlist().is_some())
        else {
            return Reason::Unknown;
        };
        if matched
            .watchlists
            .iter()
            .any(|(id, _)| rules.deny_watchlists.contains(id))
        {
            return Reason::DenyListed;
        }
        if rules.liveness_required && seen.liveness.is_none_or(|l| l < rules.liveness_threshold) {
            return Reason::NotLive;
        }
        if !seen
            .admitting_watchlists()
            .any(|watchlist| schedules.admits(watchlist, seen.seen_at))
        {
            return Reason::OutsideSchedule;
        }
        let within = |at: Option<&Instant>, window: Duration| {
            at.is_some_and(|t| now.duration_since(*t) < window)
        };
        if within(self.last_open_for.get(&matched.member_id), rules.debounce) {
            return Reason::Debounced;
        }
        if within(self.last_open.as_ref(), rules.cooldown) {
            return Reason::Cooldown;
        }
        Reason::Granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl DecisionState {
        /// Judges, and remembers a grant as an open.
        fn decide(&mut self, rules: &Rules, seen: &Observation, now: Instant) -> Reason {
            let reason = self.judge(rules, &WatchlistSchedules::default(), seen, now);
            if let (Reason::Granted, Some(matched)) = (reason, &seen.matched) {
                self.opened(&matched.member_id, now);
            }
            reason
        }
    }

    fn rules() -> Rules {
        Rules {
            liveness_required: true,
            liveness_threshold: 50.0,
            min_face_size: 80.0,
            max_yaw: 30.0,
            max_pitch: 30.0,
            min_template_quality: 40,
            deny_watchlists: vec!["banned".into()],
            debounce: Duration::from_secs(5),
            cooldown: Duration::from_secs(2),
            evidence_frames: 1,
        }
    }

    /// A member id, its score, and its (watchlist, threshold) pairs.
    type Seen<'a> = (&'a str, i32, &'a [(&'a str, i32)]);

    fn seen(member: Option<Seen>) -> Observation {
        Observation {
            matched: member.map(|(id, score, lists)| Match {
                member_id: id.into(),
                score,
                watchlists: lists.iter().map(|(w, t)| (w.to_string(), *t)).collect(),
            }),
            door_threshold: 0,
            liveness: Some(95.0),
            face_size: 200.0,
            yaw: 0.0,
            pitch: 0.0,
            template_quality: 75,
            seen_at: SystemTime::now(),
        }
    }

    #[test]
    fn an_enrolled_live_frontal_face_opens_once_then_debounces() {
        let (mut state, now) = (DecisionState::default(), Instant::now());
        let ann = seen(Some(("ann", 60, &[("staff", 40)])));
        assert_eq!(state.decide(&rules(), &ann, now), Reason::Granted);
        assert_eq!(
            state.decide(&rules(), &ann, now + Duration::from_secs(3)),
            Reason::Debounced
        );
        assert_eq!(
            state.decide(&rules(), &ann, now + Duration::from_secs(6)),
            Reason::Granted
        );
    }

    #[test]
    fn the_cooldown_holds_everyone_after_an_open() {
        let (mut state, now) = (DecisionState::default(), Instant::now());
        assert_eq!(
            state.decide(&rules(), &seen(Some(("ann", 60, &[("staff", 40)]))), now),
            Reason::Granted
        );
        let bob = seen(Some(("bob", 60, &[("staff", 40)])));
        assert_eq!(
            state.decide(&rules(), &bob, now + Duration::from_secs(1)),
            Reason::Cooldown
        );
        assert_eq!(
            state.decide(&rules(), &bob, now + Duration::from_secs(3)),
            Reason::Granted
        );
    }

    #[test]
    fn a_held_back_member_is_told_when_the_later_of_debounce_and_cooldown_ends() {
        let (mut state, now) = (DecisionState::default(), Instant::now());
        let ann = seen(Some(("ann", 60, &[("staff", 40)])));
        state.decide(&rules(), &ann, now);
        let until = |member, reason| state.blocked_until(&rules(), member, reason);
        assert_eq!(
            until("ann", Reason::Debounced),
            Some(now + Duration::from_secs(5))
        );
        assert_eq!(
            until("bob", Reason::Cooldown),
            Some(now + Duration::from_secs(2))
        );
        let long_cooldown = Rules {
            cooldown: Duration::from_secs(9),
            ..rules()
        };
        assert_eq!(
            state.blocked_until(&long_cooldown, "ann", Reason::Debounced),
            Some(now + Duration::from_secs(9))
        );
        assert_eq!(until("ann", Reason::Granted), None);
    }

    #[test]
    fn the_admitting_watchlist_is_the_first_whose_threshold_the_score_reaches() {
        let lists: &[(&str, i32)] = &[("vip", 70), ("staff", 50), ("visitors", 40)];
        let mut ann = seen(Some(("ann", 60, lists)));
        assert_eq!(ann.admitting_watchlist(), Some("staff"));
        ann.door_threshold = 55;
        assert_eq!(ann.admitting_watchlist(), Some("staff"));
        ann.door_threshold = 65;
        assert_eq!(ann.admitting_watchlist(), None);
        assert_eq!(seen(None).admitting_watchlist(), None);
    }

    #[test]
    fn every_reason_has_its_access_control_outcome() {
        let soon = Instant::now() + Duration::from_secs(30);
        let blocked_for = |reason: Reason| match reason.outcome(Some(soon)) {
            Outcome::Blocked(Block::TemporarilyBlocked { until }) => until
                .duration_since(SystemTime::now())
                .unwrap()
                .as_secs_f64(),
            other => panic!("{reason:?} gave {other:?}"),
        };
        assert_eq!(Reason::Granted.outcome(None), Outcome::Granted);
        assert_eq!(Reason::RelayFailed.outcome(None), Outcome::Granted);
        assert_eq!(Reason::SentToPanel.outcome(None), Outcome::Granted);
        for reason in [
            Reason::PanelDenied,
            Reason::PanelSilent,
            Reason::NoCredential,
        ] {
            assert_eq!(reason.outcome(None), Outcome::Blocked(Block::Panel));
        }
        for reason in [
            Reason::FaceTooSmall,
            Reason::PoseOutOfRange,
            Reason::PoorQuality,
            Reason::Unknown,
            Reason::Confirming,
        ] {
            assert_eq!(reason.outcome(None), Outcome::NotIdentified);
        }
        assert_eq!(
            Reason::DenyListed.outcome(None),
            Outcome::Blocked(Block::DenyListed)
        );
        assert_eq!(
            Reason::NotLive.outcome(None),
            Outcome::Blocked(Block::Spoof)
        );
        assert_eq!(
            Reason::OutsideSchedule.outcome(None),
            Outcome::Blocked(Block::OutsideSchedule)
        );
        for reason in [Reason::Debounced, Reason::Cooldown] {
            assert!((29.0..=30.0).contains(&blocked_for(reason)));
        }
    }

    #[test]
    fn each_rule_refuses_with_its_reason() {
        let now = Instant::now();
        let decide = |o: &Observation| DecisionState::default().decide(&rules(), o, now);
        assert_eq!(decide(&seen(None)), Reason::Unknown);
        assert_eq!(
            decide(&seen(Some(("ann", 39, &[("staff", 40)])))),
            Reason::Unknown
        );
        // The per-watchlist threshold: 45 passes a 40 list, not a 50 one.
        assert_eq!(
            decide(&seen(Some(("ann", 45, &[("vip", 50)])))),
            Reason::Unknown
        );
        assert_eq!(
            decide(&seen(Some(("ann", 45, &[("vip", 50), ("staff", 40)])))),
            Reason::Granted
        );
        assert_eq!(
            decide(&seen(Some(("eve", 90, &[("staff", 40), ("banned", 40)])))),
            Reason::DenyListed
        );
        let mut spoof = seen(Some(("ann", 60, &[("staff", 40)])));
        spoof.liveness = Some(20.0);
        assert_eq!(decide(&spoof), Reason::NotLive);
        let mut small = seen(Some(("ann", 60, &[("staff", 40)])));
        small.face_size = 50.0;
        assert_eq!(decide(&small), Reason::FaceTooSmall);
        let mut turned = seen(Some(("ann", 60, &[("staff", 40)])));
        turned.yaw = -45.0;
        assert_eq!(decide(&turned), Reason::PoseOutOfRange);
        let mut blurred = seen(Some(("ann", 60, &[("staff", 40)])));
        blurred.template_quality = 30;
        assert_eq!(decide(&blurred), Reason::PoorQuality);
        // The door's threshold raises a watchlist's.
        let mut strict = seen(Some(("ann", 45, &[("staff", 40)])));
        strict.door_threshold = 50;
        assert_eq!(decide(&strict), Reason::Unknown);
        strict.door_threshold = 45;
        assert_eq!(decide(&strict), Reason::Granted);
        let mut no_liveness_needed = rules();
        no_liveness_needed.liveness_required = false;
        assert_eq!(
            DecisionState::default().decide(&no_liveness_needed, &spoof, now),
            Reason::Granted
        );
    }

    #[test]
    fn a_member_out_of_every_schedule_is_refused_and_a_deny_list_has_no_schedule() {
        use crate::core::schedule::Schedule;
        let office = Schedule::parse(
            "office-hours",
            &["mon-fri 07:00-19:00".into()],
            &["2026-12-25".into()],
            "UTC",
        )
        .unwrap();
        let assigned = [
            ("staff".to_string(), "office-hours".to_string()),
            ("banned".to_string(), "office-hours".to_string()),
        ]
        .into();
        let schedules = WatchlistSchedules::new(&[office], &assigned).unwrap();
        let utc = |text: &str| {
            let stamp: jiff::Timestamp = text.parse().unwrap();
            SystemTime::try_from(stamp).unwrap()
        };
        let decide_at = |member: Seen, when: &str| {
            let mut face = seen(Some(member));
            face.seen_at = utc(when);
            DecisionState::default().judge(&rules(), &schedules, &face, Instant::now())
        };
        let ann = ("ann", 60, &[("staff", 40)][..]);
        // Wednesday noon; Wednesday 3 a.m.; Christmas Day, a Friday, at noon.
        assert_eq!(decide_at(ann, "2026-12-02T12:00Z"), Reason::Granted);
        assert_eq!(decide_at(ann, "2026-12-02T03:00Z"), Reason::OutsideSchedule);
        assert_eq!(decide_at(ann, "2026-12-25T12:00Z"), Reason::OutsideSchedule);
        // Another watchlist that knows her, without a schedule, admits.
        let both = ("ann", 60, &[("staff", 40), ("night-shift", 40)][..]);
        assert_eq!(decide_at(both, "2026-12-02T03:00Z"), Reason::Granted);
        // A watchlist whose threshold the score misses does not count.
        let weak = ("ann", 45, &[("staff", 40), ("night-shift", 50)][..]);
        assert_eq!(
            decide_at(weak, "2026-12-02T03:00Z"),
            Reason::OutsideSchedule
        );
        // A deny list blocks at all hours, in its schedule or out of it.
        let eve = ("eve", 90, &[("staff", 40), ("banned", 40)][..]);
        for when in ["2026-12-02T12:00Z", "2026-12-02T03:00Z"] {
            assert_eq!(decide_at(eve, when), Reason::DenyListed);
        }
        // A stranger out of schedule is a stranger.
        let stranger = ("ann", 20, &[("staff", 40)][..]);
        assert_eq!(decide_at(stranger, "2026-12-02T03:00Z"), Reason::Unknown);
    }
}
