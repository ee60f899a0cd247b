//! Following faces across frames, so that a person standing at the door
//! makes one event per change of decision, not one per frame.

use super::decision::Reason;
use std::time::{Duration, Instant};

/// A track not seen for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(2);
/// Boxes overlapping by more than this IoU are the same face.
const SAME_FACE_IOU: f32 = 0.3;

struct Track {
    bbox: [f32; 4],
    last_seen: Instant,
    last_reason: Option<Reason>,
}

#[derive(Default)]
pub struct Tracker {
    tracks: Vec<Track>,
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = |r: &[f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    w * h / (area(a) + area(b) - w * h + 1e-9)
}

impl Tracker {
    /// Notes a face with its decision; true when this is news: a new face,
    /// or a known face whose decision changed.
    pub fn observe(&mut self, bbox: [f32; 4], reason: Reason, now: Instant) -> bool {
        self.tracks
            .retain(|t| now.duration_since(t.last_seen) < FORGET_AFTER);
        let nearest = self
            .tracks
            .iter_mut()
            .map(|t| (iou(&t.bbox, &bbox), t))
            .filter(|(overlap, _)| *overlap > SAME_FACE_IOU)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, track)| track);
        match nearest {
            Some(track) => {
                track.bbox = bbox;
                track.last_seen = now;
                let changed = track.last_reason != Some(reason);
                track.last_reason = Some(reason);
                changed
            }
            None => {
                self.tracks.push(Track {
                    bbox,
                    last_seen: now,
                    last_reason: Some(reason),
                });
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_face_that_stays_makes_news_only_when_its_decision_changes() {
        let (mut tracker, t0) = (Tracker::default(), Instant::now());
        let face = [100.0, 100.0, 200.0, 200.0];
        let moved = [105.0, 102.0, 205.0, 202.0];
        assert!(tracker.observe(face, Reason::NotLive, t0));
        assert!(!tracker.observe(moved, Reason::NotLive, t0 + Duration::from_millis(100)));
        assert!(tracker.observe(moved, Reason::Granted, t0 + Duration::from_millis(200)));
        // Another face elsewhere is news; the first one forgotten is news again.
        assert!(tracker.observe(
            [400.0, 100.0, 500.0, 200.0],
            Reason::Unknown,
            t0 + Duration::from_millis(300)
        ));
        assert!(tracker.observe(moved, Reason::Granted, t0 + Duration::from_secs(5)));
    }
}
