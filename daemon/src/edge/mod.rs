//! The edge loop: camera frames -> detect -> liveness -> template -> 1:N
//! match -> decision -> door relay, with every decision logged as an event.
//!
//! A capture thread (`capture.rs`) keeps only the newest frame; the door
//! (`door.rs`) is a task that holds the relay open on its own, so the loop
//! keeps deciding while the door is open. Processing uses the API's engine
//! and index, so a member enrolled over REST is recognised on the next
//! frame. Every event tells what happened: a grant the relay refused is
//! logged as "relay failed", with the door closed.

mod capture;
mod decision;
mod door;
pub mod setup;
pub mod supervision;
mod tracker;

use crate::core::counters::{add_micros, Station};
use crate::core::door::{Contact, OpenError, OpenRequest};
use crate::core::event::{Direction, DoorEvent, NamedMember, Outcome};
use crate::core::panel::PanelVerdict;
use crate::core::{lock, Core};
use crate::gallery::Scope;
use crate::score::{threshold_for_stranger_rate, Scale};
use crate::store::{Event, Face, Retention, StoredImage, Timestamp};
use capture::Latest;
pub use decision::Rules;
use decision::{DecisionState, Match, Observation, Reason};
use door::Door;
use facegate_hal::{Camera, CameraError, DoorRelay, Frame, Picture, RelayError};
use facegate_models::image::{imageops, ImageFormat};
use facegate_models::{AnalysisRequest, AttributeSet, DetectorConfig, FaceAnalysis, RgbImage};
use std::io::Cursor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use supervision::Supervisor;
use tokio::sync::mpsc::UnboundedReceiver;
use tracker::Tracker;

pub struct EdgeSettings {
    pub rules: Rules,
    /// Watchlists searched; empty means all. The deny lists are always
    /// among them (see `setup::settings`), so a deny-listed member is
    /// recognised as such whatever the door admits.
    pub watchlists: Vec<String>,
    pub pulse: Duration,
    pub retention: Retention,
    /// The largest share of strangers the door may let in.
    pub max_stranger_rate: f64,
    /// The camera's id in access notifications and events.
    pub stream_id: String,
    /// Which way its door lets people through, as its events tell.
    pub direction: Direction,
    /// The daemon's first camera: its door is the one the console opens
    /// and the one the access-control panel (OSDP, Wiegand) is told of.
    pub primary: bool,
    /// Shared by every camera's loop: the cameras take turns at the
    /// engine, one frame at a time, in the order they asked (the
    /// semaphore is fair), so a busy camera cannot starve another.
    pub engine_turns: Arc<tokio::sync::Semaphore>,
    /// How long a grant waits for the panel's verdict.
    pub panel_wait: Duration,
    /// Whether the relay opens on the panel's grant (else the panel's lock
    /// alone opens).
    pub relay_follows_panel: bool,
    /// The door contact and exit button, when wired; taken at start.
    pub door_inputs: std::sync::Mutex<Option<DoorInputs>>,
}

/// The door's GPIO inputs and what they are.
pub struct DoorInputs {
    pub lines: Box<dyn facegate_hal::InputLines>,
    pub wiring: supervision::Wiring,
    pub held_open: Duration,
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
    pub fn start<R, C, F>(core: Arc<Core>, camera: C, relay: F, settings: EdgeSettings) -> EdgeLoop
    where
        R: DoorRelay + 'static,
        C: FnMut() -> Result<Box<dyn Camera>, CameraError> + Send + 'static,
        F: FnMut() -> Result<R, RelayError> + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let latest = Arc::new(Latest::default());
        let station = core.counters.add_station(
            &settings.stream_id,
            settings.direction,
            settings.max_stranger_rate,
        );
        // Registered before the API serves, so an early request finds the door.
        let open_requests = settings.primary.then(|| core.door.register());
        let capture = {
            let (stop, latest, station) = (stop.clone(), latest.clone(), station.clone());
            std::thread::spawn(move || capture::run(camera, &latest, &station.camera, &stop))
        };
        let worker = {
            let (stop, latest) = (stop.clone(), latest.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the edge loop");
                runtime.block_on(async move {
                    let settings = Arc::new(settings);
                    let (door, door_task) =
                        Door::start(relay, settings.pulse, station.relay.clone());
                    let inputs = settings
                        .door_inputs
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take();
                    // Without a contact no opening is seen, and the limit
                    // is never asked.
                    let held_open = inputs.as_ref().map_or(Duration::MAX, |i| i.held_open);
                    let supervisor = Arc::new(std::sync::Mutex::new(Supervisor::new(held_open)));
                    let supervising = inputs.map(|inputs| {
                        let (sender, received) = tokio::sync::mpsc::unbounded_channel();
                        let watch_stop = stop.clone();
                        std::thread::spawn(move || {
                            supervision::watch(inputs.lines, inputs.wiring, sender, watch_stop)
                        });
                        tokio::spawn(supervise(
                            core.clone(),
                            door.clone(),
                            received,
                            supervisor.clone(),
                            settings.clone(),
                        ))
                    });
                    let on_request = open_requests.map(|requests| {
                        tokio::spawn(open_on_request(
                            core.clone(),
                            door.clone(),
                            requests,
                            settings.clone(),
                            supervisor.clone(),
                            station.clone(),
                        ))
                    });
                    process_frames(core, latest, stop, door, settings, supervisor, station).await;
                    // Its door handle goes with it; requests are refused.
                    if let Some(on_request) = on_request {
                        on_request.abort();
                        let _ = on_request.await;
                    }
                    if let Some(supervising) = supervising {
                        supervising.abort();
                        let _ = supervising.await;
                    }
                    // The door handles are gone: the task closes the relay.
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
    core: Arc<Core>,
    latest: Arc<Latest>,
    stop: Arc<AtomicBool>,
    door: Door,
    settings: Arc<EdgeSettings>,
    supervisor: Arc<std::sync::Mutex<Supervisor>>,
    station: Arc<Station>,
) {
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
        let (core_for_work, settings_for_work) = (core.clone(), settings.clone());
        let turn = settings.engine_turns.clone().acquire_owned().await;
        let work = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            observe(&core_for_work, frame, &settings_for_work)
        });
        let observed = match work.await {
            Ok(observed) => observed,
            Err(failure) => {
                // A bug met by one frame must not stop the door.
                log::error!("processing a frame failed: {failure}");
                core.counters.frames_failed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        station.processed();
        tracker.next_frame(Instant::now());
        // Read once per frame: a site may change them at any time.
        let schedules = core.door_watch.schedules();
        for face in &observed.faces {
            let now = Instant::now();
            let judged = state.judge(&settings.rules, &schedules, &face.observation, now);
            let candidate = face.observation.matched.as_ref();
            let placed = tracker.place(
                face.analysis.located.detection.bbox,
                candidate.map(|m| m.member_id.as_str()),
                judged == Reason::Granted,
                now,
            );
            let mut reason = match judged {
                Reason::Granted if placed.passed_in_a_row < settings.rules.evidence_frames => {
                    Reason::Confirming
                }
                judged => judged,
            };
            let mut opened_anew = false;
            let mut panel_verdict = PanelVerdict::None;
            if reason == Reason::Granted && settings.primary && core.panel.is_configured() {
                let member = candidate.map_or("", |m| m.member_id.as_str());
                let asked = ask_panel(&core, &door, member, &settings).await;
                (reason, panel_verdict, opened_anew) = asked;
                if reason == Reason::Granted {
                    lock(&supervisor).released(Instant::now() + settings.pulse);
                }
                // Sent or not, the member is held back like after an open:
                // standing at the door does not send card after card.
                state.opened(member, now);
            } else if reason == Reason::Granted {
                // Only the door's answer says whether it opened.
                match door.open().await {
                    Ok(anew) => {
                        opened_anew = anew;
                        lock(&supervisor).released(Instant::now() + settings.pulse);
                        if let Some(matched) = candidate {
                            state.opened(&matched.member_id, now);
                        }
                    }
                    Err(_) => reason = Reason::RelayFailed,
                }
            }
            let sighting = tracker.decided(&placed, reason);
            if reason == Reason::Confirming {
                continue;
            }
            core.counters
                .note_latency(face.captured_at.elapsed().as_micros() as u64);
            // Every time the door opens is an event; holding it open for the
            // same person is not.
            if !(sighting.news || opened_anew) {
                continue;
            }
            station.decided(reason == Reason::Granted);
            let member = candidate.map_or("", |m| m.member_id.as_str());
            let until = state.blocked_until(&settings.rules, member, reason);
            let decided = Decided {
                frame: &observed,
                face,
                reason,
                outcome: reason.outcome(until),
                tracklet_id: sighting.tracklet_id,
                panel_verdict,
            };
            record(&core, decided, &settings);
        }
    }
}

/// Presents a granted member to the panel, which drives the lock, and
/// follows its verdict: the reason the event gives, the verdict, and
/// whether this door's relay opened anew (when it follows the panel).
async fn ask_panel(
    core: &Core,
    door: &Door,
    member: &str,
    settings: &EdgeSettings,
) -> (Reason, PanelVerdict, bool) {
    let labels = core
        .catalog
        .store
        .member(member)
        .ok()
        .flatten()
        .map(|member| label_map(member.labels))
        .unwrap_or_default();
    let Some(verdict) = core.panel.present(&labels, settings.panel_wait).await else {
        return (Reason::NoCredential, PanelVerdict::None, false);
    };
    let reason = match verdict {
        PanelVerdict::Granted => Reason::Granted,
        PanelVerdict::Denied => Reason::PanelDenied,
        PanelVerdict::None if settings.relay_follows_panel => Reason::PanelSilent,
        PanelVerdict::None => Reason::SentToPanel,
    };
    if reason != Reason::Granted || !settings.relay_follows_panel {
        return (reason, verdict, false);
    }
    match door.open().await {
        Ok(anew) => (Reason::Granted, verdict, anew),
        Err(_) => (Reason::RelayFailed, verdict, false),
    }
}

/// Opens the door when a front end asks (the console's "open the door
/// now"), and logs each request as an event: opened, or refused by the
/// relay. It does not count for the debounce or the cooldown, which are
/// about faces.
async fn open_on_request(
    core: Arc<Core>,
    door: Door,
    mut requests: UnboundedReceiver<OpenRequest>,
    settings: Arc<EdgeSettings>,
    supervisor: Arc<std::sync::Mutex<Supervisor>>,
    station: Arc<Station>,
) {
    while let Some(request) = requests.recv().await {
        if request.expired() {
            log::warn!("a request to open the door waited past its answer: dropped");
            continue;
        }
        let opened = door.open().await;
        let reason = match opened {
            Ok(_) => {
                station.decided(true);
                lock(&supervisor).released(Instant::now() + settings.pulse);
                Reason::OpenedFromConsole
            }
            Err(_) => Reason::RelayFailed,
        };
        let logged = log_door_event(&core, reason, opened.is_ok(), &settings, true).await;
        let Ok(logged) = logged else {
            continue; // the requester is told it was not answered
        };
        let _ = request.answer.send(match opened {
            Ok(_) => Ok(logged),
            Err(error) => Err(OpenError::Relay {
                event: Box::new(logged),
                error: error.to_string(),
            }),
        });
    }
}

/// Logs an event that is not a face's (the console's opening, the
/// contact, the exit button) and publishes it: to every stream when
/// `to_every_stream`, else to the live event stream alone.
async fn log_door_event(
    core: &Arc<Core>,
    reason: Reason,
    opened: bool,
    settings: &Arc<EdgeSettings>,
    to_every_stream: bool,
) -> Result<DoorEvent, tokio::task::JoinError> {
    let event = Event {
        sequence: 0,
        at: Timestamp::now(),
        member_id: None,
        score: None,
        liveness: None,
        opened,
        reason: reason.as_str().to_string(),
        crop: Vec::new(),
        face_id: None,
        tracklet_id: None,
        watchlist_id: None,
        panel_verdict: PanelVerdict::None,
        stream_id: settings.stream_id.clone(),
        direction: settings.direction,
    };
    let (core, settings) = (core.clone(), settings.clone());
    // Storing waits for the disk: not on the door's runtime.
    tokio::task::spawn_blocking(move || {
        let (event, stored) = store_event(&core, event, None, &settings);
        let logged = DoorEvent {
            event,
            stored,
            outcome: reason.outcome(None),
            member: None,
            detected_at: SystemTime::now(),
            eyes: [0.0; 4],
            face_image: Vec::new(),
        };
        match to_every_stream {
            true => core.publish(logged.clone()),
            false => core.publish_door_activity(logged.clone()),
        }
        logged
    })
    .await
}

/// Turns the door's inputs into events: the contact's passages, forced
/// and held openings, and the exit button, which opens the relay.
async fn supervise(
    core: Arc<Core>,
    door: Door,
    mut inputs: tokio::sync::mpsc::UnboundedReceiver<supervision::Input>,
    supervisor: Arc<std::sync::Mutex<Supervisor>>,
    settings: Arc<EdgeSettings>,
) {
    let watch = &core.door_watch;
    let mut ticks = tokio::time::interval(Duration::from_millis(500));
    loop {
        let (reason, opened) = tokio::select! {
            input = inputs.recv() => match input {
                None => return,
                Some(supervision::Input::Contact(open)) => {
                    let judged = lock(&supervisor).contact(open, Instant::now());
                    watch.set_contact(if open { Contact::Open } else { Contact::Closed });
                    match judged {
                        Some(reason) => (reason, false),
                        None => continue,
                    }
                }
                Some(supervision::Input::ExitPressed) => {
                    let opened = door.open().await.is_ok();
                    if opened {
                        lock(&supervisor).released(Instant::now() + settings.pulse);
                    }
                    (Reason::ExitButton, opened)
                }
            },
            _ = ticks.tick() => match lock(&supervisor).tick(Instant::now()) {
                Some(reason) => {
                    watch.set_contact(Contact::HeldOpen);
                    (reason, false)
                }
                None => continue,
            },
        };
        let counter = match reason {
            Reason::DoorPassage => &watch.passages,
            Reason::DoorForcedOpen => &watch.forced_open,
            Reason::DoorHeldOpen => &watch.held_open,
            _ => &watch.exit_requests,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let _ = log_door_event(&core, reason, opened, &settings, false).await;
    }
}

/// One face in a frame, analysed and judged.
struct SeenFace {
    analysis: FaceAnalysis,
    observation: Observation,
    captured_at: Instant,
}

/// A processed frame and the faces in it.
struct Observed {
    /// The frame's picture: its buffer goes back to the pool with it.
    image: Picture,
    /// SmartFace's `frameId` of the faces found in it.
    frame_id: String,
    faces: Vec<SeenFace>,
}

/// A decision worth an event, with what it was made on.
struct Decided<'a> {
    frame: &'a Observed,
    face: &'a SeenFace,
    reason: Reason,
    outcome: Outcome,
    tracklet_id: String,
    panel_verdict: PanelVerdict,
}

/// What the loop computes for each face: the pose is a door rule, and
/// liveness when it is required (or logged).
const DOOR_ANALYSIS: AnalysisRequest = AnalysisRequest {
    detector: DetectorConfig::DEFAULT,
    attributes: AttributeSet {
        pose: true,
        ..AttributeSet::NONE
    },
    liveness: true,
};

fn observe(core: &Core, frame: Frame, settings: &EdgeSettings) -> Observed {
    let started = Instant::now();
    let faces = match core.engine.analyse(&frame.image, &DOOR_ANALYSIS) {
        Ok(faces) => faces,
        Err(e) => {
            log::warn!("analysing a frame failed: {e}");
            Vec::new()
        }
    };
    add_micros(&core.counters.analyse_micros, started);
    let started = Instant::now();
    let scope = match settings.watchlists.is_empty() {
        true => Scope::AnyWatchlist,
        false => Scope::Watchlists(&settings.watchlists),
    };
    let door_threshold =
        threshold_for_stranger_rate(settings.max_stranger_rate, core.catalog.indexed_faces());
    let seen = faces
        .into_iter()
        .map(|analysis| {
            let best = core
                .catalog
                .search(&analysis.template.vector, scope, -1.0, 1)
                .into_iter()
                .next();
            let matched = best.map(|candidate| Match {
                score: Scale::of_engine(&core.engine).score_of(candidate.cosine),
                // The index names the member's watchlists within the scope;
                // the store holds their thresholds.
                watchlists: candidate
                    .watchlists
                    .iter()
                    .filter_map(|id| core.catalog.store.watchlist(id).ok().flatten())
                    .map(|w| (w.id, w.threshold))
                    .collect(),
                member_id: candidate.member_id,
            });
            let pose = analysis.attributes.pose;
            SeenFace {
                observation: Observation {
                    matched,
                    door_threshold,
                    liveness: analysis.liveness.map(|l| l.score),
                    face_size: analysis.located.detection.size(),
                    yaw: pose.map_or(0.0, |p| p.yaw),
                    pitch: pose.map_or(0.0, |p| p.pitch),
                    template_quality: analysis.template.quality,
                    seen_at: SystemTime::now() - frame.captured_at.elapsed(),
                },
                analysis,
                captured_at: frame.captured_at,
            }
        })
        .collect();
    add_micros(&core.counters.search_micros, started);
    Observed {
        image: frame.image,
        frame_id: uuid::Uuid::new_v4().to_string(),
        faces: seen,
    }
}

/// The face box as a 96x96 JPEG for the event log.
fn crop_jpeg(image: &RgbImage, bbox: [f32; 4]) -> Vec<u8> {
    let face = crop(image, bbox, 0.0);
    jpeg(&imageops::resize(
        &face,
        96,
        96,
        imageops::FilterType::Triangle,
    ))
}

/// Half the face's size on each side: enough context to enrol from, as
/// a photo of the person would give.
const FACE_IMAGE_MARGIN: f32 = 0.5;
/// The longer side of a stored camera face image, at most.
const FACE_IMAGE_MAX_SIDE: u32 = 400;

/// The face with a margin, at most 400 px, as a JPEG: the image of a
/// camera face, large enough to re-enrol from.
fn face_image_jpeg(image: &RgbImage, bbox: [f32; 4]) -> Vec<u8> {
    let face = crop(image, bbox, FACE_IMAGE_MARGIN);
    let scale = (FACE_IMAGE_MAX_SIDE as f32 / face.width().max(face.height()) as f32).min(1.0);
    let (width, height) = (
        ((face.width() as f32 * scale) as u32).max(1),
        ((face.height() as f32 * scale) as u32).max(1),
    );
    match scale < 1.0 {
        true => jpeg(&imageops::resize(
            &face,
            width,
            height,
            imageops::FilterType::Triangle,
        )),
        false => jpeg(&face),
    }
}

/// The box widened by `margin` times its size on each side, within the
/// image.
fn crop(image: &RgbImage, bbox: [f32; 4], margin: f32) -> RgbImage {
    let [x1, y1, x2, y2] = bbox;
    let (dx, dy) = ((x2 - x1) * margin, (y2 - y1) * margin);
    let x = (x1 - dx).max(0.0) as u32;
    let y = (y1 - dy).max(0.0) as u32;
    let w = ((x2 + dx) as u32)
        .saturating_sub(x)
        .clamp(1, image.width().saturating_sub(x).max(1));
    let h = ((y2 + dy) as u32)
        .saturating_sub(y)
        .clamp(1, image.height().saturating_sub(y).max(1));
    imageops::crop_imm(image, x, y, w, h).to_image()
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut jpeg = Cursor::new(Vec::new());
    match image.write_to(&mut jpeg, ImageFormat::Jpeg) {
        Ok(()) => jpeg.into_inner(),
        Err(_) => Vec::new(),
    }
}

/// The member a grant or a block names, with the watchlist that decided:
/// the deny list that blocked it, or else the one that admitted it.
fn named_member(
    core: &Core,
    observation: &Observation,
    outcome: &Outcome,
    rules: &Rules,
) -> Option<NamedMember> {
    if *outcome == Outcome::NotIdentified {
        return None;
    }
    let matched = observation.matched.as_ref()?;
    let deny_list = matched
        .watchlists
        .iter()
        .map(|(id, _)| id.as_str())
        .find(|id| rules.deny_watchlists.iter().any(|deny| deny == id));
    let watchlist_id = deny_list.or(observation.admitting_watchlist())?;
    let store = &core.catalog.store;
    let member = store.member(&matched.member_id).ok().flatten()?;
    let watchlist = store.watchlist(watchlist_id).ok().flatten()?;
    Some(NamedMember {
        id: member.id,
        display_name: member.display_name.unwrap_or_default(),
        labels: label_map(member.labels),
        watchlist_id: watchlist.id,
        watchlist_display_name: watchlist.display_name,
    })
}

/// A member's labels as key -> value; a label without a key is none.
fn label_map(labels: Vec<crate::store::Label>) -> std::collections::BTreeMap<String, String> {
    labels
        .into_iter()
        .filter_map(|label| Some((label.key?, label.value.unwrap_or_default())))
        .collect()
}

/// Logs a decision: the event, and the face it was made on as a stored
/// `Face` with its image (so a client can enrol the person from it), in
/// one transaction; then tells the subscribers, stored or not.
fn record(core: &Core, decided: Decided, settings: &EdgeSettings) {
    let Decided {
        frame,
        face,
        reason,
        outcome,
        tracklet_id,
        panel_verdict,
    } = decided;
    let bbox = face.analysis.located.detection.bbox;
    let face_image = face_image_jpeg(&frame.image, bbox);
    let image = StoredImage::jpeg(face_image.clone());
    let mut record = Face::from_analysis(
        &face.analysis,
        core.engine.template_model(),
        uuid::Uuid::new_v4().to_string(),
        None,
        &image.id,
    );
    record.tracklet_id = Some(tracklet_id);
    record.frame_id = Some(frame.frame_id.clone());
    let eyes = [
        record.left_eye[0],
        record.left_eye[1],
        record.right_eye[0],
        record.right_eye[1],
    ];
    // A stranger's closest member is not named; the score stays, for tuning.
    let matched = face.observation.matched.as_ref();
    let named = matched.filter(|_| reason != Reason::Unknown);
    let member = named_member(core, &face.observation, &outcome, &settings.rules);
    let event = Event {
        sequence: 0,
        at: Timestamp::now(),
        member_id: named.map(|m| m.member_id.clone()),
        score: matched.map(|m| m.score),
        liveness: face.observation.liveness,
        opened: reason == Reason::Granted,
        reason: reason.as_str().to_string(),
        crop: crop_jpeg(&frame.image, bbox),
        face_id: None,
        tracklet_id: None,
        watchlist_id: member.as_ref().map(|m| m.watchlist_id.clone()),
        panel_verdict,
        stream_id: settings.stream_id.clone(),
        direction: settings.direction,
    };
    let (event, stored) = store_event(core, event, Some((record, image)), settings);
    let detected_at = SystemTime::now() - face.captured_at.elapsed();
    core.publish(DoorEvent {
        member,
        event,
        stored,
        outcome,
        detected_at,
        eyes,
        face_image,
    });
}

/// Stores an event with the face it decided on, if any, and logs it;
/// returns it as stored, and whether it was (a full disk refuses it, and
/// the door has acted anyway).
fn store_event(
    core: &Core,
    event: Event,
    face: Option<(Face, StoredImage)>,
    settings: &EdgeSettings,
) -> (Event, bool) {
    let tracklet_id = face.as_ref().and_then(|(face, _)| face.tracklet_id.clone());
    let stored = core
        .catalog
        .store
        .record_event(event.clone(), face, &settings.retention);
    let (event, stored) = match stored {
        Ok(event) => (event, true),
        Err(e) => {
            // The door has acted already; only the log entry is lost.
            core.counters
                .events_not_stored
                .fetch_add(1, Ordering::Relaxed);
            log::error!("cannot record an event (the door acted anyway): {e}");
            // No face was stored either, so none is named.
            let unstored = Event {
                tracklet_id,
                ..event
            };
            (unstored, false)
        }
    };
    log::info!(
        "door: {} ({}, score {:?}, camera {})",
        if event.opened { "OPEN" } else { "closed" },
        event.reason,
        event.score,
        event.stream_id
    );
    (event, stored)
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
