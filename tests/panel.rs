//! The terminal as a reader of an access-control panel: a real panel
//! implementation written elsewhere (libosdp's ControlPanel, from PyPI)
//! polls the real daemon over a pseudo-terminal, with and without Secure
//! Channel, and receives the card reads of the members the door grants.

mod common;

use common::door::{decisions, occurrences, pty, scene, start_door, wait_until_played, OPEN};
use common::{photo_base64, wait_until, Daemon};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const KEY: &str = "00112233445566778899aabbccddeeff";
const WRONG_KEY: &str = "ffeeddccbbaa99887766554433221100";

/// The panel's process, and what it reports, one JSON line at a time.
struct Panel {
    child: Child,
    _stdin: ChildStdin,
    port: String,
    reports: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Panel {
    fn start(args: &[&str]) -> Panel {
        let python = common::artifacts()
            .parent()
            .unwrap()
            .join("target/test-venv/bin/python");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/osdp_panel.py");
        let mut child = Command::new(python)
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the panel's Python (scripts/setup.sh --test makes it)");
        let (sender, reports) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = sender.send(serde_json::from_str::<Value>(&line).unwrap());
            }
        });
        let first: Value = reports.recv_timeout(Duration::from_secs(30)).unwrap();
        Panel {
            _stdin: child.stdin.take().unwrap(),
            child,
            port: first["pty"].as_str().unwrap().to_string(),
            reports,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) for a report that `wanted` accepts.
    fn wait_for(&mut self, limit: Duration, wanted: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = std::time::Instant::now() + limit;
        if let Some(found) = self.seen.iter().find(|r| wanted(r)) {
            return Some(found.clone());
        }
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let Ok(report) = self.reports.recv_timeout(left) else {
                break;
            };
            self.seen.push(report.clone());
            if wanted(&report) {
                return Some(report);
            }
        }
        None
    }

    fn cards(&mut self) -> Vec<Value> {
        while let Ok(report) = self.reports.try_recv() {
            self.seen.push(report);
        }
        self.seen
            .iter()
            .filter_map(|r| r.get("card").cloned())
            .collect()
    }
}

impl Drop for Panel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn secure_and_online(report: &Value) -> bool {
    report["online"] == json!(true) && report["sc"] == json!(true)
}

fn osdp_config(key: &str) -> String {
    format!(
        "[osdp]\nsecure_channel_key = \"{key}\"\nformat = \"wiegand26\"\nfacility_code = 18\n\
         [edge]\nrelay = \"\"\nliveness_required = false\n"
    )
}

fn osdp_status(daemon: &Daemon) -> Value {
    daemon.get("/api/facegate/v1/Status").json()["panel"][0].clone()
}

/// A data directory whose `staff` watchlist holds each (id, photo, card
/// number) as a member whose `cardNumber` label is the card.
fn members_with_cards(members: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_in(data.path(), None);
    let staff = json!({"id": "staff", "displayName": "Staff", "fullName": "Staff"});
    assert_eq!(daemon.put("/api/v1/Watchlists", &staff).status, 200);
    for (id, photo, card) in members {
        let member = json!({"id": id, "images": [{"data": photo_base64(photo)}],
            "watchlistIds": ["staff"], "labels": [{"key": "cardNumber", "value": card}]});
        let reply = daemon.post("/api/v1/WatchlistMembers/Register", &member);
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    data
}

#[test]
fn a_member_reaches_the_panel_as_a_26_bit_card_read_under_secure_channel_and_a_stranger_sends_nothing(
) {
    let data = members_with_cards(&[("obama", "obama.jpg", "12345")]);
    let mut panel = Panel::start(&["--key", KEY, "--grant", "12345"]);
    // Obama walks up, then a stranger stays in view.
    let shots = [
        ("blank", 10),
        ("obama2.jpg", 6),
        ("blank", 4),
        ("biden.jpg", 8),
    ];
    let scene = scene(&shots);
    let osdp = format!("serial:{}@9600", panel.port);
    let daemon = start_door(
        data.path(),
        &osdp_config(KEY),
        scene.path(),
        5,
        "",
        &["--osdp", &osdp],
    );
    let secure = panel.wait_for(Duration::from_secs(60), secure_and_online);
    assert!(secure.is_some(), "never secure: {:?}", panel.seen);
    wait_until_played(&daemon, 28);
    let cards = panel.cards();
    assert_eq!(
        cards,
        [json!({"bits": 26, "facility": 18, "number": 12345, "parityOk": true})],
        "decisions {:?}",
        decisions(&daemon)
    );
    let events = daemon.get("/api/facegate/v1/Events?PageSize=1000").json();
    let events = events["items"].as_array().unwrap();
    let granted: Vec<&Value> = events
        .iter()
        .filter(|e| e["watchlistMemberId"] == json!("obama"))
        .collect();
    assert_eq!(granted.len(), 1, "{events:?}");
    // The panel's green LED is its verdict, in the event.
    assert_eq!(granted[0]["panelVerdict"], json!("granted"));
    assert_eq!(granted[0]["reason"], json!("granted"));
    assert_eq!(granted[0]["doorOpened"], json!(true));
    assert!(events
        .iter()
        .filter(|e| e["reason"] == json!("unknown person"))
        .all(|e| e["panelVerdict"] == json!("none")));
    let status = osdp_status(&daemon);
    assert_eq!(
        (status["kind"].as_str(), status["key"].as_str()),
        (Some("osdp"), Some("configured"))
    );
    assert_eq!(status["secureChannel"], json!(true), "{status}");
    assert_eq!(status["cardsSent"], json!(1));
    assert_eq!(status["lastLed"], json!("green"));
}

#[test]
fn the_relay_follows_the_panel_opening_for_its_green_led_and_staying_shut_for_its_red_one() {
    // Both are members here; the panel knows only Obama's card.
    let data = members_with_cards(&[
        ("obama", "obama.jpg", "12345"),
        ("biden", "biden.jpg", "777"),
    ]);
    let mut panel = Panel::start(&["--key", KEY, "--grant", "12345"]);
    let shots = [
        ("blank", 10),
        ("obama2.jpg", 6),
        ("blank", 4),
        ("biden.jpg", 6),
    ];
    let scene = scene(&shots);
    let (mut board, relay) = pty();
    let osdp = format!("serial:{}@9600", panel.port);
    let daemon = start_door(
        data.path(),
        &osdp_config(KEY),
        scene.path(),
        5,
        &format!("serial:{relay}"),
        &["--osdp", &osdp],
    );
    assert!(panel
        .wait_for(Duration::from_secs(60), secure_and_online)
        .is_some());
    wait_until_played(&daemon, 26);
    let cards: Vec<Value> = panel
        .cards()
        .iter()
        .map(|card| card["number"].clone())
        .collect();
    assert_eq!(cards, [json!(12345), json!(777)]);
    let events = daemon.get("/api/facegate/v1/Events?PageSize=1000").json();
    let verdict_of = |member: &str| {
        let events = events["items"].as_array().unwrap();
        let event = events
            .iter()
            .find(|e| e["watchlistMemberId"] == json!(member))
            .unwrap_or_else(|| panic!("no event for {member}: {events:?}"));
        (
            event["reason"].clone(),
            event["panelVerdict"].clone(),
            event["doorOpened"].clone(),
        )
    };
    assert_eq!(
        verdict_of("obama"),
        (json!("granted"), json!("granted"), json!(true))
    );
    assert_eq!(
        verdict_of("biden"),
        (json!("refused by the panel"), json!("denied"), json!(false))
    );
    assert_eq!(osdp_status(&daemon)["lastLed"], json!("red"));
    let mut received = Vec::new();
    let _ = board.read_to_end(&mut received);
    assert_eq!(
        occurrences(&received, &OPEN),
        1,
        "relay bytes {received:02X?}"
    );
}

#[test]
fn a_keyed_reader_refuses_a_wrong_key_the_default_key_and_their_new_keys() {
    let data = tempfile::tempdir().unwrap();
    // A panel with the wrong key falls back to SCBK-D, as libosdp's does,
    // then would install its own key; a panel with no key uses SCBK-D.
    for args in [
        vec!["--key", WRONG_KEY, "--keyset", WRONG_KEY],
        vec!["--keyset", WRONG_KEY],
    ] {
        let mut panel = Panel::start(&args);
        let osdp = format!("serial:{}@9600", panel.port);
        let daemon =
            Daemon::start_in_with_args(data.path(), Some(&osdp_config(KEY)), &["--osdp", &osdp]);
        // The panel asks for Secure Channel at once; give it time to retry.
        let refused = panel.wait_for(Duration::from_secs(8), secure_and_online);
        assert_eq!(refused, None, "{args:?}: {:?}", panel.seen);
        assert!(
            panel.seen.iter().all(|r| r.get("keyset").is_none()),
            "{:?}",
            panel.seen
        );
        let status = osdp_status(&daemon);
        assert_eq!(status["secureChannel"], json!(false), "{status}");
        assert_eq!(status["key"], json!("configured"));
        assert!(!data.path().join("osdp-scbk").exists());
    }
}

#[test]
fn a_reader_without_a_key_lets_the_panel_install_one_and_keeps_it_across_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut panel = Panel::start(&["--key", KEY]);
    let osdp = format!("serial:{}@9600", panel.port);
    let mut daemon =
        Daemon::start_in_with_args(data.path(), Some(&osdp_config("")), &["--osdp", &osdp]);
    // Install mode: the panel sets up Secure Channel with SCBK-D and
    // installs its key, then comes back under it.
    assert!(panel
        .wait_for(Duration::from_secs(60), secure_and_online)
        .is_some());
    wait_until(Duration::from_secs(30), "the key kept", || {
        osdp_status(&daemon)["key"] == json!("installed by the panel")
    });
    assert!(data.path().join("osdp-scbk").exists());
    assert!(daemon
        .startup_log
        .iter()
        .any(|line| line.contains("install mode")));
    daemon.kill();
    drop(panel);
    // Restarted with no key configured, the reader uses the panel's key:
    // the same panel connects securely, and one with another key does not.
    for (key, connects) in [(KEY, true), (WRONG_KEY, false)] {
        let mut panel = Panel::start(&["--key", key]);
        let osdp = format!("serial:{}@9600", panel.port);
        let daemon =
            Daemon::start_in_with_args(data.path(), Some(&osdp_config("")), &["--osdp", &osdp]);
        let limit = Duration::from_secs(if connects { 60 } else { 8 });
        let secure = panel.wait_for(limit, secure_and_online).is_some();
        assert_eq!(secure, connects, "{key}: {:?}", panel.seen);
        drop(daemon);
    }
}

#[test]
fn a_panel_moves_the_reader_to_another_address_and_speed_which_it_keeps_across_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut panel = Panel::start(&["--key", KEY, "--comset", "5", "19200"]);
    let osdp = format!("serial:{}@9600", panel.port);
    let mut daemon =
        Daemon::start_in_with_args(data.path(), Some(&osdp_config(KEY)), &["--osdp", &osdp]);
    let asked = panel.wait_for(Duration::from_secs(60), |report| {
        report.get("comset").is_some()
    });
    assert_eq!(asked, Some(json!({"comset": true})), "{:?}", panel.seen);
    let moved = format!("{}@19200 address 5, set by the panel", panel.port);
    wait_until(Duration::from_secs(30), "the reader to move", || {
        let status = osdp_status(&daemon);
        status["device"] == json!(moved) && status["secureChannel"] == json!(true)
    });
    assert_eq!(
        std::fs::read_to_string(data.path().join("osdp-line")).unwrap(),
        "5 19200\n"
    );
    daemon.kill();
    drop(panel);
    // Restarted with address 0 in its config, the reader answers at 5: a
    // panel that polls address 5 connects.
    let mut panel = Panel::start(&["--key", KEY, "--address", "5"]);
    let osdp = format!("serial:{}@9600", panel.port);
    let daemon =
        Daemon::start_in_with_args(data.path(), Some(&osdp_config(KEY)), &["--osdp", &osdp]);
    assert!(
        panel
            .wait_for(Duration::from_secs(60), secure_and_online)
            .is_some(),
        "{:?}",
        panel.seen
    );
    let device = osdp_status(&daemon)["device"].clone();
    assert_eq!(
        device,
        json!(format!("{}@19200 address 5, set by the panel", panel.port))
    );
}
