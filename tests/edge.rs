//! The door loop end to end: a replay camera shows an enrolled person, then
//! a stranger; the serial relay (a pseudo-terminal here) must receive the
//! open sequence exactly once, and the event log must show both.

mod common;

use common::door::{
    decisions, door_on_pty, occurrences, pty, read_until, scene, start_door, wait_until_played,
    CLOSE, OPEN,
};
use common::Daemon;
use serde_json::json;
use std::io::Read;
use std::time::Duration;

/// Reads the live event stream until the door opens (or 60 s pass).
fn follow_live_events(base: &str) -> std::thread::JoinHandle<String> {
    use std::io::Write;
    let address = base.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "GET /api/facegate/v1/Events/Stream HTTP/1.1\r\nHost: {address}\r\n\r\n"
        )
        .unwrap();
        let mut seen = String::new();
        let mut buffer = [0u8; 4096];
        while !seen.contains("granted") {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buffer[..n])),
            }
        }
        seen
    })
}

/// Plays `scene` at 5 fps into a daemon on `data` with `edge` settings and
/// a relay on a fresh pty; returns the daemon's decisions and the bytes the
/// relay board received.
fn play(
    data: &std::path::Path,
    edge: &str,
    scene: &tempfile::TempDir,
    frames: u64,
) -> (Vec<(String, String)>, Vec<u8>) {
    let (mut daemon, mut board) = door(data, edge, scene);
    wait_until_played(&daemon, frames);
    let decided = decisions(&daemon);
    assert!(daemon.terminate());
    let mut received = Vec::new();
    let _ = board.read_to_end(&mut received);
    (decided, received)
}

fn decision(reason: &str, member: &str) -> (String, String) {
    (reason.to_string(), member.to_string())
}

/// A data directory with these (member, photo, watchlist) enrolled.
fn enrolled(people: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_in(data.path(), None);
    for (member, photo, watchlist) in people {
        daemon.enrol(member, photo, watchlist);
    }
    if people.iter().any(|(member, ..)| *member == "biden") {
        // Biden is on the deny list too, for the tests that use one.
        let banned = json!({"id": "banned", "displayName": "Banned", "fullName": "Banned"});
        assert_eq!(daemon.put("/api/v1/Watchlists", &banned).status, 200);
        let link = json!({"watchlistId": "banned", "watchlistMembersIds": ["biden"]});
        let reply = daemon.post("/api/v1/WatchlistMembers/LinkToWatchlist", &link);
        assert_eq!(reply.status, 204);
    }
    data
}

#[test]
fn a_member_seen_in_a_single_frame_is_not_let_in_until_a_second_frame_agrees() {
    // Replays `scene` with `edge` lines to a door that knows Obama; the
    // decisions, read after the daemon stopped (so the last frame's is
    // in), and the relay's opens.
    let replay = |edge: &str, scene: &tempfile::TempDir, frames: u64| {
        let data = enrolled(&[("obama", "obama.jpg", "staff")]);
        let config = format!("[edge]\npulse_ms = 100\n{edge}");
        let (mut daemon, mut board) = door_on_pty(data.path(), &config, scene.path());
        wait_until_played(&daemon, frames);
        assert!(daemon.terminate());
        let mut received = Vec::new();
        let _ = board.read_to_end(&mut received);
        let decided = decisions(&Daemon::start_in(data.path(), None));
        (decided, occurrences(&received, &OPEN))
    };
    // The last frame of a replay is processed whatever the machine's
    // speed: the member is in that one frame only.
    let glimpse = scene(&[("blank", 5), ("obama2.jpg", 1)]);
    // The default asks two frames: held back, with no event.
    assert_eq!(replay("", &glimpse, 6), (vec![], 0));
    // With one frame deciding, that same frame opens.
    assert_eq!(
        replay("evidence_frames = 1\n", &glimpse, 6),
        (vec![decision("granted", "obama")], 1)
    );
    // A member who stays in view is let in by the default, once.
    let stay = scene(&[("blank", 5), ("obama2.jpg", 10)]);
    assert_eq!(
        replay("", &stay, 15),
        (vec![decision("granted", "obama")], 1)
    );
}

#[test]
fn a_member_who_comes_back_within_the_debounce_does_not_open_again_but_after_it_does() {
    let data = enrolled(&[("obama", "obama.jpg", "staff")]);
    // At 5 fps: there at 0 s, gone for 5 s, back at 5.8 s (within 10 s of
    // the open), gone for 6 s, back at 12.6 s (after). The gaps are long
    // enough for a loaded machine whose loop stalls a few seconds: the
    // person must be seen gone between visits.
    let shots = [
        ("obama2.jpg", 4),
        ("blank", 25),
        ("obama2.jpg", 4),
        ("blank", 30),
        ("obama2.jpg", 4),
    ];
    let edge = "debounce_seconds = 10.0\ncooldown_seconds = 0.0\n";
    let (decided, relay) = play(data.path(), edge, &scene(&shots), 67);
    assert_eq!(
        decided,
        [
            decision("granted", "obama"),
            decision("opened for this person moments ago", "obama"),
            decision("granted", "obama"),
        ]
    );
    assert_eq!(occurrences(&relay, &OPEN), 2, "relay bytes {relay:02X?}");
}

#[test]
fn nobody_opens_during_the_cooldown_and_the_next_member_does_after_it() {
    let data = enrolled(&[
        ("obama", "obama.jpg", "staff"),
        ("biden", "biden.jpg", "staff"),
    ]);
    // Biden for 1.6 s right after Obama's open (cooldown), then again
    // 5 s later; long enough for a loaded machine whose loop stalls.
    let shots = [
        ("obama2.jpg", 4),
        ("biden.jpg", 8),
        ("blank", 25),
        ("biden.jpg", 4),
    ];
    let edge = "debounce_seconds = 0.0\ncooldown_seconds = 4.0\n";
    let (decided, relay) = play(data.path(), edge, &scene(&shots), 41);
    assert_eq!(
        decided,
        [
            decision("granted", "obama"),
            decision("door cooling down after an open", "biden"),
            decision("granted", "biden"),
        ]
    );
    assert_eq!(occurrences(&relay, &OPEN), 2, "relay bytes {relay:02X?}");
}

#[test]
fn a_deny_listed_member_never_opens_whatever_watchlists_the_door_searches() {
    let shots = [("biden.jpg", 4), ("blank", 15), ("obama2.jpg", 4)];
    // All watchlists, the staff list alone (the deny list is not among the
    // searched ones), and both named.
    for searched in ["[]", "[\"staff\"]", "[\"staff\", \"banned\"]"] {
        // Biden is in `staff` and `banned`, Obama in `staff` only; a fresh
        // door each time, so the decisions are this configuration's.
        let data = enrolled(&[
            ("biden", "biden.jpg", "staff"),
            ("obama", "obama.jpg", "staff"),
        ]);
        let edge = format!(
            "watchlists = {searched}\ndeny_watchlists = [\"banned\"]\n\
             debounce_seconds = 60.0\ncooldown_seconds = 0.0\n"
        );
        let (decided, relay) = play(data.path(), &edge, &scene(&shots), 23);
        let biden: Vec<_> = decided.iter().filter(|(_, m)| m == "biden").collect();
        assert!(!biden.is_empty(), "searching {searched}: {decided:?}");
        assert!(
            biden.iter().all(|(reason, _)| reason == "on a deny list"),
            "searching {searched}: {decided:?}"
        );
        // Obama, on no deny list, is let in once: the one open the relay saw.
        assert!(
            decided.contains(&decision("granted", "obama")),
            "searching {searched}: {decided:?}"
        );
        assert_eq!(
            occurrences(&relay, &OPEN),
            1,
            "searching {searched}: relay bytes {relay:02X?}"
        );
    }
}

#[test]
fn an_enrolled_person_opens_the_door_once_and_a_stranger_never() {
    let data = tempfile::tempdir().unwrap();
    // Enrol Obama from one photo.
    {
        let daemon = Daemon::start_in(data.path(), None);
        daemon.enrol("obama", "obama.jpg", "staff");
    }
    // A scene: Obama (another photo) for six frames, then Biden for six.
    let scene = scene(&[("obama2.jpg", 6), ("biden.jpg", 6)]);
    let (mut board, port) = pty();
    let config = format!(
        "[edge]\ndebounce_seconds = 60.0\ncooldown_seconds = 0.0\npulse_ms = 100\n{ONE_FRAME_DECIDES}"
    );
    let mut daemon = start_door(
        data.path(),
        &config,
        scene.path(),
        4,
        &format!("serial:{port}"),
        &[],
    );
    let live = follow_live_events(&daemon.base);
    wait_until_played(&daemon, 12);
    let events = daemon.get("/api/facegate/v1/Events?PageSize=100").json();
    let crop = daemon.get(events["items"][0]["cropUrl"].as_str().unwrap());
    assert_eq!(
        (crop.status, crop.content_type.as_str()),
        (200, "image/jpeg")
    );
    assert!(facegate_models::image::load_from_memory(&crop.bytes).is_ok());
    // The stream delivers the event while the daemon runs, not at its end.
    let streamed = live.join().unwrap();
    assert!(
        streamed.contains("\"reason\":\"granted\""),
        "live stream: {streamed}"
    );
    assert!(daemon.terminate(), "SIGTERM stops the daemon cleanly");

    let mut received = Vec::new();
    let _ = board.read_to_end(&mut received);
    assert_eq!(
        occurrences(&received, &OPEN),
        1,
        "relay bytes {received:02X?}"
    );
    assert!(
        received.ends_with(&CLOSE),
        "the relay is left closed: {received:02X?}"
    );

    let items = events["items"].as_array().unwrap();
    let opened: Vec<_> = items.iter().filter(|e| e["doorOpened"] == true).collect();
    assert_eq!(opened.len(), 1, "{events}");
    assert_eq!(opened[0]["watchlistMemberId"], "obama");
    assert!(opened[0]["score"].as_i64().unwrap() >= 40);
    let stranger: Vec<_> = items
        .iter()
        .filter(|e| e["reason"] == "unknown person")
        .collect();
    assert_eq!(stranger.len(), 1, "{events}");
    assert_eq!(stranger[0]["doorOpened"], false);
    assert!(stranger[0]["watchlistMemberId"].is_null(), "{events}");
    for event in items {
        assert!(event["reason"].is_string() && event["at"].is_string());
    }
}

#[test]
fn a_missing_camera_leaves_the_api_serving() {
    let daemon = Daemon::start_with_args(&[
        "--camera",
        "v4l:/dev/video-facegate-absent",
        "--relay",
        "fake",
    ]);
    assert_eq!(daemon.get("/api/v1/Version").status, 200);
    let status = daemon.get("/api/facegate/v1/Status").json();
    assert_eq!(status["running"], false);
    assert_eq!(status["camera"]["state"], "reopening", "{status}");
    // The default security level with nobody enrolled: one face's worth.
    let door = &status["door"];
    assert_eq!(door["maxStrangerRate"], 0.001, "{door}");
    assert_eq!(
        (door["galleryFaces"].as_u64(), door["threshold"].as_i64()),
        (Some(0), Some(30))
    );
    assert!(door["expectedStrangerRate"].as_f64().unwrap() <= 0.001);
}

#[test]
fn a_relay_board_unplugged_and_plugged_back_is_reconnected_and_opens_for_the_next_member() {
    let data = enrolled(&[("obama", "obama.jpg", "staff")]);
    // The configured port is a link, as udev makes for a USB relay board;
    // the board behind it goes away and comes back as another device.
    let ports = tempfile::tempdir().unwrap();
    let link = ports.path().join("relay");
    let (mut first_board, first_port) = pty();
    std::os::unix::fs::symlink(&first_port, &link).unwrap();
    // Obama at the door, away for 4 s, back for 2 s.
    let shots = [("obama2.jpg", 4), ("blank", 20), ("obama2.jpg", 10)];
    let scene = scene(&shots);
    let config = format!(
        "[edge]\npulse_ms = 100\ndebounce_seconds = 3.0\ncooldown_seconds = 0.0\n{ONE_FRAME_DECIDES}"
    );
    let mut daemon = start_door(
        data.path(),
        &config,
        scene.path(),
        5,
        &format!("serial:{}", link.display()),
        &[],
    );
    read_until(&mut first_board, &OPEN, &daemon);
    drop(first_board);
    let (mut second_board, second_port) = pty();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&second_port, &link).unwrap();
    read_until(&mut second_board, &OPEN, &daemon);
    wait_until_played(&daemon, 34);
    let relay = daemon.get("/api/facegate/v1/Status").json()["relay"].clone();
    assert_eq!(relay["connected"], true, "{relay}");
    assert!(relay["failures"].as_u64().unwrap() >= 1, "{relay}");
    assert!(relay["lastError"].is_string(), "{relay}");
    let opened: Vec<_> = decisions(&daemon)
        .into_iter()
        .filter(|(reason, _)| reason == "granted")
        .collect();
    assert_eq!(
        opened,
        [decision("granted", "obama"), decision("granted", "obama")]
    );
    assert!(daemon.terminate());
}

/// Starts a daemon on `data` replaying `scene` at 5 fps into a relay on a
/// fresh pty; returns it with the relay board's side. One frame decides
/// (`evidence_frames = 1`, see `ONE_FRAME_DECIDES`).
fn door(data: &std::path::Path, edge: &str, scene: &tempfile::TempDir) -> (Daemon, std::fs::File) {
    door_on_pty(
        data,
        &format!("[edge]\npulse_ms = 100\n{ONE_FRAME_DECIDES}{edge}"),
        scene.path(),
    )
}

/// The tests of the other rules let one frame decide: a short visit that
/// a loop slowed by a loaded machine sees only once must still count. The
/// evidence rule has a test of its own.
const ONE_FRAME_DECIDES: &str = "evidence_frames = 1\n";

#[test]
fn a_visitor_enrolled_from_the_face_the_camera_saw_opens_the_door_on_the_next_visit() {
    // As SmartFace's auto-enrolment integration does it: take the face id
    // from the stranger's event, create a member, link it, add the face.
    let data = tempfile::tempdir().unwrap();
    // A door's debounce: the visitor standing in view opens it once.
    let edge = "debounce_seconds = 10.0\ncooldown_seconds = 0.0\n";
    let first_visit = scene(&[("obama2.jpg", 4)]);
    let (mut daemon, mut board) = door(data.path(), edge, &first_visit);
    wait_until_played(&daemon, 4);
    let events = daemon.get("/api/facegate/v1/Events").json();
    let [stranger] = &events["items"].as_array().unwrap()[..] else {
        panic!("one event for one stranger: {events}")
    };
    assert_eq!(stranger["reason"], "unknown person", "{stranger}");
    let face_id = stranger["faceId"].as_str().unwrap().to_string();
    let tracklet_id = stranger["trackletId"].as_str().unwrap().to_string();

    let visitor = daemon.post(
        "/api/v1/WatchlistMembers",
        &json!({"displayName": "Visitor"}),
    );
    assert_eq!(visitor.status, 201, "{}", visitor.body);
    let visitor = visitor.json()["id"].as_str().unwrap().to_string();
    let visitors = json!({"id": "visitors", "displayName": "Visitors", "fullName": "Visitors"});
    assert_eq!(daemon.put("/api/v1/Watchlists", &visitors).status, 200);
    let link = json!({"watchlistId": "visitors", "watchlistMembersIds": [visitor]});
    let linked = daemon.post("/api/v1/WatchlistMembers/LinkToWatchlist", &link);
    assert_eq!(linked.status, 204, "{}", linked.body);
    let add = |member: &str, face: &str| {
        daemon.post(
            &format!("/api/v1/WatchlistMembers/{member}/AddFaceFromSystem"),
            &json!({"faceId": face}),
        )
    };
    let added = add(&visitor, &face_id);
    assert_eq!(added.status, 204, "{}", added.body);

    // The face is the member's now, with the camera's tracklet and a crop
    // large enough to enrol from; the index has it at once.
    let faces = daemon
        .get(&format!("/api/v1/WatchlistMembers/{visitor}/Faces"))
        .json();
    let face = &faces["items"][0];
    assert_eq!(face["id"], face_id.as_str(), "{faces}");
    assert_eq!(face["trackletId"], tracklet_id.as_str(), "{face}");
    let image = daemon.get(&format!(
        "/api/v1/Images/{}",
        face["imageDataId"].as_str().unwrap()
    ));
    assert_eq!(
        (image.status, image.content_type.as_str()),
        (200, "image/jpeg")
    );
    let crop = facegate_models::image::load_from_memory(&image.bytes).unwrap();
    assert!(
        crop.width().max(crop.height()) <= 400 && crop.width() >= 100,
        "{}x{}",
        crop.width(),
        crop.height()
    );
    let search = json!({"image": {"data": common::photo_base64("obama3.jpg")}});
    let found = daemon.post("/api/v1/Watchlists/Search", &search).json();
    assert_eq!(
        found[0]["matchResults"][0]["watchlistMemberId"],
        visitor.as_str(),
        "{found}"
    );

    // Another member cannot take it; an unknown face is 404.
    let other = daemon.post("/api/v1/WatchlistMembers", &json!({})).json();
    let taken = add(other["id"].as_str().unwrap(), &face_id);
    common::problem(&taken, 409);
    common::problem(&add(&visitor, &uuid::Uuid::new_v4().to_string()), 404);
    assert!(daemon.terminate());
    let mut before = Vec::new();
    let _ = board.read_to_end(&mut before);
    assert_eq!(
        occurrences(&before, &OPEN),
        0,
        "the stranger was let in: {before:02X?}"
    );

    // The next visit: the visitor (another photo) opens the door, and a
    // different stranger still does not.
    let next_visit = scene(&[("obama3.jpg", 4), ("blank", 10), ("biden.jpg", 4)]);
    let (mut daemon, mut board) = door(data.path(), edge, &next_visit);
    wait_until_played(&daemon, 18);
    let decided = decisions(&daemon);
    assert!(daemon.terminate());
    let mut received = Vec::new();
    let _ = board.read_to_end(&mut received);
    assert_eq!(
        occurrences(&received, &OPEN),
        1,
        "relay bytes {received:02X?}"
    );
    let later: Vec<_> = decided.into_iter().skip(1).collect();
    assert_eq!(
        later,
        [
            decision("granted", &visitor),
            decision("unknown person", "")
        ]
    );
}

/// The status code of `request` (raw bytes, `ADDR` replaced by the
/// daemon's address) sent on a connection of its own.
fn status_of_raw(daemon: &Daemon, request: &str) -> u16 {
    use std::io::Write;
    let address = daemon.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(request.replace("ADDR", address).as_bytes())
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

#[test]
fn a_web_page_of_another_site_cannot_open_the_door_nor_read_through_a_rebound_name() {
    let data = tempfile::tempdir().unwrap();
    // A relay board and a camera that never shows up: only a request opens.
    let (daemon, mut board) = door_on_pty(data.path(), "", &data.path().with_extension("none"));
    let open = "/api/facegate/v1/Door/Open";
    // What a page on evil.example can make a browser send without asking
    // first: a text/plain POST from its origin.
    let cross_site = [
        ("Origin", "http://evil.example"),
        ("Content-Type", "text/plain"),
    ];
    let refused = daemon.raw("POST", open, &cross_site, b"open");
    common::problem(&refused, 403);
    let fetch_metadata = [("Sec-Fetch-Site", "cross-site")];
    common::problem(&daemon.raw("POST", open, &fetch_metadata, b""), 403);
    // The same type with no Origin (an old browser's form) is 415.
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    common::problem(&daemon.raw("POST", open, &form, b"a=1"), 415);
    // A page whose name was rebound to the door's address sends its own
    // name as Host: it may neither open nor read.
    let rebound = "POST /api/facegate/v1/Door/Open HTTP/1.1\r\nHost: evil.example:8098\r\n\
                   Content-Length: 0\r\n\r\n";
    assert_eq!(status_of_raw(&daemon, rebound), 421);
    let read = "GET /api/v1/WatchlistMembers HTTP/1.1\r\nHost: evil.example\r\n\r\n";
    assert_eq!(status_of_raw(&daemon, read), 421);
    assert!(decisions(&daemon).is_empty(), "{:?}", decisions(&daemon));
    // The door's own page (same origin) and a client that is no browser
    // open it, each once.
    let own_origin = daemon.base.clone();
    let same_origin = [
        ("Origin", own_origin.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
    ];
    assert_eq!(daemon.raw("POST", open, &same_origin, b"").status, 200);
    read_until(&mut board, &OPEN, &daemon);
    assert_eq!(decisions(&daemon).len(), 1);
    let by_address = "POST /api/facegate/v1/Door/Open HTTP/1.1\r\nHost: ADDR\r\n\
                      Content-Length: 0\r\n\r\n";
    assert_eq!(status_of_raw(&daemon, by_address), 200);
    assert_eq!(decisions(&daemon).len(), 2);
}

#[test]
fn two_cameras_open_their_own_doors_for_their_own_people_and_a_stalled_camera_stops_neither() {
    let data = enrolled(&[
        ("obama", "obama.jpg", "front"),
        ("biden", "biden.jpg", "back"),
    ]);
    // The entrance admits the front's people, the exit the back's; each
    // sees both, one after the other.
    let entrance = scene(&[("obama2.jpg", 6), ("biden.jpg", 6)]);
    let exit = scene(&[("biden.jpg", 6), ("obama2.jpg", 6)]);
    let ((mut entrance_board, entrance_port), (mut exit_board, exit_port)) = (pty(), pty());
    // A third camera answers the connection and then nothing, ever.
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stalled_url = format!(
        "rtsp://127.0.0.1:{}/live",
        stalled.local_addr().unwrap().port()
    );
    let (entrance_id, exit_id, stalled_id) = (
        "0b7f0e8a-0000-4000-8000-00000000e001",
        "0b7f0e8a-0000-4000-8000-00000000e002",
        "0b7f0e8a-0000-4000-8000-00000000e003",
    );
    let config = format!(
        "[edge]\npulse_ms = 100\ndebounce_seconds = 60.0\n{ONE_FRAME_DECIDES}\n\
         [[camera]]\nsource = \"replay:{}@4\"\nstream_id = \"{entrance_id}\"\n\
         relay = \"serial:{entrance_port}\"\nwatchlists = [\"front\"]\n\n\
         [[camera]]\nsource = \"{stalled_url}\"\nstream_id = \"{stalled_id}\"\nrelay = \"fake\"\n\n\
         [[camera]]\nsource = \"replay:{}@4\"\nstream_id = \"{exit_id}\"\n\
         relay = \"serial:{exit_port}\"\nwatchlists = [\"back\"]\ndirection = \"exit\"\n",
        entrance.path().display(),
        exit.path().display(),
    );
    let mut daemon = Daemon::start_in_with_args(data.path(), Some(&config), &[]);
    let _held = std::thread::spawn(move || {
        let accepted: Vec<_> = stalled.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(600));
        drop(accepted);
    });
    wait_until_played(&daemon, 24);
    let status = daemon.get("/api/facegate/v1/Status").json();
    let cameras = status["cameras"].as_array().unwrap();
    let ids: Vec<_> = cameras.iter().map(|c| c["streamId"].clone()).collect();
    assert_eq!(ids, [entrance_id, stalled_id, exit_id], "{status}");
    assert_eq!(cameras[2]["direction"], "exit", "{status}");
    assert_ne!(cameras[1]["camera"]["state"], "streaming", "{status}");
    assert_eq!(cameras[1]["framesIn"], 0, "{status}");
    for own in [&cameras[0], &cameras[2]] {
        assert_eq!(own["framesIn"], 12, "{status}");
        assert_eq!(own["opens"], 1, "{status}");
    }
    assert_eq!(status["running"], false, "not every camera streams");
    let events = daemon.get("/api/facegate/v1/Events?PageSize=100").json();
    let granted: Vec<_> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["doorOpened"] == true)
        .map(|e| {
            let field = |name: &str| e[name].as_str().unwrap_or("").to_string();
            (
                field("streamId"),
                field("direction"),
                field("watchlistMemberId"),
            )
        })
        .collect();
    let expected = |stream: &str, direction: &str, member: &str| {
        (
            stream.to_string(),
            direction.to_string(),
            member.to_string(),
        )
    };
    assert_eq!(granted.len(), 2, "{events}");
    assert!(
        granted.contains(&expected(entrance_id, "entry", "obama")),
        "{events}"
    );
    assert!(
        granted.contains(&expected(exit_id, "exit", "biden")),
        "{events}"
    );
    assert!(daemon.terminate());
    for board in [&mut entrance_board, &mut exit_board] {
        let mut received = Vec::new();
        let _ = board.read_to_end(&mut received);
        assert_eq!(occurrences(&received, &OPEN), 1, "{received:02X?}");
        assert!(received.ends_with(&CLOSE), "{received:02X?}");
    }
}
