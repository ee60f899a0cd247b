//! Running the daemon: open the store, load the engine into the core,
//! start the front ends over it (REST, gRPC, GraphQL, the edge loop), and stop them
//! on a signal.

use crate::api::admission::Admission;
use crate::api::Api;
use crate::catalog::Catalog;
use crate::config::{host_name, Config};
use crate::console;
use crate::core::access::ApiKey;
use crate::core::bus::EventBus;
use crate::core::door::ScheduleOrigin;
use crate::core::origin::HostNames;
use crate::core::site::hide_credentials;
use crate::core::tls::Identity;
use crate::core::Core;
use crate::edge::{self, EdgeLoop};
use crate::graphql::{self, GraphqlServer};
use crate::grpc::{self, GrpcServer};
use crate::osdp::OsdpReader;
use crate::site::Site;
use crate::store::Store;
use crate::wiegand;
use facegate_models::FaceEngine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

/// Serves until SIGINT or SIGTERM, then stops accepting connections, stops
/// the edge loop, lets the requests being answered finish (up to
/// `server.shutdown_timeout_seconds`), and closes the database.
pub fn serve(config: Config) -> Result<(), String> {
    config.check_exposure()?;
    crate::memory::return_large_blocks_when_freed();
    // Read before the engine loads, so that a bad file stops the start at once.
    let rest_tls = config
        .server
        .tls()?
        .map(|f| Identity::load(&f))
        .transpose()?;
    let grpc_tls = config
        .grpc
        .tls(&config.server)?
        .map(|f| Identity::load(&f))
        .transpose()?;
    let graphql_tls = config
        .graphql
        .tls(&config.server)?
        .map(|f| Identity::load(&f))
        .transpose()?;
    let server_config = &config.server;
    let store = Store::open(&config.storage.data_dir).map_err(|e| e.to_string())?;
    log::info!(
        "database {} (schema {})",
        config
            .storage
            .data_dir
            .join(crate::store::DATABASE_FILE)
            .display(),
        crate::store::SCHEMA_VERSION
    );
    let started = std::time::Instant::now();
    let engine = FaceEngine::load(&config.engine.engine_config()?).map_err(|e| e.to_string())?;
    log::info!(
        "face engine loaded in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    crate::migration::migrate_templates(&store, &engine, config.engine.decode_limits())?;
    let started = std::time::Instant::now();
    let catalog = Catalog::load(store, engine.template_model()).map_err(|e| e.to_string())?;
    log::info!(
        "search index: {} faces loaded in {:.2} s",
        catalog.indexed_faces(),
        started.elapsed().as_secs_f64()
    );
    let core = Arc::new(Core {
        catalog,
        engine,
        counters: Default::default(),
        event_streams: EventBus::new(server_config.max_event_streams, EVENT_BACKLOG),
        notifications: EventBus::new(config.grpc.max_subscribers, config.grpc.backlog),
        graphql_events: EventBus::new(config.graphql.max_subscribers, config.graphql.backlog),
        door: Default::default(),
        site: Default::default(),
        panel: Default::default(),
        door_watch: Default::default(),
    });
    core.door_watch
        .set_schedules(config.watchlist_schedules()?, ScheduleOrigin::Config);
    let api_key = ApiKey::new(&server_config.api_key);
    let host_names = HostNames::new(&server_config.allowed_hosts, host_name().as_deref());
    let api = Arc::new(Api {
        core: core.clone(),
        max_image_pixels: config.engine.max_image_pixels,
        max_body_bytes: server_config.max_body_bytes,
        max_page_size: server_config.max_page_size,
        api_key: api_key.clone(),
        host_names: host_names.clone(),
        binary_modified: binary_modified_time(),
        effective_config: config.effective.clone(),
        admission: Admission::new(
            config.engine.resolved_threads(),
            server_config.biometric_queue,
            Duration::from_millis(server_config.biometric_wait_ms),
            config.engine.decode_limits().max_memory_bytes,
        ),
        low_space_warning_bytes: config.storage.low_space_warning_bytes,
    });
    // Read once: the decisions the edge loop makes and the ones GraphQL
    // serves name the same stream.
    let stream_id = camera_stream_id(&config, &core);
    let grpc = start_grpc(&config, core.clone(), api_key.clone(), grpc_tls)?;
    let graphql = start_graphql(
        &config,
        core.clone(),
        api_key.clone(),
        host_names,
        graphql_tls,
        &stream_id,
    )?;
    // The panel outputs register before the edge loop presents anyone.
    let osdp = match config.osdp.port.is_empty() {
        true => None,
        false => Some(OsdpReader::start(
            &config.osdp,
            &config.storage.data_dir,
            core.clone(),
        )?),
    };
    if !config.wiegand.chip.is_empty() {
        wiegand::start(&config.wiegand, &core)?;
    }
    let edge = start_edge(&config, core.clone(), stream_id)?;
    let site = start_site(&config, core.clone())?;
    let in_flight = InFlight::default();
    let handler_api = api.clone();
    let counted = in_flight.clone();
    let http = http_server(server_config, rest_tls)?;
    let server = rouille::Server::from_server(http, move |request| {
        let answering = counted.begin();
        let response = handler_api.handle(request, console::serve);
        answering.until_sent(response)
    })
    // Admitted biometric requests hold workers beyond `threads`, so they
    // never leave management requests waiting for one.
    .pool_size(server_config.threads + api.admission.capacity());
    log::info!("listening on {}", server.server_addr());
    let stopping = Arc::new(AtomicBool::new(false));
    let acceptor = {
        let stopping = stopping.clone();
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                server.poll_timeout(Duration::from_millis(100));
            }
            // Dropping the server closes the listening socket; requests
            // already handed to its workers go on.
        })
    };
    let signal = wait_for_shutdown_signal()?;
    log::info!("{signal}: shutting down");
    stopping.store(true, Ordering::Relaxed);
    acceptor
        .join()
        .map_err(|_| "the HTTP acceptor thread panicked".to_string())?;
    for edge in edge {
        edge.stop();
        log::info!("edge loop stopped, relay closed");
    }
    if let Some(osdp) = osdp {
        osdp.stop();
        log::info!("OSDP reader stopped");
    }
    if let Some(site) = site {
        site.stop();
        log::info!("site link stopped");
    }
    // Streams end now: they would never finish by themselves.
    core.close_subscriptions();
    let limit = Duration::from_secs_f64(server_config.shutdown_timeout_seconds);
    let deadline = std::time::Instant::now() + limit;
    if let Some(graphql) = graphql {
        match graphql.stop(limit) {
            true => log::info!("GraphQL server stopped"),
            false => log::warn!("GraphQL connections left unfinished after {limit:?}"),
        }
    }
    if let Some(grpc) = grpc {
        match grpc.stop(limit) {
            true => log::info!("gRPC server stopped"),
            false => {
                log::warn!("gRPC subscribers that do not read left unfinished after {limit:?}")
            }
        }
    }
    let requests_left =
        in_flight.wait_until_idle(deadline.saturating_duration_since(std::time::Instant::now()));
    let streams_left = core
        .event_streams
        .wait_until_unsubscribed(deadline.saturating_duration_since(std::time::Instant::now()));
    match (requests_left, streams_left) {
        (0, 0) => log::info!("stopped cleanly"),
        _ => log::warn!(
            "stopped with {requests_left} requests and {streams_left} event streams \
             unfinished after {limit:?}"
        ),
    }
    Ok(())
}

/// Events a stream may fall behind by before it loses the oldest.
const EVENT_BACKLOG: usize = 256;

/// The requests being answered, so that shutdown can wait for them.
#[derive(Clone, Default)]
struct InFlight(Arc<(Mutex<usize>, Condvar)>);

/// Counts one request while it lives.
struct Answering(InFlight);

impl InFlight {
    fn begin(&self) -> Answering {
        *self.0 .0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Answering(self.clone())
    }

    /// Waits up to `limit` for every request to finish; how many did not.
    fn wait_until_idle(&self, limit: Duration) -> usize {
        let (count, idle) = &*self.0;
        let count = count.lock().unwrap_or_else(|e| e.into_inner());
        *idle
            .wait_timeout_while(count, limit, |n| *n > 0)
            .unwrap_or_else(|e| e.into_inner())
            .0
    }
}

impl Answering {
    /// Keeps the request counted until the response's body has been
    /// written, which rouille does after the handler returns.
    fn until_sent(self, mut response: rouille::Response) -> rouille::Response {
        let (body, length) = response.data.into_reader_and_size();
        let body = SentWith {
            body,
            _answering: self,
        };
        response.data = match length {
            Some(length) => rouille::ResponseBody::from_reader_and_size(body, length),
            None => rouille::ResponseBody::from_reader(body),
        };
        response
    }
}

/// A response body that holds its request's count until dropped.
struct SentWith {
    body: Box<dyn std::io::Read + Send>,
    _answering: Answering,
}

impl std::io::Read for SentWith {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        self.body.read(buffer)
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        let (count, idle) = &*self.0 .0;
        *count.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        idle.notify_all();
    }
}

/// Starts the access-notification stream when configured.
fn start_grpc(
    config: &Config,
    core: Arc<Core>,
    key: ApiKey,
    tls: Option<Identity>,
) -> Result<Option<GrpcServer>, String> {
    let Some(listen) = config.grpc.address()? else {
        return Ok(None);
    };
    if tls.is_none() {
        warn_of_a_key_in_clear("the gRPC stream", listen, &config.server.api_key);
    }
    let secure = tls.is_some();
    let server = grpc::start(listen, core, key, tls)?;
    log::info!("access notifications (gRPC) on {}", server.addr);
    if secure {
        log::info!("the gRPC stream is served over TLS only");
    }
    Ok(Some(server))
}

/// Starts SmartFace's GraphQL API when configured.
fn start_graphql(
    config: &Config,
    core: Arc<Core>,
    key: ApiKey,
    hosts: HostNames,
    tls: Option<Identity>,
    stream_id: &str,
) -> Result<Option<GraphqlServer>, String> {
    let graphql = &config.graphql;
    let Some(listen) = graphql.address()? else {
        return Ok(None);
    };
    if tls.is_none() {
        warn_of_a_key_in_clear("the GraphQL API", listen, &config.server.api_key);
    }
    let door = graphql::Door {
        stream_id: uuid::Uuid::parse_str(stream_id).unwrap_or_else(|_| uuid::Uuid::new_v4()),
    };
    let settings = graphql::Settings {
        listen,
        key,
        hosts,
        tls,
        limits: graphql::Limits {
            max_depth: graphql.max_depth,
            max_complexity: graphql.max_complexity,
            max_page_size: graphql.max_page_size,
        },
        max_query_bytes: graphql.max_query_bytes,
        max_sockets: graphql.max_subscribers,
    };
    let server = graphql::start(settings, core, door)?;
    log::info!("GraphQL on {}", server.addr);
    Ok(Some(server))
}

/// The first camera's stream id: its `stream_id`, or the one the store made
/// once. A full disk must not keep the door shut: a store that cannot
/// keep it gives one for this run.
fn camera_stream_id(config: &Config, core: &Core) -> String {
    let first = config.cameras().swap_remove(0);
    match first.stream_id.as_str() {
        "" => match core.catalog.store.camera_stream_id() {
            Ok(kept) => kept.to_string(),
            Err(e) => {
                let temporary = uuid::Uuid::new_v4().to_string();
                log::warn!("cannot keep the camera's stream id ({e}); {temporary} for this run");
                temporary
            }
        },
        configured => configured.to_string(),
    }
}

/// Links the door to its site when `[site]` names servers.
fn start_site(config: &Config, core: Arc<Core>) -> Result<Option<Site>, String> {
    let Some(door) = config.site.door()? else {
        return Ok(None);
    };
    log::info!(
        "site {}: door {door}, servers {}",
        config.site.site_id,
        hide_credentials(&config.site.nats_url)
    );
    Site::start(
        &config.site,
        door,
        core,
        config.engine.decode_limits(),
        config.schedule_set(),
    )
    .map(Some)
}

/// Starts a camera-to-door loop per camera when configured; the first
/// camera is seen as `first_stream_id`. A camera or relay that cannot be
/// opened yet is retried by its loop while the API serves.
fn start_edge(
    config: &Config,
    core: Arc<Core>,
    first_stream_id: String,
) -> Result<Vec<EdgeLoop>, String> {
    if !config.runs_edge() {
        return Ok(Vec::new());
    }
    // One at a time: each frame has all of the engine's threads.
    let engine_turns = Arc::new(tokio::sync::Semaphore::new(1));
    let mut loops = Vec::new();
    for (index, door) in config.cameras().iter().enumerate() {
        let camera = edge::setup::camera(door, &config.edge).map_err(|e| e.to_string())?;
        let relay = edge::setup::relay(door).map_err(|e| e.to_string())?;
        let stream_id = match index {
            0 => first_stream_id.clone(),
            _ => door.stream_id.clone(),
        };
        log::info!(
            "edge loop: camera {} (stream id {stream_id}, {:?}), relay {}",
            hide_credentials(&door.source),
            door.direction,
            door.relay
        );
        let settings =
            edge::setup::settings(config, door, stream_id, index == 0, engine_turns.clone())?;
        loops.push(EdgeLoop::start(core.clone(), camera, relay, settings));
    }
    Ok(loops)
}

fn wait_for_shutdown_signal() -> Result<&'static str, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the signal runtime: {e}"))?;
    runtime.block_on(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Ok("SIGINT"),
            _ = terminate.recv() => Ok("SIGTERM"),
        }
    })
}

/// The HTTP server under rouille: listening, with its connection limits
/// (`max_connections` lowered to the descriptors the process may open),
/// over TLS when the config names a certificate.
fn http_server(
    config: &crate::config::ServerConfig,
    tls: Option<Identity>,
) -> Result<tiny_http::Server, String> {
    let tls = match tls {
        Some(identity) => Some(tiny_http::SslConfig(
            identity.server_config(&[b"http/1.1"])?,
        )),
        None => {
            warn_of_a_key_in_clear("the REST API", config.listen, &config.api_key);
            None
        }
    };
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    lengthen_accept_queue(&listener);
    let mut limits = config.http_limits();
    limits.max_connections = crate::descriptors::connections_that_fit(limits.max_connections);
    let secure = tls.is_some();
    let server = tiny_http::Server::from_listener_with_limits(listener, tls, limits)
        .map_err(|e| format!("cannot serve on {}: {e}", config.listen))?;
    if secure {
        log::info!("the REST API and the console are served over HTTPS only");
    }
    Ok(server)
}

/// Connections the kernel holds for the poller to accept. std listens with
/// a queue of 128: a burst of connects (a flood, or a site's clients after
/// an outage) overflows it, and a client arriving then waits for its SYN
/// to be sent again, a second or more. Listening again on a listening
/// socket only sets the queue's length (Linux caps it at somaxconn).
const ACCEPT_QUEUE: libc::c_int = 4096;

fn lengthen_accept_queue(listener: &std::net::TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: listen on a descriptor the listener owns, which stays open.
    if unsafe { libc::listen(listener.as_raw_fd(), ACCEPT_QUEUE) } != 0 {
        log::warn!(
            "cannot lengthen the accept queue: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// A key sent over plain HTTP beyond this machine can be read on the way.
fn warn_of_a_key_in_clear(front_end: &str, listen: std::net::SocketAddr, key: &str) {
    if !listen.ip().is_loopback() && !key.is_empty() {
        log::warn!(
            "{front_end} on {listen} takes the API key over plain HTTP: anyone on the network \
             can read it; set the tls_cert_file and tls_key_file (docs/DEPLOY.md)"
        );
    }
}

fn binary_modified_time() -> SystemTime {
    std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|meta| meta.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}
