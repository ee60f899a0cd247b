//! Acknowledged writes survive SIGKILL; the database reopens intact.

mod common;

use common::Daemon;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn every_acknowledged_write_survives_sigkill_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start_in(dir.path(), None);
    let watchlist = daemon
        .put(
            "/api/v1/Watchlists",
            &json!({"id": "w", "displayName": "W", "fullName": "W"}),
        )
        .status;
    assert_eq!(watchlist, 200);

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let base = daemon.base.clone();
    let writer = {
        let acknowledged = acknowledged.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into();
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let id = format!("member-{i}");
                let put = agent
                    .put(format!("{base}/api/v1/WatchlistMembers"))
                    .send_json(json!({"id": id, "note": "durable"}));
                let linked = put.is_ok()
                    && agent
                        .post(format!("{base}/api/v1/WatchlistMembers/LinkToWatchlist"))
                        .send_json(json!({"watchlistId": "w", "watchlistMembersIds": [id]}))
                        .is_ok();
                match linked {
                    true => acknowledged.lock().unwrap().push(id),
                    false => break, // the daemon is gone
                }
            }
        })
    };
    // Let a stream of writes build up, then pull the plug mid-stream.
    while acknowledged.lock().unwrap().len() < 150 {
        std::thread::sleep(Duration::from_millis(5));
    }
    daemon.kill();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();

    let restarted = Daemon::start_in(dir.path(), None);
    for id in &acknowledged {
        let reply = restarted.get(&format!("/api/v1/WatchlistMembers/{id}"));
        assert_eq!(reply.status, 200, "acknowledged {id} was lost");
    }
    let linked = restarted
        .get("/api/v1/Watchlists/w/WatchlistMembers?ShowTotalCount=true")
        .json()["totalItemsCount"]
        .as_u64()
        .unwrap();
    assert!(
        linked as usize >= acknowledged.len(),
        "{linked} links after restart, {} acknowledged",
        acknowledged.len()
    );
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
