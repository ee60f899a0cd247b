//! Site mode against a real nats-server with JetStream, which the tests
//! start on a temporary store (nats-server 2.15, which `scripts/setup.sh
//! --test` installs in artifacts/nats): a person enrolled at one door opens
//! the others, including doors that join later or were down; writes need
//! the site, reads and the door do not; concurrent changes lose nothing;
//! every door's decisions reach the site's event stream, in order, once;
//! on a 3-node cluster with 3 replicas the site survives one server.

mod common;

use common::door::{decisions, door_on_pty, occurrences, read_until, scene, OPEN};
use common::{nats_server_binary, photo_base64, wait_until, Daemon};
use serde_json::{json, Value};
use std::io::Read;
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
        self.restart_with(&[]);
    }

    /// `restart`, with more command-line arguments.
    fn restart_with(&mut self, arguments: &[&str]) {
        let child = Command::new(nats_server_binary())
            .args(["--jetstream", "--addr", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(arguments)
            .arg("--store_dir")
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("artifacts/nats/nats-server runs (scripts/setup.sh --test installs it)");
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
        as_a_client(&self.url(), async |jetstream| {
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

/// Runs `ask` as another client of the NATS server at `url` would, on a
/// runtime of its own.
fn as_a_client<T>(url: &str, ask: impl AsyncFnOnce(async_nats::jetstream::Context) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        ask(async_nats::jetstream::new(client)).await
    })
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Free loopback ports, `count` different ones.
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|listener| listener.local_addr().unwrap().port())
        .collect()
}

/// One server of a `NatsCluster`.
struct ClusterNode {
    child: Option<Child>,
    port: u16,
    monitor_port: u16,
    config: PathBuf,
    log: PathBuf,
}

/// Three nats-servers with JetStream in one cluster on loopback, each with
/// its own client, route and monitoring port, store and `server_name`;
/// killed with the test.
struct NatsCluster {
    nodes: Vec<ClusterNode>,
}

impl NatsCluster {
    const SIZE: usize = 3;

    /// Starts the three servers in `dir` and waits for the JetStream meta
    /// leader to be elected.
    fn start(dir: &Path) -> NatsCluster {
        std::fs::create_dir_all(dir).unwrap();
        let ports = free_ports(3 * Self::SIZE);
        let (clients, rest) = ports.split_at(Self::SIZE);
        let (routes, monitors) = rest.split_at(Self::SIZE);
        let nodes = (0..Self::SIZE)
            .map(|i| {
                let others: Vec<String> = (0..Self::SIZE)
                    .filter(|other| *other != i)
                    .map(|other| format!("\"nats-route://127.0.0.1:{}\"", routes[other]))
                    .collect();
                let config = dir.join(format!("n{i}.conf"));
                std::fs::write(
                    &config,
                    format!(
                        "server_name: \"n{i}\"\n\
                         listen: \"127.0.0.1:{}\"\n\
                         http: \"127.0.0.1:{}\"\n\
                         jetstream {{\n  store_dir: {:?}\n}}\n\
                         cluster {{\n  name: \"facegate\"\n  listen: \"127.0.0.1:{}\"\n  \
                         routes: [{}]\n}}\n",
                        clients[i],
                        monitors[i],
                        dir.join(format!("n{i}")),
                        routes[i],
                        others.join(", ")
                    ),
                )
                .unwrap();
                ClusterNode {
                    child: None,
                    port: clients[i],
                    monitor_port: monitors[i],
                    config,
                    log: dir.join(format!("n{i}.log")),
                }
            })
            .collect();
        let mut cluster = NatsCluster { nodes };
        for i in 0..Self::SIZE {
            cluster.spawn(i);
        }
        cluster.wait_for_meta_leader();
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .unwrap();
        let child = Command::new(nats_server_binary())
            .arg("--config")
            .arg(&node.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("artifacts/nats/nats-server runs (scripts/setup.sh --test installs it)");
        node.child = Some(child);
        let port = node.port;
        wait_until(PATIENCE, "a cluster node to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    /// What server `i`'s monitoring endpoint `/jsz` says, if it answers.
    fn jsz(&self, i: usize) -> Option<Value> {
        let url = format!("http://127.0.0.1:{}/jsz", self.nodes[i].monitor_port);
        let mut reply = ureq::get(&url).call().ok()?;
        reply.body_mut().read_json().ok()
    }

    /// Waits until every running server knows the JetStream meta leader.
    fn wait_for_meta_leader(&self) {
        wait_until(
            PATIENCE,
            "the cluster to elect its JetStream leader",
            || {
                self.nodes
                    .iter()
                    .enumerate()
                    .filter(|(_, node)| node.child.is_some())
                    .all(|(i, _)| {
                        self.jsz(i).is_some_and(|jsz| {
                            jsz["meta_cluster"]["leader"]
                                .as_str()
                                .is_some_and(|leader| !leader.is_empty())
                        })
                    })
            },
        );
    }

    /// SIGKILL of server `i`.
    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts server `i` again on its ports and store; returns once the
    /// cluster has its meta leader again.
    fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.wait_for_meta_leader();
    }

    /// Every server's URL, comma-separated, as `site.nats_url` takes them.
    fn url(&self) -> String {
        let urls: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("nats://127.0.0.1:{}", node.port))
            .collect();
        urls.join(",")
    }

    /// The index of the server named `name` (`n<index>`).
    fn index_of(name: &str) -> usize {
        name.trim_start_matches('n').parse().unwrap()
    }

    /// Stream `stream`'s replicas as configured, and the server that leads
    /// it, asked of a running server.
    fn stream_placement(&self, stream: &str) -> (usize, String) {
        let port = self
            .nodes
            .iter()
            .find(|node| node.child.is_some())
            .unwrap()
            .port;
        as_a_client(&format!("nats://127.0.0.1:{port}"), async |jetstream| {
            let mut stream = jetstream.get_stream(stream).await.unwrap();
            let info = stream.info().await.unwrap();
            let leader = info.cluster.as_ref().and_then(|c| c.leader.clone());
            (info.config.num_replicas, leader.unwrap_or_default())
        })
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
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

/// A door serving only the API, on site `site` as door `door`, returned
/// once it follows the site's records.
fn api_door(data: &Path, nats: &NatsServer, site: &str, door: &str) -> Daemon {
    let daemon = Daemon::start_in(data, Some(&site_config(nats, site, door)));
    wait_until_linked(&daemon);
    daemon
}

fn wait_until_linked(daemon: &Daemon) {
    wait_until(PATIENCE, "the door to follow its site", || {
        let site = site_status(daemon);
        site["connected"] == true && site["followingRecords"] == true
    });
}

/// Who the door finds for `photo`, if anyone.
fn found(daemon: &Daemon, photo: &str) -> Option<String> {
    let body =
        json!({"image": {"data": photo_base64(photo)}, "watchlistIds": [], "maxResultCount": 1});
    let reply = daemon.post("/api/v1/Watchlists/Search", &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let best = &reply.json()[0]["matchResults"][0]["watchlistMemberId"];
    best.as_str().map(str::to_string)
}

/// The ids of the door's members, sorted.
fn member_ids(daemon: &Daemon) -> Vec<String> {
    let page = daemon.get("/api/v1/WatchlistMembers?PageSize=1000").json();
    let mut ids: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_person_enrolled_at_one_door_opens_another_and_a_door_that_joins_later() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start(&dir.path().join("nats"));
    let front = api_door(&dir.path().join("front"), &nats, "campus", "front");
    // The back door's camera shows nobody until the person walks up.
    let scenes = tempfile::tempdir().unwrap();
    let camera = scenes.path().join("camera");
    let (back, mut board) = door_on_pty(
        &dir.path().join("back"),
        &format!(
            "[edge]\nevidence_frames = 1\n{}",
            site_config(&nats, "campus", "back")
        ),
        &camera,
    );
    wait_until_linked(&back);
    front.enrol("obama", "obama.jpg", "staff");
    wait_until(PATIENCE, "the back door to know the person", || {
        found(&back, "obama2.jpg").as_deref() == Some("obama")
    });
    let walking_up = scene(&[("obama3.jpg", 4)]);
    std::fs::rename(walking_up.path(), &camera).unwrap();
    read_until(&mut board, &OPEN, &back);

    // A door that joins the site later gets every record first.
    let side = api_door(&dir.path().join("side"), &nats, "campus", "side");
    wait_until(PATIENCE, "the new door to know the person", || {
        found(&side, "obama2.jpg").as_deref() == Some("obama")
    });
    assert_eq!(member_ids(&side), ["obama"]);
    let faces = side.get("/api/v1/WatchlistMembers/obama/Faces").json();
    let image = faces["items"][0]["imageDataId"]
        .as_str()
        .unwrap()
        .to_string();
    let original = side.get(&format!("/api/v1/Images/{image}"));
    assert_eq!(original.status, 200, "the face's image came with it");
    assert_eq!(original.content_type, "image/jpeg");

    // Deleting the member at the new door takes it from every door.
    assert_eq!(side.delete("/api/v1/WatchlistMembers/obama").status, 204);
    assert_eq!(side.delete("/api/v1/WatchlistMembers/ghost").status, 404);
    wait_until(PATIENCE, "the front door to forget the person", || {
        found(&front, "obama2.jpg").is_none()
    });
}

#[test]
fn schedules_set_at_one_door_refuse_a_member_outside_them_at_another_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = NatsServer::start(&dir.path().join("nats"));
    // The front door's config gives staff a schedule without a window:
    // they are admitted at no hour. The back door has no schedules.
    let front = Daemon::start_in(
        &dir.path().join("front"),
        Some(&format!(
            "[edge]\nwatchlist_schedules = {{ staff = \"closed\" }}\n{}\n\
             [[schedule]]\nname = \"closed\"\ntime_zone = \"Europe/Bratislava\"\n",
            site_config(&nats, "campus", "front")
        )),
    );
    wait_until_linked(&front);
    let scenes = tempfile::tempdir().unwrap();
    let camera = scenes.path().join("camera");
    let back_config = format!(
        "[edge]\nevidence_frames = 1\n{}",
        site_config(&nats, "campus", "back")
    );
    let (mut back, mut board) = door_on_pty(&dir.path().join("back"), &back_config, &camera);
    let door_state =
        |daemon: &Daemon| daemon.get("/api/facegate/v1/Status").json()["doorState"].clone();
    wait_until(
        PATIENCE,
        "the back door to take the site's schedules",
        || door_state(&back)["schedulesFrom"] == "site",
    );
    let in_force = |daemon: &Daemon| {
        let door = door_state(daemon);
        let staff = &door["schedules"][0];
        (
            door["schedulesFrom"].clone(),
            staff["watchlistId"].clone(),
            staff["schedule"].clone(),
            staff["timeZone"].clone(),
            staff["admitsNow"].clone(),
        )
    };
    let expected = (
        json!("site"),
        json!("staff"),
        json!("closed"),
        json!("Europe/Bratislava"),
        json!(false),
    );
    assert_eq!(in_force(&back), expected);

    front.enrol("obama", "obama.jpg", "staff");
    wait_until(PATIENCE, "the back door to know the person", || {
        found(&back, "obama2.jpg").as_deref() == Some("obama")
    });
    std::fs::rename(scene(&[("obama3.jpg", 4)]).path(), &camera).unwrap();
    wait_until(PATIENCE, "the back door to decide", || {
        !decisions(&back).is_empty()
    });
    let decided = decisions(&back);
    assert!(
        decided
            .iter()
            .all(|decision| *decision == ("outside schedule".into(), "obama".into())),
        "{decided:?}"
    );
    let mut relay = Vec::new();
    let _ = board.read_to_end(&mut relay);
    assert_eq!(occurrences(&relay, &OPEN), 0, "relay bytes {relay:02X?}");

    // Restarted while the site is down, the back door still has them.
    back.kill();
    nats.kill();
    let (back, _board) = door_on_pty(&dir.path().join("back"), &back_config, &camera);
    assert_eq!(in_force(&back), expected);
}

#[test]
fn a_door_of_another_precision_makes_the_templates_again_and_finds_the_person() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start(&dir.path().join("nats"));
    let front = api_door(&dir.path().join("front"), &nats, "hq", "front");
    // Its template network is int8: fp32 templates are not comparable.
    let back = Daemon::start_in_with_engine_and_args(
        &dir.path().join("back"),
        "precision = \"int8\"",
        &site_config(&nats, "hq", "back"),
        &[],
    );
    wait_until_linked(&back);
    front.enrol("obama", "obama.jpg", "staff");
    wait_until(PATIENCE, "the int8 door to find the person", || {
        found(&back, "obama2.jpg").as_deref() == Some("obama")
    });
    let faces = back.get("/api/v1/WatchlistMembers/obama/Faces").json();
    assert_eq!(faces["items"].as_array().unwrap().len(), 1, "{faces}");
}

#[test]
fn while_the_site_is_down_doors_still_recognise_writes_are_refused_and_all_converge_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = NatsServer::start(&dir.path().join("nats"));
    let front = api_door(&dir.path().join("front"), &nats, "hq", "front");
    let back = api_door(&dir.path().join("back"), &nats, "hq", "back");
    front.enrol("obama", "obama.jpg", "staff");
    wait_until(PATIENCE, "the back door to know the person", || {
        found(&back, "obama2.jpg").is_some()
    });

    nats.kill();
    wait_until(PATIENCE, "the doors to notice", || {
        site_status(&front)["connected"] == false && site_status(&back)["connected"] == false
    });
    assert_eq!(found(&back, "obama2.jpg").as_deref(), Some("obama"));
    let refused = back.put(
        "/api/v1/Watchlists",
        &json!({"id": "visitors", "displayName": "Visitors", "fullName": "Visitors"}),
    );
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.json()["detail"]
        .as_str()
        .unwrap()
        .contains("cannot reach its site"));
    assert_eq!(
        back.get("/api/v1/Watchlists/visitors").status,
        404,
        "nothing written"
    );

    nats.restart();
    wait_until_linked(&front);
    wait_until_linked(&back);
    let body = json!({"id": "visitors", "displayName": "Visitors", "fullName": "Visitors"});
    wait_until(PATIENCE, "a write to be taken again", || {
        back.put("/api/v1/Watchlists", &body).status == 200
    });
    wait_until(PATIENCE, "the other door to have it", || {
        front.get("/api/v1/Watchlists/visitors").status == 200
    });
}

#[test]
fn a_door_killed_while_changes_arrive_catches_up_with_every_one_once() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start(&dir.path().join("nats"));
    let front = api_door(&dir.path().join("front"), &nats, "hq", "front");
    let back_data = dir.path().join("back");
    let mut back = api_door(&back_data, &nats, "hq", "back");
    let made: Vec<String> = (0..1000).map(|i| format!("member-{i:04}")).collect();
    for (i, id) in made.iter().enumerate() {
        let reply = front.put(
            "/api/v1/WatchlistMembers",
            &json!({"id": id, "displayName": id}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        if i == 300 {
            back.kill();
        }
    }
    let back = api_door(&back_data, &nats, "hq", "back");
    wait_until(PATIENCE, "the killed door to catch up", || {
        member_ids(&back).len() == made.len()
    });
    assert_eq!(member_ids(&back), made);
    assert_eq!(site_status(&back)["revisionsBehind"], 0);
}

#[test]
fn concurrent_changes_of_one_member_at_two_doors_lose_no_acknowledged_one() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start(&dir.path().join("nats"));
    let front = api_door(&dir.path().join("front"), &nats, "hq", "front");
    let back = api_door(&dir.path().join("back"), &nats, "hq", "back");
    let watchlists: Vec<String> = ["front", "back"]
        .iter()
        .flat_map(|door| (0..15).map(move |i| format!("{door}-{i}")))
        .collect();
    for id in &watchlists {
        let body = json!({"id": id, "displayName": id, "fullName": id});
        assert_eq!(front.put("/api/v1/Watchlists", &body).status, 200);
    }
    let member = front.put("/api/v1/WatchlistMembers", &json!({"id": "ada"}));
    assert_eq!(member.status, 200, "{}", member.body);
    wait_until(PATIENCE, "the other door to have them", || {
        back.get("/api/v1/WatchlistMembers/ada").status == 200
            && back
                .get(&format!("/api/v1/Watchlists/{}", watchlists[29]))
                .status
                == 200
    });
    // Each door links the member to its own watchlists at once: each link
    // changes the member's record as that door has it, so one made on an
    // old copy would drop the other door's links; the site refuses it.
    let link = |door: &Daemon, name: &str| -> (Vec<String>, usize) {
        let (mut linked, mut refused) = (Vec::new(), 0);
        for i in 0..15 {
            let watchlist = format!("{name}-{i}");
            let body = json!({"watchlistId": watchlist, "watchlistMembersIds": ["ada"]});
            let reply = door.post("/api/v1/WatchlistMembers/LinkToWatchlist", &body);
            match reply.status {
                204 => linked.push(watchlist),
                409 => refused += 1,
                status => panic!("{status}: {}", reply.body),
            }
        }
        (linked, refused)
    };
    let ((front_linked, front_refused), (back_linked, back_refused)) = std::thread::scope(|s| {
        let front = s.spawn(|| link(&front, "front"));
        let back = s.spawn(|| link(&back, "back"));
        (front.join().unwrap(), back.join().unwrap())
    });
    let linked_to = |door: &Daemon| -> Vec<String> {
        let mut linked: Vec<String> = watchlists
            .iter()
            .filter(|watchlist| {
                let members = door
                    .get(&format!("/api/v1/Watchlists/{watchlist}/WatchlistMembers"))
                    .json();
                !members["items"].as_array().unwrap().is_empty()
            })
            .cloned()
            .collect();
        linked.sort();
        linked
    };
    let mut acknowledged: Vec<String> = front_linked.iter().chain(&back_linked).cloned().collect();
    acknowledged.sort();
    wait_until(PATIENCE, "the doors to agree", || {
        linked_to(&front) == acknowledged && linked_to(&back) == acknowledged
    });
    assert_eq!(
        acknowledged.len() + front_refused + back_refused,
        30,
        "every link was acknowledged or refused"
    );
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
        ("[site]\nreplicas = 0\n", "site.replicas"),
        (
            "[site]\nnats_url = \"nats://127.0.0.1:4222\"\nreplicas = 6\n",
            "site.replicas",
        ),
    ] {
        let log = common::refused_config(config);
        assert!(log.contains(named), "{config}: {log}");
    }
}

#[test]
fn credentials_in_the_sites_url_are_never_shown_nor_logged() {
    let store = tempfile::tempdir().unwrap();
    let mut nats = NatsServer::start(store.path());
    // The server asks for another password than the door's URL gives, so
    // the door's link fails and records an error.
    nats.kill();
    nats.restart_with(&["--user", "door", "--pass", "the-right-one"]);
    let secret = "wr0ng-s3cret";
    let url = format!("nats://door:{secret}@127.0.0.1:{}", nats.port);
    let config = format!("[site]\nnats_url = {url:?}\nsite_id = \"s\"\ndoor_id = \"d\"\n");
    let data = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_in(data.path(), Some(&config));
    wait_until(PATIENCE, "the refused link to record its error", || {
        site_status(&daemon)["lastError"].is_string()
    });
    let status = site_status(&daemon);
    assert!(!status.to_string().contains(secret), "{status}");
    let shown = daemon.get("/api/facegate/v1/Config").json()["site"]["nats_url"].clone();
    assert_eq!(shown, format!("nats://***@127.0.0.1:{}", nats.port));
    let log = daemon.startup_log.join("\n");
    assert!(log.contains("***@127.0.0.1"), "{log}");
    let tail: Vec<String> = daemon.log_tail.lock().unwrap().iter().cloned().collect();
    for line in daemon.startup_log.iter().chain(&tail) {
        assert!(!line.contains(secret), "{line}");
    }
}

/// The ids of the members of watchlist `id` at `daemon`.
fn watchlist_member_ids(daemon: &Daemon, id: &str) -> Vec<String> {
    let page = daemon
        .get(&format!(
            "/api/v1/Watchlists/{id}/WatchlistMembers?PageSize=1000"
        ))
        .json();
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|member| member["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_door_that_joins_after_a_watchlist_was_edited_keeps_its_links_and_passes_none_of_them_on_lost()
{
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start(&dir.path().join("nats"));
    let a = api_door(&dir.path().join("a"), &nats, "site", "a");
    // The member is enrolled into `staff`, then `staff` is edited: the
    // bucket now holds the watchlist after the member that links to it.
    a.enrol("colin", "obama.jpg", "staff");
    let edited =
        json!({"id": "staff", "displayName": "Staff", "fullName": "Staff", "threshold": 50});
    assert_eq!(a.put("/api/v1/Watchlists", &edited).status, 200);
    let b = api_door(&dir.path().join("b"), &nats, "site", "b");
    wait_until(
        PATIENCE,
        "the joining door to have the edited watchlist",
        || b.get("/api/v1/Watchlists/staff").json()["threshold"] == 50,
    );
    assert_eq!(watchlist_member_ids(&b, "staff"), ["colin"]);
    assert_eq!(found(&b, "obama2.jpg").as_deref(), Some("colin"));
    // The joining door edits the member: the record it writes keeps the
    // link, so the first door still has colin in staff.
    let note =
        json!({"id": "colin", "displayName": "Colin", "fullName": "Colin", "note": "badge 7"});
    assert_eq!(b.put("/api/v1/WatchlistMembers", &note).status, 200);
    wait_until(PATIENCE, "the first door to have the note", || {
        a.get("/api/v1/WatchlistMembers/colin").json()["note"] == "badge 7"
    });
    assert_eq!(watchlist_member_ids(&a, "staff"), ["colin"]);
    assert_eq!(found(&a, "obama2.jpg").as_deref(), Some("colin"));
}

/// `reply` is a `status` problem that says nothing was stored.
fn refused_storing_nothing(reply: &common::Reply, status: u16) {
    let problem = common::problem(reply, status);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("nothing was stored"), "{problem}");
}

/// `id` as the site's bucket keys it (hex).
fn hex(id: &str) -> String {
    id.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_write_of_many_records_is_stored_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = NatsServer::start(&dir.path().join("nats"));
    // Door a may not store m2's record (a NATS permission), so a link of
    // m1 and m2 fails at its second record; door b may store anything.
    let config = dir.path().join("nats.conf");
    std::fs::write(
        &config,
        format!(
            "accounts {{ SITE {{ jetstream: enabled, users: [\n\
             {{ user: a, password: a, permissions: {{ publish: {{ deny: [\"$KV.FACEGATE_s.member.{}\"] }} }} }},\n\
             {{ user: b, password: b }} ] }} }}\n",
            hex("m2")
        ),
    )
    .unwrap();
    nats.kill();
    nats.restart_with(&["-c", config.to_str().unwrap()]);
    let door = |name: &str, user: &str| {
        let url = format!("nats://127.0.0.1:{}", nats.port);
        let site = format!(
            "[site]\nnats_url = {url:?}\nsite_id = \"s\"\ndoor_id = {name:?}\nuser = {user:?}\npassword = {user:?}\n"
        );
        let daemon = Daemon::start_in(&dir.path().join(name), Some(&site));
        wait_until_linked(&daemon);
        daemon
    };
    let (a, b) = (door("a", "a"), door("b", "b"));
    let watchlist = json!({"id": "staff", "displayName": "Staff", "fullName": "Staff"});
    assert_eq!(b.put("/api/v1/Watchlists", &watchlist).status, 200);
    for member in ["m1", "m2"] {
        let body = json!({"id": member, "displayName": member, "fullName": member});
        assert_eq!(b.put("/api/v1/WatchlistMembers", &body).status, 200);
    }
    wait_until(PATIENCE, "door a to have both members", || {
        member_ids(&a) == ["m1", "m2"] && a.get("/api/v1/Watchlists/staff").status == 200
    });
    let link = json!({"watchlistId": "staff", "watchlistMembersIds": ["m1", "m2"]});
    let refused = a.post("/api/v1/WatchlistMembers/LinkToWatchlist", &link);
    refused_storing_nothing(&refused, 503);
    // Nothing of it is anywhere: not at a, not at b, not in the site (a
    // door that joins now).
    let c = door("c", "b");
    for daemon in [&a, &b, &c] {
        assert_eq!(watchlist_member_ids(daemon, "staff"), Vec::<String>::new());
    }
    // Door b's link of both is stored whole, and reaches a.
    assert_eq!(
        b.post("/api/v1/WatchlistMembers/LinkToWatchlist", &link)
            .status,
        204
    );
    wait_until(PATIENCE, "door a to have both links", || {
        watchlist_member_ids(&a, "staff") == ["m1", "m2"]
    });
}

/// Every version the site's bucket keeps of `key`, as the sizes of their
/// values: after a delete, only the marker's (empty) is left.
fn kept_versions(nats: &NatsServer, site: &str, key: &str) -> Vec<usize> {
    use futures_util::StreamExt;
    as_a_client(&nats.url(), async |jetstream| {
        let bucket = jetstream
            .get_key_value(format!("FACEGATE_{site}"))
            .await
            .unwrap();
        let history = bucket.history(key).await.unwrap();
        history
            .map(|entry| entry.unwrap().value.len())
            .collect()
            .await
    })
}

/// What the site holds, read as another NATS client would: each live key
/// of the record bucket with its value's size, and the images in the
/// object store that are not deleted.
fn site_contents(nats: &NatsServer, site: &str) -> (Vec<(String, usize)>, Vec<String>) {
    use futures_util::StreamExt;
    as_a_client(&nats.url(), async |jetstream| {
        let bucket = jetstream
            .get_key_value(format!("FACEGATE_{site}"))
            .await
            .unwrap();
        let mut keys: Vec<String> = bucket
            .keys()
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;
        keys.sort();
        let mut records = Vec::new();
        for key in keys {
            if let Some(value) = bucket.get(&key).await.unwrap() {
                records.push((key, value.len()));
            }
        }
        let images = jetstream
            .get_object_store(format!("FACEGATE_{site}_IMAGES"))
            .await
            .unwrap();
        let mut stored = Vec::new();
        let mut list = images.list().await.unwrap();
        while let Some(object) = list.next().await {
            let object = object.unwrap();
            if !object.deleted {
                stored.push(object.name);
            }
        }
        (records, stored)
    })
}

#[test]
fn faces_are_records_of_their_own_and_erasing_them_leaves_nothing_at_the_site() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start(&dir.path().join("nats"));
    let a = api_door(&dir.path().join("a"), &nats, "s", "a");
    a.enrol("colin", "obama.jpg", "staff");
    for photo in ["obama2.jpg", "obama3.jpg", "biden.jpg"] {
        let body = json!({"imageData": {"data": photo_base64(photo)}});
        let reply = a.post("/api/v1/WatchlistMembers/colin/AddNewFace", &body);
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let (records, images) = site_contents(&nats, "s");
    let member = format!("member.{}", hex("colin"));
    let faces: Vec<_> = records
        .iter()
        .filter(|(key, _)| key.starts_with("face."))
        .collect();
    assert_eq!(faces.len(), 4, "{records:?}");
    assert_eq!(images.len(), 4, "{images:?}");
    // The member's record holds no face: it stays small whatever it has.
    let member_size = records.iter().find(|(key, _)| *key == member).unwrap().1;
    assert!(
        member_size < 1024,
        "the member's record is {member_size} bytes"
    );

    // Removing a face deletes its record and its image from the site.
    let listed = a.get("/api/v1/WatchlistMembers/colin/Faces").json();
    let removed = listed["items"][3].clone();
    let body = json!({"faceId": removed["id"]});
    assert_eq!(
        a.post("/api/v1/WatchlistMembers/colin/RemoveFace", &body)
            .status,
        204
    );
    let (records, images) = site_contents(&nats, "s");
    let removed_key = format!("face.{}", hex(removed["id"].as_str().unwrap()));
    assert!(
        !records.iter().any(|(key, _)| *key == removed_key),
        "{records:?}"
    );
    // No version of it keeps its template.
    assert_eq!(kept_versions(&nats, "s", &removed_key), [0]);
    let removed_image = removed["imageDataId"].as_str().unwrap().to_string();
    assert!(!images.contains(&removed_image), "{images:?}");
    assert_eq!(images.len(), 3);

    // Deleting the member leaves no record of it, no face and no image.
    assert_eq!(a.delete("/api/v1/WatchlistMembers/colin").status, 204);
    let (records, images) = site_contents(&nats, "s");
    assert!(
        records.iter().all(|(key, _)| key.starts_with("watchlist.")),
        "{records:?}"
    );
    assert_eq!(images, Vec::<String>::new());
    // A door that joins now has nobody.
    let b = api_door(&dir.path().join("b"), &nats, "s", "b");
    wait_until(PATIENCE, "the joining door to have the watchlist", || {
        b.get("/api/v1/Watchlists/staff").status == 200
    });
    assert_eq!(member_ids(&b), Vec::<String>::new());
}

#[test]
fn on_a_three_node_cluster_with_three_replicas_the_site_outlives_one_server_and_not_two() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = NatsCluster::start(&dir.path().join("nats"));
    let config = |door: &str| {
        format!(
            "[site]\nnats_url = {:?}\nsite_id = \"hq\"\ndoor_id = {door:?}\nreplicas = 3\n",
            cluster.url()
        )
    };
    let front = Daemon::start_in(&dir.path().join("front"), Some(&config("front")));
    wait_until_linked(&front);
    let back = Daemon::start_in(&dir.path().join("back"), Some(&config("back")));
    wait_until_linked(&back);
    front.enrol("obama", "obama.jpg", "staff");
    wait_until(PATIENCE, "the back door to know the first person", || {
        found(&back, "obama2.jpg").as_deref() == Some("obama")
    });
    for stream in ["KV_FACEGATE_hq", "OBJ_FACEGATE_hq_IMAGES"] {
        assert_eq!(cluster.stream_placement(stream).0, 3, "{stream}");
    }

    // The server leading the record bucket's stream dies: the doors move
    // to another, the stream elects another leader, and writes go on.
    let (_, leader) = cluster.stream_placement("KV_FACEGATE_hq");
    let down = NatsCluster::index_of(&leader);
    // It dies while a client writes: each write is retried on 503 until it
    // is taken, and every one acknowledged reaches the other door.
    let acknowledged = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut acknowledged = Vec::new();
            for i in 0..30 {
                let id = format!("during-{i}");
                let body = json!({"id": id, "displayName": id, "fullName": id});
                let deadline = std::time::Instant::now() + PATIENCE;
                loop {
                    let reply = front.put("/api/v1/Watchlists", &body);
                    match reply.status {
                        200 => break acknowledged.push(id),
                        503 if std::time::Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(100))
                        }
                        status => panic!("{status}: {}", reply.body),
                    }
                }
            }
            acknowledged
        });
        std::thread::sleep(Duration::from_millis(300));
        cluster.kill(down);
        writer.join().unwrap()
    });
    assert_eq!(acknowledged.len(), 30);
    wait_until(
        PATIENCE,
        "the back door to have every acknowledged write",
        || {
            acknowledged
                .iter()
                .all(|id| back.get(&format!("/api/v1/Watchlists/{id}")).status == 200)
        },
    );
    let register = json!({"id": "biden", "images": [{"data": photo_base64("biden.jpg")}],
                          "watchlistIds": ["staff"]});
    let mut refused = 0;
    wait_until(PATIENCE, "a write to be taken with one server down", || {
        let reply = front.post("/api/v1/WatchlistMembers/Register", &register);
        match reply.status {
            201 => true,
            503 => {
                refused += 1;
                std::thread::sleep(Duration::from_millis(200));
                false
            }
            // A refused write that the site stored all the same comes back
            // through the watch.
            409 => front.get("/api/v1/WatchlistMembers/biden").status == 200,
            status => panic!("{status}: {}", reply.body),
        }
    });
    eprintln!("with server n{down} down: {refused} writes refused before one was taken");
    wait_until(PATIENCE, "the back door to know the second person", || {
        found(&back, "biden.jpg").as_deref() == Some("biden")
    });
    cluster.restart(down);

    // Two of three servers gone: no quorum, so nothing can be stored.
    cluster.kill(down);
    cluster.kill((down + 1) % NatsCluster::SIZE);
    let refused = front.put(
        "/api/v1/WatchlistMembers",
        &json!({"id": "ghost", "displayName": "Ghost"}),
    );
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(
        front.get("/api/v1/WatchlistMembers/ghost").status,
        404,
        "nothing written"
    );
    // The doors still recognise from their own copies.
    assert_eq!(found(&back, "obama2.jpg").as_deref(), Some("obama"));
}

#[test]
fn a_write_larger_than_the_site_takes_at_once_is_413_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start(&dir.path().join("nats"));
    let a = api_door(&dir.path().join("a"), &nats, "s", "a");
    let watchlist = json!({"id": "staff", "displayName": "Staff", "fullName": "Staff"});
    assert_eq!(a.put("/api/v1/Watchlists", &watchlist).status, 200);
    let ids: Vec<String> = (0..1001).map(|i| format!("m{i:04}")).collect();
    for id in &ids {
        let body = json!({"id": id, "displayName": id, "fullName": id});
        assert_eq!(a.put("/api/v1/WatchlistMembers", &body).status, 200);
    }
    // 1,001 member records in one write: more than one atomic batch holds.
    let link = |ids: &[String]| {
        let body = json!({"watchlistId": "staff", "watchlistMembersIds": ids});
        a.post("/api/v1/WatchlistMembers/LinkToWatchlist", &body)
    };
    refused_storing_nothing(&link(&ids), 413);
    assert_eq!(watchlist_member_ids(&a, "staff"), Vec::<String>::new());
    // 1,000 is one batch, taken whole.
    assert_eq!(link(&ids[..1000]).status, 204);
    let page = a
        .get("/api/v1/Watchlists/staff/WatchlistMembers?PageSize=1&ShowTotalCount=true")
        .json();
    assert_eq!(page["totalItemsCount"], 1000);
}
