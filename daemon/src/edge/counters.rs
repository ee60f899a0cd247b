//! What the loop counts and reports at `GET /api/facegate/v1/Status`.

use super::capture::{CameraHealth, CameraHealthDto, CameraState};
use super::door::{RelayHealth, RelayHealthDto};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
    pub detect_micros: AtomicU64,
    pub recognise_micros: AtomicU64,
    frame_to_decision_micros: AtomicU64,
    /// The latest frame-to-decision latencies, for percentiles.
    recent_latencies: Mutex<VecDeque<u64>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CountersDto {
    /// The camera is streaming into the loop.
    running: bool,
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
    /// Mean milliseconds per processed frame.
    detect_ms: f64,
    recognise_ms: f64,
    frame_to_decision_ms: f64,
    /// Over the latest decisions (up to 4096), from capture to decision;
    /// the relay command follows at once.
    frame_to_decision_p50_ms: f64,
    frame_to_decision_p99_ms: f64,
}

impl Counters {
    pub fn snapshot(&self) -> CountersDto {
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
        CountersDto {
            running: camera.state() == CameraState::Streaming,
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
            detect_ms: mean(&self.detect_micros),
            recognise_ms: mean(&self.recognise_micros),
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
