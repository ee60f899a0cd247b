//! Site mode against a real nats-server with JetStream, which the tests
//! start on a temporary store (`scripts/setup.sh --test` installs Debian's
//! nats-server): every door's decisions reach the site's event stream, in
//! order, once, including those made while the site was unreachable.

mod common;

use common::door::{door_on_pty, read_until, OPEN};
use common::{wait_until, Daemon};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a site may take to catch up on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// A nats-server with JetStream on a port and a store directory of its own;
/// killed with the test.
struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: PathBuf,
}

impl NatsServer {
    fn start(store: &Path) -> NatsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = NatsServer {
            child: None,
            port,
            store: store.to_path_buf(),
        };
        server.restart();
        server
    }

    /// Starts it again on the same port and store.
    fn restart(&mut self) {
        let child = Command::new("nats-server")
            .args(["--jetstream", "--addr", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .arg("--store_dir")
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs (scripts/setup.sh --test installs Debian's nats-server)");
        self.child = Some(child);
        wait_until(PATIENCE, "nats-server to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
    }

    /// SIGKILL: the site is gone at once, as when its network is.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Every message of the site's event stream, oldest first, as JSON.
    fn events(&self, site: &str) -> Vec<Value> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = async_nats::connect(self.url()).await.unwrap();
            let jetstream = async_nats::jetstream::new(client);
            let Ok(mut stream) = jetstream
                .get_stream(format!("FACEGATE_EVENTS_{site}"))
                .await
            else {
                return Vec::new();
            };
            let count = stream.info().await.unwrap().state.messages;
            let mut events = Vec::new();
            for sequence in 1..=count {
                let message = stream.get_raw_message(sequence).await.unwrap();
                events.push(serde_json::from_slice(&message.payload).unwrap());
            }
            events
        })
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `[site]` section of a door named `door` of site `site`.
fn site_config(server: &NatsServer, site: &str, door: &str) -> String {
    format!(
        "[site]\nnats_url = {:?}\nsite_id = {site:?}\ndoor_id = {door:?}\n",
        server.url()
    )
}

/// A door with a relay board and a camera that never shows up (it is
/// retried), so each event is an opening from the console.
fn door(data: &Path, config: &str) -> (Daemon, std::fs::File) {
    door_on_pty(data, config, &data.with_extension("no-camera"))
}

/// Opens the door by hand `times` times (answered once the relay has
/// opened); returns the events' sequences.
fn open_by_hand(daemon: &Daemon, times: usize) -> Vec<u64> {
    (0..times)
        .map(|_| {
            let reply = daemon.post("/api/facegate/v1/Door/Open", &json!({}));
            assert_eq!(reply.status, 200, "{}", reply.body);
            reply.json()["sequence"].as_u64().unwrap()
        })
        .collect()
}

fn site_status(daemon: &Daemon) -> Value {
    daemon.get("/api/facegate/v1/Status").json()["site"].clone()
}

/// The sequences of `door`'s events in the stream, in stream order.
fn sequences_from(events: &[Value], door: &str) -> Vec<u64> {
    events
        .iter()
        .filter(|event| event["doorId"] == door)
        .map(|event| event["sequence"].as_u64().unwrap())
        .collect()
}

#[test]
fn every_decision_of_every_door_reaches_the_sites_stream_in_order_naming_its_door() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start(&dir.path().join("nats"));
    let (front, mut front_board) = door(
        &dir.path().join("front"),
        &site_config(&nats, "campus", "front"),
    );
    let (back, mut back_board) = door(
        &dir.path().join("back"),
        &site_config(&nats, "campus", "back"),
    );
    let from_front = open_by_hand(&front, 3);
    let from_back = open_by_hand(&back, 2);
    read_until(&mut front_board, &OPEN, &front);
    read_until(&mut back_board, &OPEN, &back);
    wait_until(PATIENCE, "the five events in the stream", || {
        nats.events("campus").len() == 5
    });
    let events = nats.events("campus");
    assert_eq!(sequences_from(&events, "front"), from_front);
    assert_eq!(sequences_from(&events, "back"), from_back);
    let first = &events[0];
    assert_eq!(first["siteId"], "campus");
    assert_eq!(first["reason"], "opened from the console");
    assert_eq!(first["doorOpened"], true);
    // The door's status says it is linked and has nothing left to send.
    wait_until(PATIENCE, "the front door's status to catch up", || {
        site_status(&front)["nextEventToSend"] == from_front[2] + 1
    });
    let status = site_status(&front);
    assert_eq!(status["connected"], true, "{status}");
    assert_eq!(status["eventsWaiting"], 0, "{status}");
    assert_eq!(status["doorId"], "front", "{status}");
}

#[test]
fn events_made_while_the_site_was_down_arrive_in_order_once_even_across_a_kill_9_of_the_door() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("door");
    let mut nats = NatsServer::start(&dir.path().join("nats"));
    let config = site_config(&nats, "hq", "lobby");
    let (mut lobby, board) = door(&data, &config);
    let mut made = open_by_hand(&lobby, 2);
    wait_until(PATIENCE, "the first events in the stream", || {
        nats.events("hq").len() == 2
    });

    // The site goes away: the door goes on opening, and keeps what it
    // could not send.
    nats.kill();
    wait_until(PATIENCE, "the door to notice the site is gone", || {
        site_status(&lobby)["connected"] == false
    });
    made.extend(open_by_hand(&lobby, 3));
    wait_until(PATIENCE, "the status to count the waiting events", || {
        site_status(&lobby)["eventsWaiting"] == 3
    });
    // The door dies with them unsent, and comes back while the site is
    // still down.
    lobby.kill();
    drop(board);
    let (lobby, _board) = door(&data, &config);
    made.extend(open_by_hand(&lobby, 2));

    nats.restart();
    wait_until(PATIENCE, "the waiting events in the stream", || {
        nats.events("hq").len() >= made.len()
    });
    // Give a duplicate, if any were sent, the time to land.
    wait_until(PATIENCE, "the door to have nothing left to send", || {
        site_status(&lobby)["eventsWaiting"] == 0
    });
    let events = nats.events("hq");
    assert_eq!(sequences_from(&events, "lobby"), made, "{events:#?}");
    assert_eq!(made, (0..7).collect::<Vec<u64>>());
}

#[test]
fn a_site_setting_that_cannot_work_stops_the_daemon_with_its_name() {
    for (config, named) in [
        (
            "[site]\nnats_url = \"nats://127.0.0.1:4222\"\nsite_id = \"a.b\"\n",
            "site.site_id",
        ),
        (
            "[site]\nnats_url = \"nats://127.0.0.1:4222\"\ndoor_id = \"front door\"\n",
            "site.door_id",
        ),
        (
            "[site]\nnats_url = \"nats://127.0.0.1:4222\"\ntoken = \"t\"\nuser = \"u\"\n",
            "site.token",
        ),
    ] {
        let log = common::refused_config(config);
        assert!(log.contains(named), "{config}: {log}");
    }
}
