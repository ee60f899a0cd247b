//! What the edge loop counts, reported at `GET /api/facegate/v1/Status`.

use super::event::Direction;
use super::health::{CameraHealth, CameraHealthDto, CameraState, RelayHealth, RelayHealthDto};
use crate::score::{expected_stranger_rate, threshold_for_stranger_rate, Scale};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How many recent latencies the percentiles cover.
const RECENT: usize = 4096;

#[derive(Default)]
pub struct Counters {
    /// Each camera's loop, in the order they started: the first is the
    /// door the console opens and the panel serves.
    stations: Mutex<Vec<Arc<Station>>>,
    /// Frames whose processing panicked: logged, not processed.
    pub frames_failed: AtomicU64,
    /// Events the store refused (a full disk, say): the door still acted.
    pub events_not_stored: AtomicU64,
    /// Time in the engine (detection to liveness) and in the 1:N search.
    pub analyse_micros: AtomicU64,
    pub search_micros: AtomicU64,
    frame_to_decision_micros: AtomicU64,
    /// The latest frame-to-decision latencies, for percentiles.
    recent_latencies: Mutex<VecDeque<u64>>,
}

/// One camera with its door, as its loop runs: what the status shows of it.
pub struct Station {
    pub stream_id: String,
    pub direction: Direction,
    pub max_stranger_rate: f64,
    pub camera: CameraHealth,
    pub relay: Arc<RelayHealth>,
    pub frames_processed: AtomicU64,
    pub opens: AtomicU64,
    pub denials: AtomicU64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StationDto {
    stream_id: String,
    direction: Direction,
    camera: CameraHealthDto,
    relay: RelayHealthDto,
    frames_in: u64,
    frames_processed: u64,
    frames_dropped: u64,
    frames_bad: u64,
    opens: u64,
    denials: u64,
}

impl Station {
    /// A frame this camera's loop processed.
    pub fn processed(&self) {
        self.frames_processed.fetch_add(1, Ordering::Relaxed);
    }

    /// A decision of this camera's door: an open or a denial.
    pub fn decided(&self, opened: bool) {
        let count = match opened {
            true => &self.opens,
            false => &self.denials,
        };
        count.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> StationDto {
        let camera = &self.camera;
        StationDto {
            stream_id: self.stream_id.clone(),
            direction: self.direction,
            camera: camera.snapshot(),
            relay: self.relay.snapshot(),
            frames_in: camera.frames_in.load(Ordering::Relaxed),
            frames_processed: self.frames_processed.load(Ordering::Relaxed),
            frames_dropped: camera.frames_dropped.load(Ordering::Relaxed),
            frames_bad: camera.frames_bad.load(Ordering::Relaxed),
            opens: self.opens.load(Ordering::Relaxed),
            denials: self.denials.load(Ordering::Relaxed),
        }
    }
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
    /// Every camera is streaming into its loop.
    running: bool,
    /// `None` when the edge loop is not configured.
    door: Option<DoorPolicyDto>,
    /// The first camera and its relay, as in `cameras`.
    camera: CameraHealthDto,
    relay: RelayHealthDto,
    /// Each camera with its door.
    cameras: Vec<StationDto>,
    /// From here, the sums over the cameras.
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
    /// Counts a camera's loop from now on.
    pub fn add_station(
        &self,
        stream_id: &str,
        direction: Direction,
        max_stranger_rate: f64,
    ) -> Arc<Station> {
        let station = Arc::new(Station {
            stream_id: stream_id.to_string(),
            direction,
            max_stranger_rate,
            camera: CameraHealth::default(),
            relay: Arc::default(),
            frames_processed: AtomicU64::new(0),
            opens: AtomicU64::new(0),
            denials: AtomicU64::new(0),
        });
        self.stations().push(station.clone());
        station
    }

    fn stations(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Station>>> {
        self.stations.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Frames the cameras' loops processed, and the frames the cameras
    /// delivered while their loops were busy, over every camera.
    pub fn frames_processed_and_dropped(&self) -> (u64, u64) {
        let stations = self.stations();
        let sum = |count: fn(&Station) -> &AtomicU64| -> u64 {
            stations
                .iter()
                .map(|s| count(s).load(Ordering::Relaxed))
                .sum()
        };
        (
            sum(|s| &s.frames_processed),
            sum(|s| &s.camera.frames_dropped),
        )
    }

    /// The counters, with the door's policy for `gallery_faces` enrolled.
    pub fn snapshot(&self, gallery_faces: usize, scale: Scale) -> CountersDto {
        let stations = self.stations().clone();
        let cameras: Vec<StationDto> = stations.iter().map(|s| s.snapshot()).collect();
        let sum = |count: fn(&StationDto) -> u64| -> u64 { cameras.iter().map(count).sum() };
        let processed = sum(|c| c.frames_processed);
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
        let door = stations.first().map(|first| {
            let (max_stranger_rate, stream_id) = (first.max_stranger_rate, &first.stream_id);
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
        let streaming = |s: &Arc<Station>| s.camera.state() == CameraState::Streaming;
        let first = stations.first();
        CountersDto {
            running: !stations.is_empty() && stations.iter().all(streaming),
            door,
            camera: first.map_or_else(
                || CameraHealth::default().snapshot(),
                |s| s.camera.snapshot(),
            ),
            relay: first.map_or_else(|| RelayHealth::default().snapshot(), |s| s.relay.snapshot()),
            frames_in: sum(|c| c.frames_in),
            frames_processed: processed,
            frames_dropped: sum(|c| c.frames_dropped),
            frames_bad: sum(|c| c.frames_bad),
            frames_failed: self.frames_failed.load(Ordering::Relaxed),
            opens: sum(|c| c.opens),
            denials: sum(|c| c.denials),
            events_not_stored: self.events_not_stored.load(Ordering::Relaxed),
            analyse_ms: mean(&self.analyse_micros),
            search_ms: mean(&self.search_micros),
            frame_to_decision_ms: mean(&self.frame_to_decision_micros),
            frame_to_decision_p50_ms: percentile(0.5),
            frame_to_decision_p99_ms: percentile(0.99),
            // Last: the sums above read it.
            cameras,
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
