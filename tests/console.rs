//! The web console in a real browser: Debian's Chromium, headless, driven
//! over WebDriver (its chromedriver) by fantoccini, against the real
//! daemon with a replay camera and a relay board on a pty. Installed by
//! `scripts/setup.sh --test`.
//!
//! With `FACEGATE_SCREENSHOTS=1` the tests also write the screenshots of
//! docs/console/.

mod common;

use common::door::{door_on_pty, occurrences, read_until, scene, OPEN};
use common::{artifacts, Daemon};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the page may take to show something on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(90);

/// chromedriver with headless Chromium, in a process group of their own
/// that is killed with the test, whatever happens to it.
struct Browser {
    client: Client,
    driver: Child,
    driver_url: String,
}

impl Browser {
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect(
                "chromedriver runs (scripts/setup.sh --test installs Debian's chromium-driver)",
            );
        let driver_url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1100,1000"],
            },
            // The page's console, read back to find errors.
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver_url)
            .await
            .expect("a Chromium session (scripts/setup.sh --test installs Debian's chromium)");
        Browser {
            client,
            driver,
            driver_url,
        }
    }

    /// Waits until `script` (a function body) returns a truthy value;
    /// returns it. Fails naming `what`, with the notice the page shows.
    async fn until(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let value = self.client.execute(script, vec![]).await.unwrap();
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let notice = self.text("#notice").await;
                panic!("timed out after {PATIENCE:?} waiting for {what}; the page's notice: {notice:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The Door page's status as "term: value" lines, once `ready` (a
    /// condition on `facts`, the lines) holds.
    async fn door_facts(&self, what: &str, ready: &str) -> Vec<String> {
        let script = format!(
            "const facts = [...document.querySelectorAll('#status dt')] \
               .map(dt => dt.textContent + ': ' + dt.nextElementSibling.textContent); \
             return ({ready}) && facts"
        );
        let facts = self.until(what, &script).await;
        let lines = facts.as_array().unwrap().iter().filter_map(Value::as_str);
        lines.map(String::from).collect()
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client.find(Locator::Css(css)).await.unwrap()
    }

    async fn text(&self, css: &str) -> String {
        let script = format!("return document.querySelector({css:?})?.textContent ?? ''");
        let value = self.client.execute(&script, vec![]).await.unwrap();
        value.as_str().unwrap_or_default().to_string()
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Replaces the value of the input at `css` with `text`.
    async fn type_into(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    /// Opens `page` (a #fragment) of the console at `base`.
    async fn open(&self, base: &str, page: &str) {
        self.client.goto(&format!("{base}/#{page}")).await.unwrap();
    }

    /// What the page logged as errors, but for messages holding `expected`.
    fn errors(&self, session: &str, expected: &[&str]) -> Vec<String> {
        let log: Value = ureq::post(format!("{}/session/{session}/se/log", self.driver_url))
            .send_json(json!({"type": "browser"}))
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        log["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_string())
            .filter(|message| !expected.iter().any(|e| message.contains(e)))
            .collect()
    }

    /// Asserts the page logged no error but `expected` ones, then ends.
    async fn finish(self, expected: &[&str]) {
        let session = self.client.session_id().await.unwrap().unwrap();
        let errors = self.errors(&session, expected);
        assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
        self.client.clone().close().await.unwrap();
    }

    /// Writes docs/console/`name` when FACEGATE_SCREENSHOTS is set.
    async fn screenshot(&self, name: &str) {
        if std::env::var_os("FACEGATE_SCREENSHOTS").is_none() {
            return;
        }
        self.client
            .execute("window.scrollTo(0, 0)", vec![])
            .await
            .unwrap();
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the Chromium it started share its group.
        // SAFETY: kill only sends a signal to the group this test made.
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

fn photo(name: &str) -> String {
    let path: PathBuf = artifacts().join("testdata").join(name);
    path.canonicalize().unwrap().display().to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn the_door_page_shows_a_stranger_live_and_enrolling_them_there_opens_the_door_next_time() {
    let data = tempfile::tempdir().unwrap();
    // The camera's folder is missing (the camera is retried) until the
    // stranger comes, so the page is following the stream before.
    let scenes = tempfile::tempdir().unwrap();
    let camera = scenes.path().join("camera");
    // The night shift admits at no hour; staff have no schedule.
    let config = "[edge]\npulse_ms = 100\ndebounce_seconds = 10.0\ncooldown_seconds = 0.0\n\
                  watchlist_schedules = { night-shift = \"closed\" }\n\
                  [[schedule]]\nname = \"closed\"\ntime_zone = \"Europe/Bratislava\"\n";
    let (mut daemon, mut board) = door_on_pty(data.path(), config, &camera);
    let browser = Browser::start().await;
    browser.open(&daemon.base, "door").await;
    // The door's contact (none is wired) and its schedule are shown.
    let facts = browser
        .door_facts(
            "the door's contact and schedule",
            "facts.some(f => f.startsWith('Schedule of'))",
        )
        .await;
    let shown = |fact: &str| facts.iter().any(|f| f == fact);
    assert!(shown("Door contact: not wired"), "{facts:?}");
    assert!(
        shown("Schedule of night-shift: closed (Europe/Bratislava): outside schedule now"),
        "{facts:?}"
    );
    browser
        .until(
            "the live stream",
            "return document.querySelector('#live')?.dataset.state === 'live'",
        )
        .await;

    // Open the door by hand: the relay opens, the event is logged.
    browser
        .until(
            "the door's status",
            "return document.querySelector('#open-door').disabled === false",
        )
        .await;
    browser.click("#open-door").await;
    let mut received = read_until(&mut board, &OPEN, &daemon);
    browser
        .until(
            "the console's opening in the events",
            "return document.querySelector('li.event[data-reason=\"opened from the console\"][data-opened=\"true\"]')",
        )
        .await;

    // A stranger comes to the door.
    let first_visit = scene(&[("obama2.jpg", 4)]);
    std::fs::rename(first_visit.path(), &camera).unwrap();
    let stranger = "li.event[data-reason=\"unknown person\"]";
    let who = browser
        .until(
            "the stranger's event",
            &format!("return document.querySelector('{stranger} .who')?.textContent"),
        )
        .await;
    assert_eq!(who, "unknown");
    browser
        .until(
            "the stranger's crop",
            &format!("return document.querySelector('{stranger} img.crop')?.naturalWidth > 0"),
        )
        .await;

    // Enrol them from their event.
    browser.click(&format!("{stranger} .enrol-button")).await;
    browser
        .type_into(&format!("{stranger} input[name=name]"), "Barack Obama")
        .await;
    browser
        .type_into(&format!("{stranger} input[name=watchlist]"), "Staff")
        .await;
    browser
        .click(&format!("{stranger} button[type=submit]"))
        .await;
    let enrolled = browser
        .until(
            "the enrolment",
            &format!("return document.querySelector('{stranger} .enrolled')?.textContent"),
        )
        .await;
    assert!(
        enrolled.as_str().unwrap().contains("Barack Obama"),
        "{enrolled}"
    );
    browser.screenshot("door.png").await;
    let members = daemon.get("/api/v1/WatchlistMembers").json();
    let [member] = &members["items"].as_array().unwrap()[..] else {
        panic!("one member: {members}")
    };
    assert_eq!(member["displayName"], "Barack Obama");
    let faces = daemon.get(&format!(
        "/api/v1/WatchlistMembers/{}/Faces",
        member["id"].as_str().unwrap()
    ));
    assert_eq!(faces.json()["items"].as_array().unwrap().len(), 1);

    // So far the door opened once, by hand: the stranger was not let in.
    // (The page leaves first: it would retry the stopped daemon.)
    browser.client.goto("about:blank").await.unwrap();
    browser
        .until(
            "the page to leave",
            "return location.href === 'about:blank'",
        )
        .await;
    assert!(daemon.terminate());
    let _ = board.read_to_end(&mut received);
    assert_eq!(occurrences(&received, &OPEN), 1, "{received:02X?}");

    // Their next pass (another photo of them) opens the door, and the
    // page names them.
    let next_visit = scene(&[("obama3.jpg", 4)]);
    let (daemon, mut board) = door_on_pty(data.path(), config, next_visit.path());
    read_until(&mut board, &OPEN, &daemon);
    browser.open(&daemon.base, "door").await;
    let named = browser
        .until(
            "the member's event",
            "const who = document.querySelector('li.event[data-reason=\"granted\"] .who')?.textContent; \
             return who !== '…' && who",
        )
        .await;
    assert_eq!(named, "Barack Obama");
    browser.finish(&[]).await;
}

#[tokio::test(flavor = "current_thread")]
async fn behind_an_api_key_a_member_enrolled_with_a_photo_shows_a_thumbnail_and_is_found() {
    let daemon = Daemon::start_with_config("[server]\napi_key = \"door-key\"\n");
    let browser = Browser::start().await;
    browser.open(&daemon.base, "people").await;

    // The key is asked for; a wrong one is refused.
    browser
        .until(
            "the key prompt",
            "return document.querySelector('#key-dialog').open",
        )
        .await;
    browser.type_into("#key-input", "wrong-key").await;
    browser.click("#key-submit").await;
    let refused = browser
        .until(
            "the refusal",
            "const m = document.querySelector('#key-message'); return !m.hidden && m.textContent",
        )
        .await;
    assert!(refused.as_str().unwrap().contains("refused"), "{refused}");
    browser.type_into("#key-input", "door-key").await;
    browser.click("#key-submit").await;
    browser
        .until(
            "the People page",
            "return !document.querySelector('#key-dialog').open \
             && document.querySelector('#members li')?.textContent === 'No members yet.'",
        )
        .await;

    // A watchlist, then a member enrolled from an uploaded photo.
    browser
        .type_into("#watchlist-form input[name=displayName]", "Staff")
        .await;
    browser.click("#watchlist-form button[type=submit]").await;
    browser
        .until(
            "the watchlist",
            "return [...document.querySelectorAll('#watchlists .name')].some(n => n.textContent === 'Staff') \
             && document.querySelector('#member-form select[name=watchlist]').value !== ''",
        )
        .await;
    browser
        .type_into("#member-form input[name=displayName]", "Barack Obama")
        .await;
    browser
        .find("#member-form input[type=file]")
        .await
        .send_keys(&photo("obama.jpg"))
        .await
        .unwrap();
    browser.click("#member-form button[type=submit]").await;
    browser
        .until(
            "the member's thumbnail",
            "const row = [...document.querySelectorAll('li.member')] \
                 .find(r => r.querySelector('.name').textContent === 'Barack Obama'); \
             const img = row?.querySelector('img.thumb'); \
             return img && img.complete && img.naturalWidth > 0",
        )
        .await;
    browser.screenshot("people.png").await;

    // Check a photo: another photo of him is found, with its liveness.
    browser.open(&daemon.base, "check").await;
    browser
        .find("#check-form input[type=file]")
        .await
        .send_keys(&photo("obama2.jpg"))
        .await
        .unwrap();
    browser.click("#check-form button[type=submit]").await;
    let found = browser
        .until(
            "the search result",
            "return document.querySelector('.face-result .match .name')?.textContent",
        )
        .await;
    assert_eq!(found, "Barack Obama");
    let liveness = browser.text(".face-result .liveness").await;
    assert!(liveness.starts_with("Liveness: "), "{liveness}");
    browser.screenshot("check.png").await;

    // About: the version and the configuration, with the key hidden.
    browser.open(&daemon.base, "about").await;
    let config = browser
        .until(
            "the configuration",
            "return document.querySelector('#config')?.textContent",
        )
        .await;
    let config = config.as_str().unwrap();
    assert!(config.contains("api_key = \"(set, hidden)\""), "{config}");
    assert!(!config.contains("door-key"), "{config}");
    let about = browser.text("#about").await;
    let version = format!("Facegate {}", env!("CARGO_PKG_VERSION"));
    assert!(about.contains(&version), "{about}");
    browser.screenshot("about.png").await;
    // The refused key's 401 is the browser's network log, not the page's.
    browser.finish(&["401 (Unauthorized)"]).await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_door_page_shows_each_camera_and_which_camera_saw_a_decision() {
    let data = tempfile::tempdir().unwrap();
    Daemon::start_in(data.path(), None).enrol("obama", "obama.jpg", "staff");
    let entrance = scene(&[("obama2.jpg", 4)]);
    let exit_id = "0b7f0e8a-0000-4000-8000-00000000e002";
    // The exit's camera is unplugged.
    let config = format!(
        "[edge]\npulse_ms = 100\n\
         [[camera]]\nsource = \"replay:{}@4\"\nrelay = \"fake\"\n\n\
         [[camera]]\nsource = \"v4l:/dev/video-facegate-absent\"\nstream_id = \"{exit_id}\"\n\
         relay = \"fake\"\ndirection = \"exit\"\n",
        entrance.path().display()
    );
    let daemon = Daemon::start_in_with_args(data.path(), Some(&config), &[]);
    let browser = Browser::start().await;
    browser.open(&daemon.base, "door").await;
    let facts = browser
        .door_facts(
            "both cameras",
            "facts.some(f => f.startsWith('Camera exit'))",
        )
        .await;
    let status = daemon.get("/api/facegate/v1/Status").json();
    let entrance_id = status["cameras"][0]["streamId"].as_str().unwrap();
    let fact_of = |term: &str| facts.iter().find(|f| f.starts_with(term));
    assert!(
        fact_of(&format!("Camera exit {exit_id}: reopening (")).is_some(),
        "{facts:?}"
    );
    assert!(
        fact_of(&format!("Camera entry {entrance_id}: ")).is_some(),
        "{facts:?}"
    );
    assert!(
        fact_of(&format!("Relay exit {exit_id}: connected")).is_some(),
        "{facts:?}"
    );
    let seen = browser
        .until(
            "the entrance's grant",
            "const row = document.querySelector('li.event[data-reason=\"granted\"]'); \
             return row && [row.dataset.streamId, row.querySelector('.numbers').textContent]",
        )
        .await;
    assert_eq!(seen[0], entrance_id);
    let numbers = seen[1].as_str().unwrap();
    assert!(
        numbers.ends_with(&format!(" · entry camera {}", &entrance_id[..8])),
        "{numbers}"
    );
    browser.finish(&[]).await;
}
