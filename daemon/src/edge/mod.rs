//! The edge loop: camera frames -> detect -> liveness -> template -> 1:N
//! match -> decision -> door relay, with every decision logged as an event.
//!
//! A capture thread (`capture.rs`) keeps only the newest frame; the door
//! (`door.rs`) is a task that holds the relay open on its own, so the loop
//! keeps deciding while the door is open. Processing uses the API's engine
//! and index, so a member enrolled over REST is recognised on the next
//! frame. Every event tells what happened: a grant the relay refused is
//! logged as "relay failed", with the door closed.

pub mod bus;
mod capture;
pub mod counters;
mod decision;
mod door;
pub mod setup;
mod tracker;

use crate::api::Api;
use crate::gallery::Scope;
use crate::score::score_of;
use crate::store::{Event, Timestamp};
use capture::Latest;
use counters::add_micros;
pub use counters::Counters;
pub use decision::Rules;
use decision::{DecisionState, Match, Observation, Reason};
use door::Door;
use facegate_hal::{Camera, CameraError, DoorRelay, Frame, RelayError};
use facegate_models::image::{imageops, ImageFormat};
use facegate_models::{AttributeSet, DetectorConfig};
use std::io::Cursor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracker::Tracker;

pub struct EdgeSettings {
    pub rules: Rules,
    /// Watchlists searched; empty means all.
    pub watchlists: Vec<String>,
    pub pulse: Duration,
    pub events_kept: u64,
}

/// A running loop; `stop` ends it and leaves the relay closed.
pub struct EdgeLoop {
    stop: Arc<AtomicBool>,
    latest: Arc<Latest>,
    capture: std::thread::JoinHandle<()>,
    worker: std::thread::JoinHandle<()>,
}

impl EdgeLoop {
    /// Starts capturing from the camera that `camera` opens (again after a
    /// failure); `relay` makes the door relay inside the loop's runtime
    /// (serial ports need one), again after a failure too.
    pub fn start<R, C, F>(api: Arc<Api>, camera: C, relay: F, settings: EdgeSettings) -> EdgeLoop
    where
        R: DoorRelay + 'static,
        C: FnMut() -> Result<Box<dyn Camera>, CameraError> + Send + 'static,
        F: FnMut() -> Result<R, RelayError> + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let latest = Arc::new(Latest::default());
        let capture = {
            let (stop, latest, counters) = (stop.clone(), latest.clone(), api.counters.clone());
            std::thread::spawn(move || capture::run(camera, &latest, &counters.camera, &stop))
        };
        let worker = {
            let (stop, latest) = (stop.clone(), latest.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the edge loop");
                runtime.block_on(async move {
                    let (door, door_task) =
                        Door::start(relay, settings.pulse, api.counters.relay.clone());
                    process_frames(api, latest, stop, door, settings).await;
                    // The door handle is gone: the task closes the relay.
                    let _ = door_task.await;
                });
            })
        };
        EdgeLoop {
            stop,
            latest,
            capture,
            worker,
        }
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.latest.ready.notify_one();
        let _ = self.worker.join();
        let _ = self.capture.join();
    }
}

async fn process_frames(
    api: Arc<Api>,
    latest: Arc<Latest>,
    stop: Arc<AtomicBool>,
    door: Door,
    settings: EdgeSettings,
) {
    let settings = Arc::new(settings);
    let mut state = DecisionState::default();
    let mut tracker = Tracker::default();
    loop {
        let Some(frame) = latest.take() else {
            if stop.load(Ordering::Relaxed) || latest.ended() {
                break;
            }
            latest.ready.notified().await;
            continue;
        };
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (api_for_work, settings_for_work) = (api.clone(), settings.clone());
        let work =
            tokio::task::spawn_blocking(move || observe(&api_for_work, &frame, &settings_for_work));
        let seen = match work.await {
            Ok(seen) => seen,
            Err(failure) => {
                // A bug met by one frame must not stop the door.
                log::error!("processing a frame failed: {failure}");
                api.counters.frames_failed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        api.counters
            .frames_processed
            .fetch_add(1, Ordering::Relaxed);
        tracker.next_frame(Instant::now());
        for face in seen {
            let now = Instant::now();
            let mut reason = state.judge(&settings.rules, &face.observation, now);
            api.counters
                .note_latency(face.captured_at.elapsed().as_micros() as u64);
            if reason == Reason::Granted {
                // Only the door's answer says whether it opened.
                match door.open().await {
                    Ok(()) => {
                        if let Some(matched) = &face.observation.matched {
                            state.opened(&matched.member_id, now);
                        }
                    }
                    Err(_) => reason = Reason::RelayFailed,
                }
            }
            let candidate = face.observation.matched.as_ref();
            let sighting = tracker.observe(
                face.bbox,
                candidate.map(|m| m.member_id.as_str()),
                reason,
                now,
            );
            if !sighting.news {
                continue;
            }
            match reason {
                Reason::Granted => api.counters.opens.fetch_add(1, Ordering::Relaxed),
                _ => api.counters.denials.fetch_add(1, Ordering::Relaxed),
            };
            record(&api, &face, reason, settings.events_kept);
        }
    }
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
        Err(e) => {
            // The door has acted already; only the log entry is lost.
            api.counters
                .events_not_stored
                .fetch_add(1, Ordering::Relaxed);
            log::error!("cannot record an event (the door acted anyway): {e}");
        }
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
