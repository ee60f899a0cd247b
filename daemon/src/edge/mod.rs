//! The edge loop: camera frames -> detect -> liveness -> template -> 1:N
//! match -> decision -> door relay, with every decision logged as an event.
//!
//! A capture thread keeps only the newest frame: when processing is slower
//! than the camera, older frames are dropped and counted, so a slow stage
//! never grows memory. Processing uses the API's engine and index, so a
//! member enrolled over REST is recognised on the next frame.

pub mod bus;
mod decision;
pub mod setup;
mod tracker;

use crate::api::Api;
use crate::gallery::Scope;
use crate::score::score_of;
use crate::store::{Event, Timestamp};
pub use decision::Rules;
use decision::{DecisionState, Match, Observation, Reason};
use facegate_hal::{Camera, DoorRelay, Frame, RelayError};
use facegate_models::image::{imageops, ImageFormat};
use facegate_models::{AttributeSet, DetectorConfig};
use serde::Serialize;
use std::io::Cursor;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tracker::Tracker;

pub struct EdgeSettings {
    pub rules: Rules,
    /// Watchlists searched; empty means all.
    pub watchlists: Vec<String>,
    pub pulse: Duration,
    pub events_kept: u64,
}

/// Counters of the loop, for `GET /api/facegate/v1/Status`.
#[derive(Default)]
pub struct Counters {
    frames_in: AtomicU64,
    frames_processed: AtomicU64,
    frames_dropped: AtomicU64,
    opens: AtomicU64,
    denials: AtomicU64,
    detect_micros: AtomicU64,
    recognise_micros: AtomicU64,
    frame_to_decision_micros: AtomicU64,
    /// The latest frame-to-decision latencies, for percentiles.
    recent_latencies: Mutex<std::collections::VecDeque<u64>>,
}

/// How many recent latencies the percentiles cover.
const RECENT: usize = 4096;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CountersDto {
    running: bool,
    frames_in: u64,
    frames_processed: u64,
    frames_dropped: u64,
    opens: u64,
    denials: u64,
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
    pub fn snapshot(&self, running: bool) -> CountersDto {
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
        CountersDto {
            running,
            frames_in: self.frames_in.load(Ordering::Relaxed),
            frames_processed: processed,
            frames_dropped: self.frames_dropped.load(Ordering::Relaxed),
            opens: self.opens.load(Ordering::Relaxed),
            denials: self.denials.load(Ordering::Relaxed),
            detect_ms: mean(&self.detect_micros),
            recognise_ms: mean(&self.recognise_micros),
            frame_to_decision_ms: mean(&self.frame_to_decision_micros),
            frame_to_decision_p50_ms: percentile(0.5),
            frame_to_decision_p99_ms: percentile(0.99),
        }
    }
}

impl Counters {
    fn note_latency(&self, micros: u64) {
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

fn add_micros(counter: &AtomicU64, since: Instant) {
    counter.fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
}

/// The newest frame, handed from the capture thread to processing.
#[derive(Default)]
struct Latest {
    frame: Mutex<Option<Frame>>,
    ready: Notify,
    ended: AtomicBool,
}

/// A running loop; `stop` ends it and leaves the relay closed.
pub struct EdgeLoop {
    stop: Arc<AtomicBool>,
    latest: Arc<Latest>,
    worker: std::thread::JoinHandle<()>,
}

impl EdgeLoop {
    /// Starts capturing from `camera`; `relay` makes the door relay inside
    /// the loop's runtime (serial ports need one).
    pub fn start<R, F>(
        api: Arc<Api>,
        mut camera: Box<dyn Camera>,
        relay: F,
        settings: EdgeSettings,
    ) -> EdgeLoop
    where
        R: DoorRelay + 'static,
        F: FnOnce() -> Result<R, RelayError> + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let latest = Arc::new(Latest::default());
        {
            let (stop, latest, counters) = (stop.clone(), latest.clone(), api.counters.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match camera.next_frame() {
                        Ok(Some(frame)) => {
                            counters.frames_in.fetch_add(1, Ordering::Relaxed);
                            let mut slot = latest.frame.lock().unwrap_or_else(|e| e.into_inner());
                            if slot.replace(frame).is_some() {
                                counters.frames_dropped.fetch_add(1, Ordering::Relaxed);
                            }
                            drop(slot);
                            latest.ready.notify_one();
                        }
                        Ok(None) => break,
                        Err(e) => {
                            log::error!("camera: {e}");
                            break;
                        }
                    }
                }
                latest.ended.store(true, Ordering::Relaxed);
                latest.ready.notify_one();
            });
        }
        let worker = {
            let (stop, latest) = (stop.clone(), latest.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the edge loop");
                runtime.block_on(async move {
                    match relay() {
                        Ok(relay) => process_frames(api, latest, stop, relay, settings).await,
                        Err(e) => log::error!("door relay: {e}; the edge loop is not running"),
                    }
                });
            })
        };
        EdgeLoop {
            stop,
            latest,
            worker,
        }
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.latest.ready.notify_one();
        let _ = self.worker.join();
    }
}

async fn process_frames<R: DoorRelay>(
    api: Arc<Api>,
    latest: Arc<Latest>,
    stop: Arc<AtomicBool>,
    mut relay: R,
    settings: EdgeSettings,
) {
    let settings = Arc::new(settings);
    let mut state = DecisionState::default();
    let mut tracker = Tracker::default();
    // The door starts, and ends, closed.
    if let Err(e) = relay.close().await {
        log::error!("relay: {e}");
    }
    loop {
        let frame = latest
            .frame
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(frame) = frame else {
            if stop.load(Ordering::Relaxed) || latest.ended.load(Ordering::Relaxed) {
                break;
            }
            latest.ready.notified().await;
            continue;
        };
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (api_for_work, settings_for_work) = (api.clone(), settings.clone());
        let seen =
            tokio::task::spawn_blocking(move || observe(&api_for_work, &frame, &settings_for_work))
                .await
                .unwrap_or_default();
        api.counters
            .frames_processed
            .fetch_add(1, Ordering::Relaxed);
        for face in seen {
            let now = Instant::now();
            let reason = state.decide(&settings.rules, &face.observation, now);
            api.counters
                .note_latency(face.captured_at.elapsed().as_micros() as u64);
            if !tracker.observe(face.bbox, reason, now) {
                continue;
            }
            let opened = reason == Reason::Granted;
            if opened {
                api.counters.opens.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = pulse(&mut relay, settings.pulse).await {
                    log::error!("relay: {e}");
                }
            } else {
                api.counters.denials.fetch_add(1, Ordering::Relaxed);
            }
            record(&api, &face, reason, settings.events_kept);
        }
    }
    if let Err(e) = relay.close().await {
        log::error!("relay: {e}");
    }
}

async fn pulse<R: DoorRelay>(relay: &mut R, length: Duration) -> Result<(), RelayError> {
    relay.open().await?;
    tokio::time::sleep(length).await;
    relay.close().await
}

/// One face in a frame, judged.
struct SeenFace {
    bbox: [f32; 4],
    observation: Observation,
    captured_at: Instant,
    crop: Vec<u8>,
}

fn observe(api: &Api, frame: &Frame, settings: &EdgeSettings) -> Vec<SeenFace> {
    let started = Instant::now();
    let faces = match api.engine.locate(&frame.image, &DetectorConfig::default()) {
        Ok(faces) => faces,
        Err(e) => {
            log::warn!("detection failed: {e}");
            return Vec::new();
        }
    };
    add_micros(&api.counters.detect_micros, started);
    let started = Instant::now();
    let scope = match settings.watchlists.is_empty() {
        true => Scope::AnyWatchlist,
        false => Scope::Watchlists(&settings.watchlists),
    };
    let seen = faces
        .iter()
        .filter_map(|face| {
            let aligned = api.engine.align(&frame.image, face);
            let template = api.engine.template(&aligned).ok()?;
            let pose = AttributeSet {
                pose: true,
                ..AttributeSet::NONE
            };
            let attributes = api
                .engine
                .attributes(&frame.image, face, &aligned, pose)
                .ok()?;
            let liveness = api
                .engine
                .liveness(&frame.image, face)
                .ok()
                .map(|l| l.score);
            let best = api
                .catalog
                .search(&template.vector, scope, -1.0, 1)
                .into_iter()
                .next();
            let matched = best.map(|candidate| Match {
                score: score_of(candidate.cosine),
                // The index names the member's watchlists within the scope;
                // the store holds their thresholds.
                watchlists: candidate
                    .watchlists
                    .iter()
                    .filter_map(|id| api.catalog.store.watchlist(id).ok().flatten())
                    .map(|w| (w.id, w.threshold))
                    .collect(),
                member_id: candidate.member_id,
            });
            let pose = attributes.pose.unwrap_or(facegate_models::HeadPose {
                yaw: 0.0,
                pitch: 0.0,
                roll: 0.0,
            });
            Some(SeenFace {
                bbox: face.detection.bbox,
                observation: Observation {
                    matched,
                    liveness,
                    face_size: face.detection.size(),
                    yaw: pose.yaw,
                    pitch: pose.pitch,
                },
                captured_at: frame.captured_at,
                crop: crop_jpeg(&frame.image, face.detection.bbox),
            })
        })
        .collect();
    add_micros(&api.counters.recognise_micros, started);
    seen
}

/// The face box as a 96x96 JPEG for the event log.
fn crop_jpeg(image: &facegate_models::RgbImage, bbox: [f32; 4]) -> Vec<u8> {
    let x = bbox[0].max(0.0) as u32;
    let y = bbox[1].max(0.0) as u32;
    let w = ((bbox[2] - bbox[0]) as u32).clamp(1, image.width().saturating_sub(x).max(1));
    let h = ((bbox[3] - bbox[1]) as u32).clamp(1, image.height().saturating_sub(y).max(1));
    let face = imageops::crop_imm(image, x, y, w, h).to_image();
    let small = imageops::resize(&face, 96, 96, imageops::FilterType::Triangle);
    let mut jpeg = Cursor::new(Vec::new());
    match small.write_to(&mut jpeg, ImageFormat::Jpeg) {
        Ok(()) => jpeg.into_inner(),
        Err(_) => Vec::new(),
    }
}

fn record(api: &Api, face: &SeenFace, reason: Reason, keep: u64) {
    // A stranger's closest member is not named; the score stays, for tuning.
    let named = face
        .observation
        .matched
        .as_ref()
        .filter(|_| reason != Reason::Unknown);
    let event = Event {
        sequence: 0,
        at: Timestamp::now(),
        member_id: named.map(|m| m.member_id.clone()),
        score: face.observation.matched.as_ref().map(|m| m.score),
        liveness: face.observation.liveness,
        opened: reason == Reason::Granted,
        reason: reason.as_str().to_string(),
        crop: face.crop.clone(),
    };
    match api.catalog.store.record_event(event, keep) {
        Ok(event) => {
            log::info!(
                "door: {} ({}, score {:?})",
                if event.opened { "OPEN" } else { "closed" },
                event.reason,
                event.score
            );
            api.bus.publish(&crate::api::event_json(&event));
        }
        Err(e) => log::error!("cannot record an event: {e}"),
    }
}

/// The relay of `--relay fake`: logs what a relay would do, for demos on
/// machines without one.
pub struct LoggingRelay;

impl DoorRelay for LoggingRelay {
    async fn open(&mut self) -> Result<(), RelayError> {
        log::info!("relay (logging only): open");
        Ok(())
    }

    async fn close(&mut self) -> Result<(), RelayError> {
        log::info!("relay (logging only): close");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facegate_hal::fakes::FakeRelay;

    #[test]
    fn a_pulse_opens_then_closes_the_relay() {
        let relay = FakeRelay::default();
        let mut driven = relay.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(pulse(&mut driven, Duration::from_millis(1)))
            .unwrap();
        assert_eq!(*relay.commands.lock().unwrap(), vec!["open", "close"]);
    }
}
