//! Acknowledged writes survive SIGKILL; the database reopens intact.

mod common;

use common::{artifacts, photo_base64, wait_until, Daemon};
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A thread that sends one write after another to a daemon until told to
/// stop or a write fails, and records the ids the daemon acknowledged.
struct WriteStream {
    acknowledged: Arc<Mutex<Vec<String>>>,
    /// The write that failed and ended the stream.
    failure: Arc<Mutex<Option<Failed>>>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl WriteStream {
    /// Calls `write(agent, i)` for i = 0, 1, ...; it returns the id it
    /// wrote once the daemon acknowledged it, or what went wrong.
    fn start(
        write: impl Fn(&ureq::Agent, usize) -> Result<String, Failed> + Send + 'static,
    ) -> WriteStream {
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let failure = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (acknowledged, failure, stop) =
                (acknowledged.clone(), failure.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .into();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match write(&agent, i) {
                        Ok(id) => acknowledged.lock().unwrap().push(id),
                        Err(error) => {
                            *failure.lock().unwrap() = Some(error);
                            break; // after the kill: the daemon is gone
                        }
                    }
                }
            })
        };
        WriteStream {
            acknowledged,
            failure,
            stop,
            thread,
        }
    }

    /// Waits until `count` writes are acknowledged; panics if a write fails
    /// first or `limit` passes.
    fn wait_for(&self, count: usize, limit: Duration) {
        wait_until(limit, &format!("{count} acknowledged writes"), || {
            if let Some(failure) = self.failure.lock().unwrap().as_ref() {
                panic!("a write failed while the daemon ran: {failure}");
            }
            self.acknowledged.lock().unwrap().len() >= count
        });
    }

    /// Stops the stream once the daemon is dead and returns the
    /// acknowledged ids. Writes may only have failed for want of a daemon.
    fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        if let Some(failure @ Failed::Refused(_)) = self.failure.lock().unwrap().as_ref() {
            panic!("a write failed before the kill: {failure}");
        }
        let acknowledged = self.acknowledged.lock().unwrap().clone();
        acknowledged
    }
}

/// Why a write was not acknowledged.
enum Failed {
    /// The daemon answered with another status.
    Refused(String),
    /// No answer: the daemon is gone.
    Unanswered(String),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Failed::Refused(what) => write!(f, "refused: {what}"),
            Failed::Unanswered(what) => write!(f, "no answer: {what}"),
        }
    }
}

/// `Ok` when the daemon answered `what` with `status`.
fn expect_status(
    what: &str,
    status: u16,
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<(), Failed> {
    match sent {
        Ok(response) if response.status() == status => Ok(()),
        Ok(mut response) => Err(Failed::Refused(format!(
            "{what}: {} {}",
            response.status(),
            response.body_mut().read_to_string().unwrap_or_default()
        ))),
        Err(error) => Err(Failed::Unanswered(format!("{what}: {error}"))),
    }
}

fn create_watchlist(daemon: &Daemon, id: &str) {
    let body = json!({"id": id, "displayName": id, "fullName": id});
    assert_eq!(daemon.put("/api/v1/Watchlists", &body).status, 200);
}

/// The ids of the members a paged listing at `path` holds (at most 1000).
fn listed_ids(daemon: &Daemon, path: &str) -> HashSet<String> {
    let reply = daemon.get(&format!("{path}?PageSize=1000&ShowTotalCount=true"));
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    let page = reply.json();
    let items = page["items"].as_array().unwrap();
    assert_eq!(
        page["totalItemsCount"],
        items.len(),
        "{path}: over one page"
    );
    items
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_acknowledged_write_survives_sigkill_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start_in(dir.path(), None);
    create_watchlist(&daemon, "w");

    let base = daemon.base.clone();
    let stream = WriteStream::start(move |agent, i| {
        let id = format!("member-{i}");
        let put = agent
            .put(format!("{base}/api/v1/WatchlistMembers"))
            .send_json(json!({"id": id, "note": "durable"}));
        expect_status(&format!("PUT {id}"), 200, put)?;
        let link = agent
            .post(format!("{base}/api/v1/WatchlistMembers/LinkToWatchlist"))
            .send_json(json!({"watchlistId": "w", "watchlistMembersIds": [id]}));
        expect_status(&format!("link {id}"), 204, link)?;
        Ok(id)
    });
    // Let a stream of writes build up, then pull the plug mid-stream.
    stream.wait_for(150, Duration::from_secs(120));
    daemon.kill();
    let acknowledged = stream.finish();

    let restarted = Daemon::start_in(dir.path(), None);
    let linked = listed_ids(&restarted, "/api/v1/Watchlists/w/WatchlistMembers");
    for id in &acknowledged {
        let reply = restarted.get(&format!("/api/v1/WatchlistMembers/{id}"));
        assert_eq!(reply.status, 200, "acknowledged {id} was lost");
        assert_eq!(reply.json()["note"], "durable", "{id}");
        assert!(linked.contains(id), "acknowledged link of {id} was lost");
    }
}

const PHOTOS: [&str; 4] = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];

#[test]
fn every_acknowledged_registration_survives_sigkill_with_its_face_image_and_link() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start_in(dir.path(), None);
    create_watchlist(&daemon, "w");
    let photos: Arc<Vec<String>> = Arc::new(PHOTOS.iter().map(|p| photo_base64(p)).collect());

    let base = daemon.base.clone();
    let stream = WriteStream::start(move |agent, i| {
        let id = format!("registered-{i}");
        let body = json!({
            "id": id,
            "images": [{"data": photos[i % PHOTOS.len()]}],
            "watchlistIds": ["w"],
        });
        let reply = agent
            .post(format!("{base}/api/v1/WatchlistMembers/Register"))
            .send_json(body);
        expect_status(&format!("register {id}"), 201, reply)?;
        Ok(id)
    });
    // Registrations take a while each (decode, detect, template): kill
    // while the next one is in flight.
    stream.wait_for(12, Duration::from_secs(300));
    daemon.kill();
    let acknowledged = stream.finish();

    let restarted = Daemon::start_in(dir.path(), None);
    let members = listed_ids(&restarted, "/api/v1/WatchlistMembers");
    let linked = listed_ids(&restarted, "/api/v1/Watchlists/w/WatchlistMembers");
    let registered_with = |id: &str| {
        let i: usize = id.trim_start_matches("registered-").parse().unwrap();
        PHOTOS[i % PHOTOS.len()]
    };
    eprintln!(
        "{} registrations acknowledged, {} members after the restart",
        acknowledged.len(),
        members.len()
    );
    // One registration at a time: at most the one in flight at the kill
    // may exist without having been acknowledged.
    assert!(members.len() <= acknowledged.len() + 1, "{members:?}");
    for id in &acknowledged {
        let member = restarted.get(&format!("/api/v1/WatchlistMembers/{id}"));
        assert_eq!(member.status, 200, "acknowledged {id} was lost");
        assert!(linked.contains(id), "{id} lost its watchlist link");
    }
    // Registration is all or nothing: every member that exists, whether or
    // not its registration was acknowledged before the kill, is linked and
    // has its face, and the face's image is the photo it was registered with.
    for id in &members {
        assert!(linked.contains(id), "{id} exists but is not linked");
        let faces = restarted.get(&format!(
            "/api/v1/WatchlistMembers/{id}/Faces?ShowTotalCount=true"
        ));
        assert_eq!(faces.status, 200, "{id}: {}", faces.body);
        let faces = faces.json();
        assert_eq!(faces["totalItemsCount"], 1, "{id}: {faces}");
        let image_id = faces["items"][0]["imageDataId"].as_str().unwrap();
        let image = restarted.get(&format!("/api/v1/Images/{image_id}"));
        assert_eq!(image.status, 200, "{id}'s image {image_id}: {}", image.body);
        let photo = std::fs::read(artifacts().join("testdata").join(registered_with(id))).unwrap();
        assert!(
            image.bytes == photo,
            "{id}'s image {image_id} is not its photo"
        );
    }
    // The search index is rebuilt with every face: each photo finds every
    // member registered with it.
    for photo in PHOTOS {
        let reply = restarted.post(
            "/api/v1/Watchlists/Search",
            &json!({"image": {"data": photo_base64(photo)}, "watchlistIds": ["w"], "maxResultCount": 1000}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let found: HashSet<String> = reply.json()[0]["matchResults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["watchlistMemberId"].as_str().unwrap().to_string())
            .collect();
        for id in acknowledged
            .iter()
            .filter(|id| registered_with(id) == photo)
        {
            assert!(
                found.contains(id),
                "searching {photo} does not find {id}: {found:?}"
            );
        }
    }
}

#[test]
fn a_graceful_stop_exits_zero_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start_in(dir.path(), None);
    let created = daemon.post(
        "/api/v1/Watchlists",
        &json!({"displayName": "Kept", "fullName": "Kept", "threshold": 77}),
    );
    let created = created.json();
    let version = daemon.get("/api/v1/Version").json();
    assert!(daemon.terminate(), "SIGTERM ends the daemon with status 0");

    let restarted = Daemon::start_in(dir.path(), None);
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        restarted.get(&format!("/api/v1/Watchlists/{id}")).json(),
        created
    );
    let reopened = restarted.get("/api/v1/Version").json();
    assert_eq!(
        reopened["databaseVersionCreationTime"],
        version["databaseVersionCreationTime"]
    );
}
