//! `facegate bench door`: the door loop itself, with a gallery of N people,
//! on the report part of `bench identify`'s split. Members and strangers
//! walk up one after another in front of a paced camera; every decision
//! the loop publishes is traced back to the frame it was made on, so each
//! open is counted against the person who was in view.
//!
//! The gallery: the report part's gallery side (members' first photos and
//! single-photo people), then people of the tuning part (first photo), then,
//! if still short, half of the report part's stranger side (by name hash);
//! the other half walk up as strangers, so no stranger is ever enrolled.
//! Members walk up with their other photos. LFW's 150x150 photos are
//! scaled to a 320 px high face area in a 640x480 frame, so faces are about
//! 130 px, above the door's 80 px limit.

use super::open_set::{assign, name_hash, Part, Side};
use super::{people, quantile, read_image, THUMBNAIL_DETECTOR};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::core::bus::{Delivery, EventBus};
use crate::core::event::{DoorEvent, Outcome};
use crate::core::Core;
use crate::edge::{setup, EdgeLoop, LoggingRelay};
use crate::store::{Face, MemberFields, Store, StoredImage, WatchlistFields};
use facegate_hal::{Camera, CameraError, Frame};
use facegate_models::image::{imageops, Rgb};
use facegate_models::{AnalysisRequest, AttributeSet, RgbImage};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const WATCHLIST: &str = "staff";
const FRAME: (u32, u32) = (640, 480);
/// The photo's height in the frame.
const PHOTO_HEIGHT: u32 = 320;
/// Empty frames between two people, so that each starts a track.
const GAP_FRAMES: usize = 2;

pub struct Settings {
    pub gallery: usize,
    pub strangers: usize,
    pub fps: u32,
    pub frames_per_person: usize,
}

/// One person walking up: who, and the photos shown in turn.
struct WalkUp {
    member: Option<String>,
    photos: Vec<Arc<RgbImage>>,
}

/// When each frame was shown, and the walk-up it showed (None: empty).
type Shown = Arc<Mutex<Vec<(Instant, Option<usize>)>>>;

/// A camera showing the walk-ups in real time, each for
/// `frames_per_person` frames, and remembering when it showed each frame.
struct Scene {
    shots: Vec<Option<(usize, usize)>>,
    walk_ups: Arc<Vec<WalkUp>>,
    fps: u32,
    started: Option<Instant>,
    shown: Shown,
}

impl Scene {
    fn new(walk_ups: Arc<Vec<WalkUp>>, settings: &Settings) -> Scene {
        let mut shots = vec![None; GAP_FRAMES];
        for (index, walk_up) in walk_ups.iter().enumerate() {
            let photos = walk_up.photos.len();
            shots.extend((0..settings.frames_per_person).map(|f| Some((index, f % photos))));
            shots.extend(std::iter::repeat_n(None, GAP_FRAMES));
        }
        Scene {
            shots,
            walk_ups,
            fps: settings.fps,
            started: None,
            shown: Arc::default(),
        }
    }
}

impl Camera for Scene {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        let sequence = self.shown.lock().unwrap_or_else(|e| e.into_inner()).len();
        let Some(shot) = self.shots.get(sequence) else {
            return Ok(None);
        };
        let started = *self.started.get_or_insert_with(Instant::now);
        let due = started + Duration::from_secs_f64(sequence as f64 / f64::from(self.fps));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let mut image = RgbImage::from_pixel(FRAME.0, FRAME.1, Rgb([128, 128, 128]));
        if let Some((walk_up, photo)) = *shot {
            let photo = &self.walk_ups[walk_up].photos[photo];
            let width = photo.width() * PHOTO_HEIGHT / photo.height().max(1);
            let scaled = imageops::resize(
                photo.as_ref(),
                width,
                PHOTO_HEIGHT,
                imageops::FilterType::Triangle,
            );
            let x = i64::from(FRAME.0.saturating_sub(width) / 2);
            let y = i64::from((FRAME.1 - PHOTO_HEIGHT) / 2);
            imageops::overlay(&mut image, &scaled, x, y);
        }
        let frame = Frame {
            image: image.into(),
            captured_at: Instant::now(),
            sequence: sequence as u64,
        };
        let walk_up = shot.map(|(walk_up, _)| walk_up);
        self.shown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((frame.captured_at, walk_up));
        Ok(Some(frame))
    }
}

/// What happened while each person was in view.
#[derive(Default)]
struct Tally {
    members: usize,
    members_let_in: usize,
    wrong_member: usize,
    strangers: usize,
    strangers_let_in: usize,
    /// From a member's first frame to their grant, in ms.
    time_to_open: Vec<f32>,
    /// Frames the loop processed, and dropped while it was busy.
    processed: u64,
    dropped: u64,
}

/// Replays the walk-ups once through the door loop with `evidence_frames`.
fn pass(
    core: &Arc<Core>,
    config: &Config,
    walk_ups: &Arc<Vec<WalkUp>>,
    settings: &Settings,
    evidence_frames: usize,
) -> Result<Tally, String> {
    let subscription = core
        .notifications
        .subscribe("bench door".into())
        .ok_or("the bus refused a subscriber")?;
    let door = config.cameras().swap_remove(0);
    let stream_id = uuid::Uuid::new_v4().to_string();
    let turns = Arc::new(tokio::sync::Semaphore::new(1));
    let mut edge = setup::settings(config, &door, stream_id, true, turns)?;
    // "Liveness aside": LFW photos are photos of photos.
    edge.rules.liveness_required = false;
    edge.rules.evidence_frames = evidence_frames;
    let scene = Scene::new(walk_ups.clone(), settings);
    let (shown, total) = (scene.shown.clone(), scene.shots.len());
    let (clock, since) = (SystemTime::now(), Instant::now());
    let counters = core.counters.clone();
    let frames = || counters.frames_processed_and_dropped();
    let before = frames();
    let mut camera = Some(scene);
    let door = EdgeLoop::start(
        core.clone(),
        move || match camera.take() {
            Some(scene) => Ok(Box::new(scene) as Box<dyn Camera>),
            None => Err(CameraError::device("the scene was shown")),
        },
        || Ok(LoggingRelay),
        edge,
    );
    while shown.lock().unwrap_or_else(|e| e.into_inner()).len() < total {
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let the loop decide the last frames.
    std::thread::sleep(Duration::from_secs(2));
    door.stop();
    let after = frames();
    let shown = shown.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut events: Vec<Arc<DoorEvent>> = Vec::new();
    while let Delivery::Events {
        dropped,
        events: more,
    } = subscription.next(Duration::ZERO)
    {
        if dropped > 0 {
            return Err(format!("the bench lost {dropped} decisions"));
        }
        events.extend(more);
    }
    // Each decision's frame: the one shown nearest its capture time.
    let walk_up_of = |event: &DoorEvent| {
        let captured = since + event.detected_at.duration_since(clock).unwrap_or_default();
        let nearest = shown.partition_point(|(at, _)| *at < captured);
        [nearest.saturating_sub(1), nearest]
            .into_iter()
            .filter_map(|i| shown.get(i))
            .min_by_key(|(at, _)| at.max(&captured).duration_since(*at.min(&captured)))
            .and_then(|(at, walk_up)| Some((walk_up.as_ref()?, *at)))
    };
    let first_frame = |walk_up: usize| shown.iter().find(|(_, w)| *w == Some(walk_up));
    let mut let_in = vec![false; walk_ups.len()];
    let mut tally = Tally {
        processed: after.0 - before.0,
        dropped: after.1 - before.1,
        ..Tally::default()
    };
    for event in events.iter().filter(|e| e.outcome == Outcome::Granted) {
        let Some((&walk_up, captured)) = walk_up_of(event) else {
            continue;
        };
        let expected = walk_ups[walk_up].member.as_deref();
        let granted = event.member.as_ref().map(|m| m.id.as_str());
        match expected {
            Some(member) if granted != Some(member) => {
                tally.wrong_member += 1;
                continue;
            }
            Some(_) if !let_in[walk_up] => {
                if let Some((first, _)) = first_frame(walk_up) {
                    // When the loop decided: the event's time.
                    let decided = event
                        .event
                        .at
                        .to_system_time()
                        .duration_since(clock)
                        .map_or(captured, |d| since + d);
                    tally
                        .time_to_open
                        .push(decided.saturating_duration_since(*first).as_secs_f32() * 1e3);
                }
            }
            _ => {}
        }
        let_in[walk_up] = true;
    }
    for (walk_up, let_in) in walk_ups.iter().zip(let_in) {
        match walk_up.member {
            Some(_) => {
                tally.members += 1;
                tally.members_let_in += usize::from(let_in);
            }
            None => {
                tally.strangers += 1;
                tally.strangers_let_in += usize::from(let_in);
            }
        }
    }
    Ok(tally)
}

/// Who is enrolled (name, enrolment photo) and who walks up (the member
/// or None for a stranger, and their photos).
struct Cast {
    gallery: Vec<(String, PathBuf)>,
    walk_ups: Vec<(Option<String>, Vec<PathBuf>)>,
}

/// The cast of the report part.
fn cast(images: &Path, settings: &Settings) -> Result<Cast, String> {
    let folders = people(images)?;
    let name = |photos: &[PathBuf]| -> String {
        photos
            .first()
            .and_then(|p| Some(p.parent()?.file_name()?.to_str()?.to_string()))
            .unwrap_or_default()
    };
    let mut gallery = Vec::new();
    let mut members = Vec::new();
    let mut fill = Vec::new();
    let mut stranger_side = Vec::new();
    for photos in folders.iter().filter(|p| !p.is_empty()) {
        let person = name(photos);
        match assign(&person) {
            (Part::Report, Side::Gallery) => {
                gallery.push((person.clone(), photos[0].clone()));
                if photos.len() > 1 {
                    members.push((Some(person), photos[1..].to_vec()));
                }
            }
            (Part::Report, Side::Stranger) => stranger_side.push((person, photos.clone())),
            (Part::Tuning, _) => fill.push((person, photos[0].clone())),
        }
    }
    let short = settings.gallery.saturating_sub(gallery.len());
    gallery.extend(fill.into_iter().take(short));
    // Half of the stranger side may top the gallery up; the other half
    // never is, and walks up.
    let (spare, strangers): (Vec<_>, Vec<_>) = stranger_side
        .into_iter()
        .partition(|(person, _)| name_hash(person) >> 2 & 1 == 1);
    let short = settings.gallery.saturating_sub(gallery.len());
    if short > spare.len() {
        return Err(format!(
            "{} holds too few people for a gallery of {}",
            images.display(),
            settings.gallery
        ));
    }
    gallery.extend(
        spare
            .into_iter()
            .take(short)
            .map(|(person, photos)| (person, photos[0].clone())),
    );
    let strangers = strangers
        .into_iter()
        .take(settings.strangers)
        .map(|(_, photos)| (None, photos));
    Ok(Cast {
        gallery,
        walk_ups: members.into_iter().chain(strangers).collect(),
    })
}

/// Enrols each person's photo in one watchlist; returns how many had a
/// face.
fn enrol(
    core: &Core,
    gallery: &[(String, PathBuf)],
    limits: facegate_models::DecodeLimits,
) -> Result<usize, String> {
    let fields = WatchlistFields {
        display_name: WATCHLIST.into(),
        full_name: WATCHLIST.into(),
        threshold: None,
        preview_color: None,
    };
    let store = &core.catalog.store;
    store
        .create_watchlist(WATCHLIST, fields)
        .map_err(|e| e.to_string())?;
    let request = AnalysisRequest {
        detector: THUMBNAIL_DETECTOR,
        attributes: AttributeSet::NONE,
        liveness: false,
    };
    let mut enrolled = 0;
    for (person, path) in gallery {
        let image = read_image(path, limits)?;
        let faces = core
            .engine
            .analyse(&image, &request)
            .map_err(|e| e.to_string())?;
        let Some(face) = faces.first() else { continue };
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let stored = StoredImage::jpeg(bytes);
        let record = Face::from_analysis(
            face,
            core.engine.template_model(),
            uuid::Uuid::new_v4().to_string(),
            Some(person.clone()),
            &stored.id,
        );
        let fields = MemberFields {
            display_name: Some(person.clone()),
            ..MemberFields::default()
        };
        core.catalog
            .register(
                person,
                fields,
                &[WATCHLIST.to_string()],
                vec![(record, stored)],
            )
            .map_err(|e| format!("{person}: {e:?}"))?;
        enrolled += 1;
    }
    Ok(enrolled)
}

fn percent(part: usize, whole: usize) -> String {
    format!(
        "{part} of {whole} ({:.2} %)",
        100.0 * part as f64 / whole.max(1) as f64
    )
}

pub fn run(config: &Config, images: &Path, settings: &Settings) -> Result<String, String> {
    let Cast { gallery, walk_ups } = cast(images, settings)?;
    let limits = config.engine.decode_limits();
    let walk_ups = walk_ups
        .into_iter()
        .map(|(member, photos)| {
            let photos = photos
                .iter()
                .map(|p| read_image(p, limits).map(Arc::new))
                .collect::<Result<Vec<_>, String>>()?;
            Ok(WalkUp { member, photos })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let data = std::env::temp_dir().join(format!("facegate-bench-door-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let store = Store::open(&data).map_err(|e| e.to_string())?;
    let engine = facegate_models::FaceEngine::load(&config.engine.engine_config()?)
        .map_err(|e| e.to_string())?;
    let catalog = Catalog::load(store, engine.template_model()).map_err(|e| e.to_string())?;
    let core = Arc::new(Core {
        catalog,
        engine,
        counters: Default::default(),
        door: Default::default(),
        site: Default::default(),
        panel: Default::default(),
        door_watch: Default::default(),
        event_streams: EventBus::new(0, 1),
        notifications: EventBus::new(1, 100_000),
        graphql_events: EventBus::new(1, 100_000),
    });
    let enrolled = enrol(&core, &gallery, limits)?;
    let mut out = String::new();
    let threshold = crate::score::threshold_for_stranger_rate(
        config.edge.max_stranger_rate,
        core.catalog.indexed_faces(),
    );
    let _ = writeln!(
        out,
        "gallery {enrolled} ({} photos had no face); door threshold {threshold} (max_stranger_rate {}); {} fps, {} frames per person",
        gallery.len() - enrolled,
        config.edge.max_stranger_rate,
        settings.fps,
        settings.frames_per_person
    );
    let one_photo = Arc::new(
        walk_ups
            .iter()
            .map(|w| WalkUp {
                member: w.member.clone(),
                photos: w.photos[..1].to_vec(),
            })
            .collect::<Vec<_>>(),
    );
    let two_photos = Arc::new(
        walk_ups
            .into_iter()
            .map(|w| WalkUp {
                member: w.member,
                photos: w.photos.into_iter().take(2).collect(),
            })
            .collect::<Vec<_>>(),
    );
    for (label, scene) in [
        ("one photo per person", &one_photo),
        ("two photos per person, alternating", &two_photos),
    ] {
        for evidence_frames in [1, 2] {
            let tally = pass(&core, config, scene, settings, evidence_frames)?;
            let _ = writeln!(
                out,
                "{label}, evidence_frames {evidence_frames}: members let in {}, wrong member {}, strangers let in {}; member's first frame to open p50 {:.0} ms, p90 {:.0} ms; frames processed {}, dropped {}",
                percent(tally.members_let_in, tally.members),
                tally.wrong_member,
                percent(tally.strangers_let_in, tally.strangers),
                quantile(tally.time_to_open.clone(), 0.5),
                quantile(tally.time_to_open, 0.9),
                tally.processed,
                tally.dropped,
            );
        }
    }
    drop(core);
    let _ = std::fs::remove_dir_all(&data);
    Ok(out)
}
