//! SmartFace's access-notification gRPC stream, subscribed to as an
//! access-control connector does: a replay camera shows an enrolled member
//! and a stranger, and every door decision must reach each subscriber with
//! SmartFace's fields, filtered by the types it asked for, with pings, an
//! API key beyond loopback, across a restart, and without a subscriber
//! that never reads ever holding the door back.

mod common;

#[allow(clippy::all, clippy::pedantic)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/client/innovatrics.smartface.rs"));
}

use common::door::{door_on_pty, occurrences, scene, start_door, wait_until_played, OPEN};
use common::{wait_until, Daemon};
use proto::access_notification_service_client::AccessNotificationServiceClient;
use proto::{AccessNotification, AccessNotificationRequest, BlockReason, DenyReason};
use serde_json::{json, Value};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tonic::transport::Endpoint;

const FACE_GRANTED: u32 = 1;
const FACE_DENIED: u32 = 2;
const FACE_BLOCKED: u32 = 4;
const PING: u32 = 8;

/// How a subscription ended, once it has.
#[derive(Debug, Clone, PartialEq)]
enum Ended {
    /// The server closed the stream without an error.
    Cleanly,
    Failed(tonic::Code),
}

/// A connector's subscription, read on a thread of its own.
struct Subscriber {
    received: Arc<Mutex<Vec<(Instant, AccessNotification)>>>,
    ended: Arc<Mutex<Option<Ended>>>,
}

impl Subscriber {
    /// Subscribes at `url` with `request`, sending `metadata` pairs.
    fn start(url: &str, request: AccessNotificationRequest, metadata: &[(&str, &str)]) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(Mutex::new(None));
        let (url, metadata) = (url.to_string(), owned(metadata));
        let (into, end) = (received.clone(), ended.clone());
        std::thread::spawn(move || {
            let outcome = runtime().block_on(async {
                let channel = Endpoint::from_shared(url).unwrap().connect().await;
                let channel = channel.map_err(|_| tonic::Code::Unavailable)?;
                let mut client = AccessNotificationServiceClient::new(channel);
                let mut stream = client
                    .get_access_notifications(with_metadata(request, &metadata))
                    .await
                    .map_err(|status| status.code())?
                    .into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(notification)) => {
                            into.lock().unwrap().push((Instant::now(), notification))
                        }
                        Ok(None) => return Ok(()),
                        Err(status) => return Err(status.code()),
                    }
                }
            });
            *end.lock().unwrap() = Some(match outcome {
                Ok(()) => Ended::Cleanly,
                Err(code) => Ended::Failed(code),
            });
        });
        Subscriber { received, ended }
    }

    fn received(&self) -> Vec<AccessNotification> {
        let received = self.received.lock().unwrap();
        received.iter().map(|(_, n)| n.clone()).collect()
    }

    fn of_type(&self, kind: u32) -> Vec<AccessNotification> {
        let received = self.received();
        received
            .into_iter()
            .filter(|n| n.type_of_access_notification == kind)
            .collect()
    }

    fn wait_until_ended(&self) -> Ended {
        wait_until(Duration::from_secs(30), "the stream to end", || {
            self.ended.lock().unwrap().is_some()
        });
        self.ended.lock().unwrap().clone().unwrap()
    }
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn with_metadata<T>(message: T, metadata: &[(String, String)]) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    for (key, value) in metadata {
        let key: tonic::metadata::MetadataKey<_> = key.parse().unwrap();
        request.metadata_mut().insert(key, value.parse().unwrap());
    }
    request
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn wanting(types: u32, send_image_data: bool) -> AccessNotificationRequest {
    AccessNotificationRequest {
        send_image_data,
        type_of_access_notification: types,
    }
}

/// A data directory with Obama enrolled in `staff`, named and labelled.
fn obama_enrolled() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_in(data.path(), None);
    daemon.enrol("obama", "obama.jpg", "staff");
    let named = json!({"id": "obama", "displayName": "Barack Obama",
                       "labels": [{"key": "badge", "value": "42"}]});
    assert_eq!(daemon.put("/api/v1/WatchlistMembers", &named).status, 200);
    data
}

/// Starts a daemon on `data` replaying `scene` at 5 fps with the logging
/// relay; `config` goes into the config file.
fn replaying(data: &std::path::Path, scene: &tempfile::TempDir, config: &str) -> Daemon {
    start_door(data, config, scene.path(), 5, "fake", &[])
}

/// Waits until the status shows `n` subscribers, checking that the door
/// has decided nothing yet (else the scene started too soon for them).
fn wait_for_subscribers(daemon: &Daemon, n: usize) -> Value {
    let mut status = Value::Null;
    wait_until(Duration::from_secs(30), "the subscribers", || {
        status = daemon.get("/api/facegate/v1/Status").json();
        status["accessNotifications"]["subscribers"]
            .as_array()
            .is_some_and(|s| s.len() == n)
    });
    assert_eq!(
        status["opens"].as_u64().unwrap() + status["denials"].as_u64().unwrap(),
        0,
        "the door decided before the subscribers were there: {status}"
    );
    status
}

fn seconds(t: &prost_types::Timestamp) -> f64 {
    t.seconds as f64 + f64::from(t.nanos) / 1e9
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The REST event log's event for the face `face_id`.
fn event_of(events: &Value, face_id: &str) -> Value {
    let items = events["items"].as_array().unwrap();
    let found = items.iter().find(|e| e["faceId"] == face_id);
    found
        .unwrap_or_else(|| panic!("no event for face {face_id}: {events}"))
        .clone()
}

/// What every decision's notification carries, checked against the REST
/// event log.
fn check_common_fields(n: &AccessNotification, events: &Value, stream_id: &str) -> Value {
    let event = event_of(events, &n.face_id);
    assert_eq!(n.tracklet_id, event["trackletId"].as_str().unwrap());
    assert_eq!(n.stream_id, stream_id);
    let detected = seconds(n.face_detected_at.as_ref().unwrap());
    let sent = seconds(n.sent_at.as_ref().unwrap());
    assert!(detected <= sent && sent <= now_seconds(), "{n:?}");
    let at = n.face_detected_at.as_ref().unwrap();
    let at_us = at.seconds * 1_000_000 + i64::from(at.nanos) / 1000;
    assert_eq!(n.frame_timestamp_us, at_us);
    let eyes = n.eye_coordinates.as_ref().unwrap();
    for coordinate in [
        eyes.left_eye_x,
        eyes.left_eye_y,
        eyes.right_eye_x,
        eyes.right_eye_y,
    ] {
        assert!(coordinate > 0.0 && coordinate < 2000.0, "{eyes:?}");
    }
    assert!(eyes.left_eye_x != eyes.right_eye_x, "{eyes:?}");
    assert_eq!(
        n.headers["facegate-reason"],
        event["reason"].as_str().unwrap()
    );
    assert_eq!(
        n.headers["facegate-door-opened"],
        event["doorOpened"].to_string()
    );
    event
}

#[test]
fn every_decision_reaches_each_subscriber_as_it_asked_with_smartface_fields_and_pings() {
    let data = obama_enrolled();
    // Six seconds of empty hall while the subscribers connect; Obama opens
    // the door; within the 60 s debounce he is back (blocked until then);
    // then a stranger.
    let shots = [
        ("blank", 30),
        ("obama2.jpg", 4),
        ("blank", 14),
        ("obama3.jpg", 4),
        ("blank", 14),
        ("biden.jpg", 4),
        ("blank", 10),
    ];
    let scene = scene(&shots);
    // Visits of a few frames: one frame decides, so a loop slowed by a
    // loaded machine that sees a visit once still decides on it.
    let config = "[edge]\ndebounce_seconds = 60.0\ncooldown_seconds = 0.0\nevidence_frames = 1\n";
    let daemon = replaying(data.path(), &scene, config);
    let url = daemon.grpc_url();
    let subscribed_at = Instant::now();
    let granted_with_images = Subscriber::start(&url, wanting(FACE_GRANTED, true), &[]);
    let everything = Subscriber::start(&url, wanting(0, false), &[]);
    wait_for_subscribers(&daemon, 2);
    wait_until_played(&daemon, 80);
    wait_until(
        Duration::from_secs(30),
        "the stranger's notification",
        || !everything.of_type(FACE_DENIED).is_empty(),
    );
    let listened = subscribed_at.elapsed().as_secs_f64();
    let events = daemon.get("/api/facegate/v1/Events?PageSize=100").json();
    let stream_id = everything.of_type(FACE_GRANTED)[0].stream_id.clone();
    assert!(uuid::Uuid::parse_str(&stream_id).is_ok(), "{stream_id}");

    // The subscriber of grants gets the one grant, with its image, and
    // nothing else: no pings, no refusals.
    let grants = granted_with_images.received();
    assert_eq!(grants.len(), 1, "{grants:?}");
    let grant = &grants[0];
    assert_eq!(grant.type_of_access_notification, FACE_GRANTED);
    let event = check_common_fields(grant, &events, &stream_id);
    assert_eq!(event["doorOpened"], true);
    let granted = grant.access_notification_granted.as_ref().unwrap();
    assert!(
        grant.access_notification_denied.is_none() && grant.access_notification_blocked.is_none()
    );
    assert_eq!(granted.watchlist_member_id, "obama");
    assert_eq!(granted.watchlist_member_external_id, "obama");
    assert_eq!(granted.watchlist_member_display_name, "Barack Obama");
    assert_eq!(
        (
            granted.watchlist_id.as_str(),
            granted.watchlist_external_id.as_str()
        ),
        ("staff", "staff")
    );
    assert_eq!(granted.watchlist_display_name, "staff");
    assert_eq!(granted.match_result_score, event["score"].as_i64().unwrap());
    assert!(granted.match_result_score >= 40);
    assert_eq!(granted.watchlist_member_labels["badge"], "42");
    let crop = facegate_models::image::load_from_memory(&granted.crop_image)
        .expect("the crop is an image");
    assert!(
        crop.width() >= 40 && crop.width() <= 400,
        "{}",
        crop.width()
    );

    // The subscriber of everything: the grant (without image), the block
    // within the debounce, the stranger, and pings about every 5 s.
    let all_grants = everything.of_type(FACE_GRANTED);
    assert_eq!(all_grants.len(), 1);
    assert_eq!(all_grants[0].face_id, grant.face_id);
    let granted_again = all_grants[0].access_notification_granted.as_ref().unwrap();
    assert!(granted_again.crop_image.is_empty(), "no images asked for");

    let blocks = everything.of_type(FACE_BLOCKED);
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    check_common_fields(&blocks[0], &events, &stream_id);
    let blocked = blocks[0].access_notification_blocked.as_ref().unwrap();
    assert_eq!(
        blocked.reason,
        BlockReason::OpeningTemporarilyBlocked as i32
    );
    assert_eq!(blocked.watchlist_member_id, "obama");
    assert_eq!(blocked.watchlist_member_display_name, "Barack Obama");
    assert_eq!(blocked.watchlist_id, "staff");
    assert!(blocked.crop_image.is_empty());
    // Blocked until 60 s after the open.
    let opened_at = seconds(grant.face_detected_at.as_ref().unwrap());
    let until = seconds(blocked.blocked_until.as_ref().unwrap()) - opened_at;
    assert!(
        (59.0..61.0).contains(&until),
        "blocked until open + {until} s"
    );

    let denials = everything.of_type(FACE_DENIED);
    assert_eq!(denials.len(), 1, "{denials:?}");
    let event = check_common_fields(&denials[0], &events, &stream_id);
    assert_eq!(event["reason"], "unknown person");
    let denied = denials[0].access_notification_denied.as_ref().unwrap();
    assert_eq!(denied.reason, DenyReason::NotIdentified as i32);
    assert_eq!(denied.watchlist_member_id, "", "a stranger is not named");

    let pings = everything.of_type(PING);
    let expected = (listened / 5.0).floor() as usize;
    assert!(
        pings.len() + 1 >= expected && pings.len() <= expected + 1,
        "{} pings in {listened:.1} s",
        pings.len()
    );
    assert!(pings.iter().all(|p| p.sent_at.is_some()
        && p.access_notification_granted.is_none()
        && p.face_id.is_empty()));
    assert_eq!(everything.received().len(), 3 + pings.len(), "nothing else");

    let status = daemon.get("/api/facegate/v1/Status").json();
    let subscribers = status["accessNotifications"]["subscribers"]
        .as_array()
        .unwrap();
    assert_eq!(subscribers.len(), 2, "{status}");
    assert!(subscribers.iter().all(|s| s["dropped"] == 0), "{status}");
}

#[test]
fn beyond_loopback_the_api_key_is_asked_and_streams_survive_a_restart_with_the_same_stream_id() {
    let data = obama_enrolled();
    let scene = scene(&[("blank", 30), ("obama2.jpg", 4), ("blank", 5)]);
    let config = "[server]\napi_key = \"door-key\"\n[edge]\nevidence_frames = 1\n";
    let mut daemon = replaying(data.path(), &scene, config);
    let url = daemon.grpc_url();
    let without_key = Subscriber::start(&url, wanting(0, false), &[]);
    let wrong_key = Subscriber::start(&url, wanting(0, false), &[("x-api-key", "nope")]);
    assert_eq!(
        without_key.wait_until_ended(),
        Ended::Failed(tonic::Code::Unauthenticated)
    );
    assert_eq!(
        wrong_key.wait_until_ended(),
        Ended::Failed(tonic::Code::Unauthenticated)
    );
    let bearer = [("authorization", "Bearer door-key")];
    let first = Subscriber::start(&url, wanting(FACE_GRANTED, false), &bearer);
    let by_header = Subscriber::start(
        &url,
        wanting(FACE_GRANTED, false),
        &[("x-api-key", "door-key")],
    );
    wait_until(Duration::from_secs(60), "the grant", || {
        first.received().len() == 1 && by_header.received().len() == 1
    });
    let stream_id = first.received()[0].stream_id.clone();
    let status = daemon.raw("GET", "/api/facegate/v1/Status", &bearer, b"");
    assert_eq!(status.json()["door"]["streamId"], stream_id.as_str());

    // A graceful stop ends the streams cleanly, not with an error.
    assert!(daemon.terminate());
    assert_eq!(first.wait_until_ended(), Ended::Cleanly);
    drop(daemon);

    // The connector dials the same address again: the new daemon serves
    // it, and its camera keeps its stream id.
    let port = url.rsplit(':').next().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let daemon = start_door(
        data.path(),
        config,
        scene.path(),
        5,
        "fake",
        &["--grpc-listen", &listen],
    );
    assert_eq!(daemon.grpc_url(), url);
    let again = Subscriber::start(&url, wanting(FACE_GRANTED, false), &bearer);
    wait_until(
        Duration::from_secs(60),
        "the grant after the restart",
        || again.received().len() == 1,
    );
    assert_eq!(again.received()[0].stream_id, stream_id);
}

/// Plays Obama coming and going six times at 5 fps (3.4 s apart, a 2 s
/// debounce holding each visit to one open) to a pty relay, with
/// `stuck` subscribers that never read; returns the decisions, the relay's
/// opens, the status at the end.
fn six_visits(stuck: usize) -> (Vec<String>, usize, Value) {
    let data = obama_enrolled();
    let mut shots = vec![("blank", 30)];
    for _ in 0..6 {
        shots.extend([("obama2.jpg", 3), ("blank", 14)]);
    }
    let frames = shots.iter().map(|(_, n)| *n as u64).sum();
    let scene = scene(&shots);
    // A stuck subscriber cannot be sent the end of its stream: shutdown
    // gives up on it after its timeout.
    let config = "[edge]\ndebounce_seconds = 2.0\ncooldown_seconds = 0.0\npulse_ms = 100\n\
                  evidence_frames = 1\n\
                  [grpc]\nbacklog = 2\n[server]\nshutdown_timeout_seconds = 3.0\n";
    let (mut daemon, mut board) = door_on_pty(data.path(), config, scene.path());
    let (release, held) = std::sync::mpsc::channel::<()>();
    let held = Arc::new(Mutex::new(held));
    for _ in 0..stuck {
        let (url, held) = (daemon.grpc_url(), held.clone());
        // Subscribes, asking for images, with a receive window too small
        // for one notification, and never reads.
        std::thread::spawn(move || {
            runtime().block_on(async {
                let channel = Endpoint::from_shared(url)
                    .unwrap()
                    .initial_stream_window_size(Some(64))
                    .initial_connection_window_size(Some(64))
                    .connect()
                    .await
                    .unwrap();
                let mut client = AccessNotificationServiceClient::new(channel);
                let _stream = client
                    .get_access_notifications(wanting(0, true))
                    .await
                    .unwrap();
                let _ = held.lock().unwrap().recv();
            })
        });
    }
    wait_for_subscribers(&daemon, stuck);
    wait_until_played(&daemon, frames);
    let status = daemon.get("/api/facegate/v1/Status").json();
    let events = daemon.get("/api/facegate/v1/Events?PageSize=100").json();
    let decisions = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(
        daemon.terminate(),
        "the daemon stops, stuck subscriber or not"
    );
    drop(release);
    let mut received = Vec::new();
    let _ = board.read_to_end(&mut received);
    (decisions, occurrences(&received, &OPEN), status)
}

#[test]
fn a_subscriber_that_never_reads_loses_its_oldest_notifications_and_never_holds_the_door() {
    let (alone, opens_alone, status_alone) = six_visits(0);
    let (with_stuck, opens_with_stuck, status) = six_visits(1);
    assert_eq!(alone, vec!["granted"; 6]);
    assert_eq!(with_stuck, alone, "the same decisions");
    assert_eq!((opens_alone, opens_with_stuck), (6, 6), "the same opens");
    let stuck = &status["accessNotifications"]["subscribers"][0];
    assert!(stuck["dropped"].as_u64().unwrap() >= 1, "{status}");
    // Not a speed figure: a door that waited for the subscriber would be
    // held for good, seconds late at the least.
    let p99 = |s: &Value| s["frameToDecisionP99Ms"].as_f64().unwrap();
    assert!(
        p99(&status) < p99(&status_alone) + 2000.0,
        "frame to decision p99: {} ms with the stuck subscriber, {} ms without",
        p99(&status),
        p99(&status_alone)
    );
}
