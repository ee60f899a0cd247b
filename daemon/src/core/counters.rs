//! What the edge loop counts, reported at `GET /api/facegate/v1/Status`.

use super::health::{CameraHealth, CameraHealthDto, CameraState, RelayHealth, RelayHealthDto};
use crate::score::{expected_stranger_rate, threshold_for_stranger_rate, Scale};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// How many recent latencies the percentiles cover.
const RECENT: usize = 4096;

#[derive(Default)]
pub struct Counters {
    pub camera: CameraHealth,
    pub relay: Arc<RelayHealth>,
    pub frames_processed: AtomicU64,
    /// Frames whose processing panicked: logged, not processed.
    pub frames_failed: AtomicU64,
    pub opens: AtomicU64,
    pub denials: AtomicU64,
    /// Events the store refused (a full disk, say): the door still acted.
    pub events_not_stored: AtomicU64,
    /// Time in the engine (detection to liveness) and in the 1:N search.
    pub analyse_micros: AtomicU64,
    pub search_micros: AtomicU64,
    frame_to_decision_micros: AtomicU64,
    /// The latest frame-to-decision latencies, for percentiles.
    recent_latencies: Mutex<VecDeque<u64>>,
    /// The door's `max_stranger_rate` and the camera's stream id, once
    /// the loop runs.
    door: OnceLock<(f64, String)>,
}

/// What the door asks of a match now, and what that is expected to give.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoorPolicyDto {
    /// The camera's id in access notifications.
    stream_id: String,
    max_stranger_rate: f64,
    /// Enrolled faces: each is one more chance for a stranger.
    gallery_faces: usize,
    /// The score a match needs (a watchlist's own threshold may ask more).
    threshold: i32,
    /// From the score's calibration (docs/EDGE.md): strangers let in, and
    /// members refused on one photo against another.
    expected_stranger_rate: f64,
    expected_member_refusal_rate: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CountersDto {
    /// The camera is streaming into the loop.
    running: bool,
    /// `None` when the edge loop is not configured.
    door: Option<DoorPolicyDto>,
    camera: CameraHealthDto,
    relay: RelayHealthDto,
    frames_in: u64,
    frames_processed: u64,
    frames_dropped: u64,
    /// Frames the camera delivered broken (skipped).
    frames_bad: u64,
    frames_failed: u64,
    opens: u64,
    denials: u64,
    events_not_stored: u64,
    /// Mean milliseconds per processed frame: the engine (detect,
    /// landmarks, template, pose, liveness) and the 1:N search.
    analyse_ms: f64,
    search_ms: f64,
    frame_to_decision_ms: f64,
    /// Over the latest decisions (up to 4096), from capture to decision;
    /// the relay command follows at once.
    frame_to_decision_p50_ms: f64,
    frame_to_decision_p99_ms: f64,
}

impl Counters {
    pub fn door_policy(&self, max_stranger_rate: f64, stream_id: &str) {
        let _ = self.door.set((max_stranger_rate, stream_id.to_string()));
    }

    /// The counters, with the door's policy for `gallery_faces` enrolled.
    pub fn snapshot(&self, gallery_faces: usize, scale: &Scale) -> CountersDto {
        let processed = self.frames_processed.load(Ordering::Relaxed);
        let mean = |micros: &AtomicU64| {
            micros.load(Ordering::Relaxed) as f64 / processed.max(1) as f64 / 1e3
        };
        let mut recent: Vec<u64> = self
            .recent_latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        recent.sort_unstable();
        let percentile = |q: f64| {
            recent
                .get(((recent.len().max(1) - 1) as f64 * q).round() as usize)
                .map_or(0.0, |micros| *micros as f64 / 1e3)
        };
        let camera = &self.camera;
        let door = self.door.get().map(|(max_stranger_rate, stream_id)| {
            let max_stranger_rate = *max_stranger_rate;
            let threshold = threshold_for_stranger_rate(max_stranger_rate, gallery_faces);
            DoorPolicyDto {
                stream_id: stream_id.clone(),
                max_stranger_rate,
                gallery_faces,
                threshold,
                expected_stranger_rate: expected_stranger_rate(threshold, gallery_faces),
                expected_member_refusal_rate: scale.expected_refusal_rate(threshold),
            }
        });
        CountersDto {
            running: camera.state() == CameraState::Streaming,
            door,
            camera: camera.snapshot(),
            relay: self.relay.snapshot(),
            frames_in: camera.frames_in.load(Ordering::Relaxed),
            frames_processed: processed,
            frames_dropped: camera.frames_dropped.load(Ordering::Relaxed),
            frames_bad: camera.frames_bad.load(Ordering::Relaxed),
            frames_failed: self.frames_failed.load(Ordering::Relaxed),
            opens: self.opens.load(Ordering::Relaxed),
            denials: self.denials.load(Ordering::Relaxed),
            events_not_stored: self.events_not_stored.load(Ordering::Relaxed),
            analyse_ms: mean(&self.analyse_micros),
            search_ms: mean(&self.search_micros),
            frame_to_decision_ms: mean(&self.frame_to_decision_micros),
            frame_to_decision_p50_ms: percentile(0.5),
            frame_to_decision_p99_ms: percentile(0.99),
        }
    }

    pub fn note_latency(&self, micros: u64) {
        self.frame_to_decision_micros
            .fetch_add(micros, Ordering::Relaxed);
        let mut recent = self
            .recent_latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(micros);
    }
}

pub fn add_micros(counter: &AtomicU64, since: Instant) {
    counter.fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
}
