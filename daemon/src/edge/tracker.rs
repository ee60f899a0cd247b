//! Following faces across frames, so that a person standing at the door
//! makes one event per change of decision, not one per frame, the faces of
//! one person share a tracklet id, and a decision can ask for several
//! frames that agree.
//!
//! A face continues a track when its box overlaps the track's and its best
//! match is the same member (or nobody in both): someone stepping into the
//! place of the person before them starts a track of their own.

use super::decision::Reason;
use std::time::{Duration, Instant};

/// A track not seen for this long, and for `MISSED_FRAMES` processed
/// frames, is forgotten. Counting frames too keeps a person who stays in
/// view one track when the loop runs slower than one frame per 2 s.
const FORGET_AFTER: Duration = Duration::from_secs(2);
const MISSED_FRAMES: u64 = 2;
/// Boxes overlapping by more than this IoU may be the same face.
const SAME_FACE_IOU: f32 = 0.3;

struct Track {
    id: String,
    bbox: [f32; 4],
    candidate: Option<String>,
    last_seen: Instant,
    last_frame: u64,
    /// None until the track's first decision.
    last_reason: Option<Reason>,
    /// Frames in a row, up to now, that passed every rule.
    passed_in_a_row: usize,
}

#[derive(Default)]
pub struct Tracker {
    tracks: Vec<Track>,
    frame: u64,
}

/// A face placed in its track, before its decision.
#[derive(Debug, PartialEq)]
pub struct Placed {
    track: usize,
    /// Frames in a row of this track, this one included, that passed every
    /// rule for its member.
    pub passed_in_a_row: usize,
}

/// A face placed in its track, and decided.
#[derive(Debug, PartialEq)]
pub struct Sighting {
    pub tracklet_id: String,
    /// A new face, or a decision that differs from the track's last one.
    pub news: bool,
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = |r: &[f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    w * h / (area(a) + area(b) - w * h + 1e-9)
}

/// Whether `reason` only repeats, for a track whose last decision was
/// `last`: a member just let in who is still in view is held by the
/// debounce or the cooldown, which is no new decision.
fn repeats(last: Reason, reason: Reason) -> bool {
    last == reason
        || (last == Reason::Granted && matches!(reason, Reason::Debounced | Reason::Cooldown))
}

impl Tracker {
    /// Starts the next processed frame, forgetting the tracks gone long
    /// enough.
    pub fn next_frame(&mut self, now: Instant) {
        self.frame += 1;
        let frame = self.frame;
        self.tracks.retain(|t| {
            now.duration_since(t.last_seen) < FORGET_AFTER || frame - t.last_frame <= MISSED_FRAMES
        });
    }

    /// Places a face, with its best match and whether it passed every rule
    /// for that match, in a track.
    pub fn place(
        &mut self,
        bbox: [f32; 4],
        candidate: Option<&str>,
        passed: bool,
        now: Instant,
    ) -> Placed {
        let frame = self.frame;
        let nearest = self
            .tracks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.candidate.as_deref() == candidate)
            .map(|(index, t)| (iou(&t.bbox, &bbox), index))
            .filter(|(overlap, _)| *overlap > SAME_FACE_IOU)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, index)| index);
        // A face in the place of another member's track means that track's
        // face no longer agrees: its frames in a row start again.
        for track in self
            .tracks
            .iter_mut()
            .filter(|t| t.candidate.as_deref() != candidate && iou(&t.bbox, &bbox) > SAME_FACE_IOU)
        {
            track.passed_in_a_row = 0;
        }
        let index = nearest.unwrap_or_else(|| {
            self.tracks.push(Track {
                id: uuid::Uuid::new_v4().to_string(),
                bbox,
                candidate: candidate.map(str::to_string),
                last_seen: now,
                last_frame: frame,
                last_reason: None,
                passed_in_a_row: 0,
            });
            self.tracks.len() - 1
        });
        let track = &mut self.tracks[index];
        track.bbox = bbox;
        track.last_seen = now;
        track.last_frame = frame;
        track.passed_in_a_row = match passed {
            true => track.passed_in_a_row + 1,
            false => 0,
        };
        Placed {
            track: index,
            passed_in_a_row: track.passed_in_a_row,
        }
    }

    /// Records the decision on a placed face.
    pub fn decided(&mut self, placed: &Placed, reason: Reason) -> Sighting {
        let track = &mut self.tracks[placed.track];
        let news = !track.last_reason.is_some_and(|last| repeats(last, reason));
        if news {
            track.last_reason = Some(reason);
        }
        Sighting {
            tracklet_id: track.id.clone(),
            news,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Tracker {
        /// Places and decides at once, for a decision that needs no
        /// evidence.
        fn observe(
            &mut self,
            bbox: [f32; 4],
            candidate: Option<&str>,
            reason: Reason,
            now: Instant,
        ) -> Sighting {
            let placed = self.place(bbox, candidate, reason == Reason::Granted, now);
            self.decided(&placed, reason)
        }
    }

    const FACE: [f32; 4] = [100.0, 100.0, 200.0, 200.0];
    const MOVED: [f32; 4] = [105.0, 102.0, 205.0, 202.0];

    #[test]
    fn a_face_that_stays_makes_news_only_when_its_decision_changes() {
        let (mut tracker, t0) = (Tracker::default(), Instant::now());
        let at = |ms| t0 + Duration::from_millis(ms);
        let ann = Some("ann");
        tracker.next_frame(t0);
        let first = tracker.observe(FACE, ann, Reason::NotLive, t0);
        assert!(first.news);
        tracker.next_frame(at(100));
        let same = tracker.observe(MOVED, ann, Reason::NotLive, at(100));
        assert_eq!((same.news, &same.tracklet_id), (false, &first.tracklet_id));
        tracker.next_frame(at(200));
        assert!(tracker.observe(MOVED, ann, Reason::Granted, at(200)).news);
        // Held by the debounce while still in view: no new decision.
        tracker.next_frame(at(300));
        assert!(!tracker.observe(MOVED, ann, Reason::Debounced, at(300)).news);
        // Another face elsewhere is news; the first one forgotten is news again.
        let other = tracker.observe([400.0, 100.0, 500.0, 200.0], None, Reason::Unknown, at(300));
        assert!(other.news && other.tracklet_id != first.tracklet_id);
        for frame in 0..3 {
            tracker.next_frame(at(2400 + frame * 100));
        }
        let back = tracker.observe(MOVED, ann, Reason::Debounced, at(2700));
        assert!(back.news && back.tracklet_id != first.tracklet_id);
    }

    #[test]
    fn someone_else_in_the_same_place_starts_a_track_of_their_own() {
        let (mut tracker, now) = (Tracker::default(), Instant::now());
        tracker.next_frame(now);
        let ann = tracker.observe(FACE, Some("ann"), Reason::Granted, now);
        tracker.next_frame(now);
        let bob = tracker.observe(MOVED, Some("bob"), Reason::Cooldown, now);
        assert!(bob.news && bob.tracklet_id != ann.tracklet_id);
    }

    #[test]
    fn a_slow_loop_keeps_a_person_in_view_on_one_track() {
        let (mut tracker, t0) = (Tracker::default(), Instant::now());
        tracker.next_frame(t0);
        let first = tracker.observe(FACE, None, Reason::Unknown, t0);
        // One processed frame every 3 s, the person in each.
        for second in [3, 6, 9] {
            let now = t0 + Duration::from_secs(second);
            tracker.next_frame(now);
            let seen = tracker.observe(MOVED, None, Reason::Unknown, now);
            assert_eq!((seen.news, &seen.tracklet_id), (false, &first.tracklet_id));
        }
    }

    #[test]
    fn agreement_counts_the_frames_in_a_row_that_passed_for_one_member() {
        let (mut tracker, now) = (Tracker::default(), Instant::now());
        let mut place = |candidate, passed| {
            tracker.next_frame(now);
            tracker.place(FACE, candidate, passed, now).passed_in_a_row
        };
        assert_eq!(place(Some("ann"), true), 1);
        assert_eq!(place(Some("ann"), true), 2);
        // A frame that fails starts the count again.
        assert_eq!(place(Some("ann"), false), 0);
        assert_eq!(place(Some("ann"), true), 1);
        assert_eq!(place(Some("ann"), true), 2);
        // A frame in which the face in that place matches someone else
        // breaks the agreement.
        assert_eq!(place(Some("bob"), true), 1);
        assert_eq!(place(Some("ann"), true), 1);
        assert_eq!(place(Some("ann"), true), 2);
    }
}
