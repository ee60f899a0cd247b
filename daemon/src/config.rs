//! The daemon's configuration: `config/facegate.toml` is compiled in as the
//! defaults, a user file is merged over it, and command-line flags win.

use crate::core::credential::CardFormatConfig;
use crate::core::event::Direction;
use crate::core::schedule::{ScheduleConfig, ScheduleSet, WatchlistSchedules};
use crate::core::site::hide_credentials;
use facegate_hal::{ExecutionProvider, ResourceId};
use facegate_models::{
    Alignment, CudaOptions, DecodeLimits, EngineConfig, OpenVinoOptions, Precision, Precisions,
    ProviderOptions, QnnOptions, TemplateModel, TensorRtOptions, BUILT_IN, NETWORKS,
};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The documented defaults, shipped in the binary.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/facegate.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub engine: EngineSettings,
    pub edge: EdgeConfig,
    pub grpc: GrpcConfig,
    pub graphql: GraphqlConfig,
    pub log: LogConfig,
    pub site: SiteConfig,
    pub osdp: OsdpConfig,
    pub wiegand: WiegandConfig,
    pub door: DoorConfig,
    /// Named weekly windows and holidays (`[[schedule]]`), which
    /// `edge.watchlist_schedules` gives to watchlists.
    #[serde(default)]
    pub schedule: Vec<ScheduleConfig>,
    /// Cameras, each with its own door (`[[camera]]`); none: the one
    /// `edge.camera` with `edge.relay`.
    #[serde(default)]
    pub camera: Vec<CameraConfig>,
    /// Every setting in force (defaults, file, flags) with secrets hidden:
    /// what the console shows.
    #[serde(skip)]
    pub effective: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsdpConfig {
    /// The RS-485 adapter's serial port; empty: no OSDP reader.
    pub port: String,
    pub baud: u32,
    pub address: u8,
    /// 32 hex digits; empty: install mode.
    pub secure_channel_key: String,
    pub format: String,
    pub facility_code: u32,
    pub bits: u32,
    pub card_label: String,
    pub granted_led: String,
    pub denied_led: String,
    pub verdict_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WiegandConfig {
    /// The GPIO chip; empty: no Wiegand output.
    pub chip: String,
    pub d0_line: u32,
    pub d1_line: u32,
    pub pulse_us: u64,
    pub interval_us: u64,
    pub format: String,
    pub facility_code: u32,
    pub bits: u32,
    pub card_label: String,
}

impl WiegandConfig {
    pub fn card_format(&self) -> CardFormatConfig {
        CardFormatConfig {
            format: self.format.clone(),
            facility_code: self.facility_code,
            bits: self.bits,
            card_label: self.card_label.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoorConfig {
    /// The GPIO chip of the door's inputs.
    pub chip: String,
    /// Line offsets; -1: not wired.
    pub contact_line: i64,
    pub exit_button_line: i64,
    /// Whether each input is active (door open, button pressed) when low.
    pub contact_active_low: bool,
    pub exit_button_active_low: bool,
    pub debounce_ms: u64,
    pub held_open_seconds: f64,
}

impl OsdpConfig {
    pub fn card_format(&self) -> CardFormatConfig {
        CardFormatConfig {
            format: self.format.clone(),
            facility_code: self.facility_code,
            bits: self.bits,
            card_label: self.card_label.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    /// `ADDR:PORT`, or empty for no gRPC server.
    pub listen: String,
    pub max_subscribers: usize,
    /// Notifications a subscriber may fall behind by.
    pub backlog: usize,
    /// PEM files for TLS; empty for server.tls_cert_file/key_file's.
    pub tls_cert_file: PathBuf,
    pub tls_key_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphqlConfig {
    /// `ADDR:PORT`, or empty for no GraphQL server.
    pub listen: String,
    pub max_subscribers: usize,
    pub backlog: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_page_size: usize,
    pub max_query_bytes: usize,
    pub tls_cert_file: PathBuf,
    pub tls_key_file: PathBuf,
}

/// `section.listen`: where to serve, or `None` when turned off.
fn listen_address(section: &str, listen: &str) -> Result<Option<SocketAddr>, String> {
    match listen.trim() {
        "" => Ok(None),
        listen => listen.parse().map(Some).map_err(|_| {
            format!(
                "invalid config: {section}.listen = {listen:?} is not ADDR:PORT \
                 (or \"\" to turn that server off)"
            )
        }),
    }
}

impl GrpcConfig {
    pub fn address(&self) -> Result<Option<SocketAddr>, String> {
        listen_address("grpc", &self.listen)
    }
}

impl GraphqlConfig {
    pub fn address(&self) -> Result<Option<SocketAddr>, String> {
        listen_address("graphql", &self.listen)
    }

    /// Its own TLS files, or else the REST API's.
    pub fn tls(&self, server: &ServerConfig) -> Result<Option<TlsFiles>, String> {
        own_or_servers_tls("graphql", &self.tls_cert_file, &self.tls_key_file, server)
    }
}

/// A certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `cert` and `key` set together, or neither (no TLS).
fn tls_files(section: &str, cert: &Path, key: &Path) -> Result<Option<TlsFiles>, String> {
    match (cert.as_os_str().is_empty(), key.as_os_str().is_empty()) {
        (true, true) => Ok(None),
        (false, false) => Ok(Some(TlsFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        })),
        _ => Err(format!(
            "invalid config: {section}.tls_cert_file and {section}.tls_key_file go together"
        )),
    }
}

impl ServerConfig {
    /// The REST API's TLS files, or `None` for plain HTTP.
    pub fn tls(&self) -> Result<Option<TlsFiles>, String> {
        tls_files("server", &self.tls_cert_file, &self.tls_key_file)
    }
}

impl GrpcConfig {
    /// The gRPC server's TLS files: its own, or else the REST API's.
    pub fn tls(&self, server: &ServerConfig) -> Result<Option<TlsFiles>, String> {
        own_or_servers_tls("grpc", &self.tls_cert_file, &self.tls_key_file, server)
    }
}

fn own_or_servers_tls(
    section: &str,
    cert: &Path,
    key: &Path,
    server: &ServerConfig,
) -> Result<Option<TlsFiles>, String> {
    match tls_files(section, cert, key)? {
        Some(own) => Ok(Some(own)),
        None => server.tls(),
    }
}

/// `[site]`: joining a site of doors through NATS JetStream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// One server URL or several, comma-separated; "" for a standalone door.
    pub nats_url: String,
    pub site_id: String,
    /// "" for the host name.
    pub door_id: String,
    pub token: String,
    pub user: String,
    pub password: String,
    pub credentials_file: PathBuf,
    pub tls_ca_file: PathBuf,
    pub tls_client_cert_file: PathBuf,
    pub tls_client_key_file: PathBuf,
    /// How many servers of a JetStream cluster keep each stream and bucket
    /// the door makes (1..=5).
    pub replicas: usize,
}

impl SiteConfig {
    /// The door's name in the site, `None` for a standalone door. Names
    /// become parts of NATS subjects and stream names, hence the alphabet.
    pub fn door(&self) -> Result<Option<String>, String> {
        if self.nats_url.trim().is_empty() {
            return Ok(None);
        }
        site_name("site.site_id", &self.site_id)?;
        let door = match self.door_id.as_str() {
            "" => host_name()
                .ok_or("site.door_id is \"\" and the host name cannot be read; set site.door_id")?,
            door => door.to_string(),
        };
        site_name("site.door_id", &door)?;
        let credentials = [
            !self.token.is_empty(),
            !self.user.is_empty(),
            !self.credentials_file.as_os_str().is_empty(),
        ];
        if credentials.iter().filter(|given| **given).count() > 1 {
            return Err(
                "invalid config: site.token, site.user and site.credentials_file \
                 are different kinds of credentials; set one at most"
                    .into(),
            );
        }
        if self.tls_client_cert_file.as_os_str().is_empty()
            != self.tls_client_key_file.as_os_str().is_empty()
        {
            return Err("invalid config: site.tls_client_cert_file and \
                 site.tls_client_key_file go together"
                .into());
        }
        Ok(Some(door))
    }
}

fn site_name(key: &str, name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    match !name.is_empty() && name.len() <= 64 && name.chars().all(allowed) {
        true => Ok(()),
        false => Err(format!(
            "invalid config: {key} = {name:?}: use 1 to 64 letters, digits, - and _"
        )),
    }
}

/// The machine's host name, as the kernel has it.
pub fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(name.trim().to_string()).filter(|name| !name.is_empty())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub threads: usize,
    pub max_connections: usize,
    pub head_timeout_seconds: f64,
    pub body_timeout_seconds: f64,
    pub idle_timeout_seconds: f64,
    pub max_header_bytes: usize,
    pub max_header_line_bytes: usize,
    pub max_headers: usize,
    pub max_body_bytes: usize,
    pub max_page_size: u32,
    pub api_key: String,
    pub allow_unauthenticated: bool,
    pub allowed_hosts: Vec<String>,
    /// PEM files: the certificate chain and its key; empty for plain HTTP.
    pub tls_cert_file: PathBuf,
    pub tls_key_file: PathBuf,
    pub shutdown_timeout_seconds: f64,
    pub max_event_streams: usize,
    pub biometric_queue: usize,
    pub biometric_wait_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub low_space_warning_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    pub model_dir: PathBuf,
    pub runtime_library: PathBuf,
    pub threads: usize,
    #[serde(deserialize_with = "provider_names")]
    pub execution_providers: Vec<ExecutionProvider>,
    pub flip_templates: bool,
    pub alignment: Alignment,
    pub template_model: String,
    pub template_models: PathBuf,
    #[serde(deserialize_with = "precision_setting")]
    pub precision: Precisions,
    pub max_image_pixels: u64,
    pub max_decode_memory_mb: u64,
    pub tensorrt: TensorRtOptions,
    pub cuda: CudaOptions,
    pub openvino: OpenVinoOptions,
    pub qnn: QnnOptions,
}

fn provider_names<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<ExecutionProvider>, D::Error> {
    Vec::<String>::deserialize(deserializer)?
        .iter()
        .map(|name| ExecutionProvider::parse(name).map_err(serde::de::Error::custom))
        .collect()
}

/// Networks that `precision = "int8"` keeps in float32, because their int8
/// file measured no faster on Machine B (AVX-512 VNNI) or less accurate
/// (docs/BENCHMARKS.md, "int8 networks"); a table can still ask for them.
pub const INT8_KEEPS_FP32: &[&str] = &[
    "fr_detect",
    "fr_landmark",
    "fr_liveness",
    "fr_pose",
    "fr_age",
    "fr_gender",
];

/// `engine.precision`: "fp32", "int8" (every network int8 but those in
/// `INT8_KEEPS_FP32`), or a table of network name to precision with an
/// optional `default` for the networks it does not name.
fn precision_setting<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Precisions, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Setting {
        All(Precision),
        PerNetwork(BTreeMap<String, Precision>),
    }
    let invalid = |why: String| serde::de::Error::custom(format!("engine.precision: {why}"));
    match Setting::deserialize(deserializer).map_err(|_| {
        invalid("expected \"fp32\", \"int8\" or a table of network = \"fp32\" | \"int8\"".into())
    })? {
        Setting::All(Precision::Fp32) => Ok(Precisions::all(Precision::Fp32)),
        Setting::All(Precision::Int8) => Ok(Precisions {
            default: Precision::Int8,
            networks: INT8_KEEPS_FP32
                .iter()
                .map(|name| (name.to_string(), Precision::Fp32))
                .collect(),
        }),
        Setting::PerNetwork(mut table) => {
            let default = table.remove("default").unwrap_or(Precision::Fp32);
            if let Some(unknown) = table.keys().find(|name| !NETWORKS.contains(&name.as_str())) {
                return Err(invalid(format!(
                    "no network `{unknown}`; the networks are {}",
                    NETWORKS.join(", ")
                )));
            }
            Ok(Precisions {
                default,
                networks: table,
            })
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    pub enabled: bool,
    pub camera: String,
    pub rtsp_transport: RtspTransportName,
    pub pixel_format: PixelFormatName,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub relay: String,
    pub relay_open: String,
    pub relay_close: String,
    pub pulse_ms: u64,
    pub watchlists: Vec<String>,
    pub deny_watchlists: Vec<String>,
    /// Watchlist id -> the name of the schedule it admits in.
    pub watchlist_schedules: BTreeMap<String, String>,
    pub liveness_required: bool,
    pub liveness_threshold: f32,
    pub min_face_size: f32,
    pub max_yaw: f32,
    pub max_pitch: f32,
    pub min_template_quality: u32,
    pub debounce_seconds: f64,
    pub cooldown_seconds: f64,
    pub evidence_frames: u64,
    pub events_kept: u64,
    pub faces_kept: u64,
    pub faces_kept_hours: f64,
    pub max_stranger_rate: f64,
    /// The camera's id in access notifications; empty: one made once and
    /// kept in the database.
    pub stream_id: String,
    /// With a panel output: "follow" (the relay opens on the panel's
    /// grant) or "unused".
    pub relay_with_panel: RelayWithPanel,
}

/// A `[[camera]]` table: one camera and its door. What it leaves out is
/// `[edge]`'s, but for the relay, which two doors cannot share.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    pub source: String,
    #[serde(default)]
    pub stream_id: String,
    pub relay: String,
    pub relay_open: Option<String>,
    pub relay_close: Option<String>,
    pub rtsp_transport: Option<RtspTransportName>,
    pub watchlists: Option<Vec<String>>,
    #[serde(default)]
    pub direction: Direction,
}

/// A camera and its door with every setting resolved.
#[derive(Debug, Clone)]
pub struct DoorCamera {
    /// `v4l:DEVICE`, `rtsp://...` or `replay:DIR[@FPS]`.
    pub source: String,
    /// Empty: the one the store keeps (the first camera only).
    pub stream_id: String,
    pub relay: String,
    pub relay_open: String,
    pub relay_close: String,
    pub rtsp_transport: RtspTransportName,
    pub watchlists: Vec<String>,
    pub direction: Direction,
}

/// Cameras one daemon runs at most: each has its threads and a share of
/// the engine.
pub const MAX_CAMERAS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayWithPanel {
    Follow,
    Unused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RtspTransportName {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormatName {
    Mjpeg,
    Yuyv,
}

impl ServerConfig {
    /// What one connection may make the HTTP server spend. The largest
    /// body is refused from its declared length, before it is read.
    pub fn http_limits(&self) -> tiny_http::Limits {
        tiny_http::Limits {
            head_timeout: Duration::from_secs_f64(self.head_timeout_seconds),
            body_timeout: Duration::from_secs_f64(self.body_timeout_seconds),
            idle_timeout: Duration::from_secs_f64(self.idle_timeout_seconds),
            max_head_bytes: self.max_header_bytes,
            max_line_bytes: self.max_header_line_bytes,
            max_headers: self.max_headers,
            max_body_bytes: self.max_body_bytes as u64,
            max_connections: self.max_connections,
            ..tiny_http::Limits::default()
        }
    }
}

impl EngineSettings {
    /// What one image's decode may take; all at once share the memory.
    pub fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_pixels: self.max_image_pixels,
            max_memory_bytes: self.max_decode_memory_mb << 20,
        }
    }

    /// Threads each network uses: the configured number, or one per core.
    pub fn resolved_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads => threads,
        }
    }

    /// The template model `template_model` names: `None` for faceplugin's
    /// built-in network, else the manifest `<template_models>/<name>.toml`,
    /// read and its ONNX file checked against its sha256.
    pub fn template_model(&self) -> Result<Option<TemplateModel>, String> {
        let name = self.template_model.as_str();
        if name == BUILT_IN {
            return Ok(None);
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if name.is_empty() || !name.chars().all(plain) {
            return Err(format!(
                "invalid config: engine.template_model = {name:?}: \
                 `{BUILT_IN}` or a manifest's name (letters, digits, - and _)"
            ));
        }
        let path = self.template_models.join(format!("{name}.toml"));
        let model = TemplateModel::load(&path).map_err(|e| e.to_string())?;
        if model.name != name {
            return Err(format!(
                "template model manifest {} names itself `{}`, not `{name}`",
                path.display(),
                model.name
            ));
        }
        Ok(Some(model))
    }

    /// The face engine's configuration; 0 threads means one per core.
    pub fn engine_config(&self) -> Result<EngineConfig, String> {
        Ok(EngineConfig {
            model_dir: self.model_dir.clone(),
            runtime_library: self.runtime_library.clone(),
            threads: self.resolved_threads(),
            execution_providers: self.execution_providers.clone(),
            provider_options: ProviderOptions {
                tensorrt: self.tensorrt.clone(),
                cuda: self.cuda.clone(),
                openvino: self.openvino.clone(),
                qnn: self.qnn.clone(),
            },
            flip_templates: self.flip_templates,
            alignment: self.alignment,
            precision: self.precision.clone(),
            record_inputs: None,
            template_model: self.template_model()?,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub level: log::LevelFilter,
}

impl Config {
    /// Loads the defaults, then the file at `path` over them when given.
    pub fn load(path: Option<&Path>) -> Result<Config, String> {
        Config::load_with_flags(path, toml::Table::new())
    }

    /// `load`, then the command line's `flags` (a table shaped like the
    /// file) over both.
    pub fn load_with_flags(path: Option<&Path>, flags: toml::Table) -> Result<Config, String> {
        let mut merged = parse_table(DEFAULT_CONFIG, "built-in defaults")?;
        if let Some(path) = path {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
            let user = parse_table(&text, &path.display().to_string())?;
            refuse_replaced_device(&user)?;
            refuse_one_camera_beside_tables(&user, &user, "edge.camera and edge.relay")?;
            merge(&mut merged, user);
        }
        refuse_one_camera_beside_tables(&flags, &merged, "--camera and --relay")?;
        merge(&mut merged, flags);
        let mut config: Config = toml::Value::Table(merged.clone())
            .try_into()
            .map_err(|e| format!("invalid config: {e}"))?;
        config.validate()?;
        config.effective = hide_secrets(merged);
        Ok(config)
    }

    /// Refuses values that are out of range, or that would overflow a
    /// duration or a size later (infinite or huge seconds, say), naming
    /// the key.
    fn validate(&self) -> Result<(), String> {
        let (server, edge) = (&self.server, &self.edge);
        whole("server.threads", server.threads as u64, 1, 1024)?;
        whole(
            "server.max_connections",
            server.max_connections as u64,
            1,
            1_000_000,
        )?;
        for (key, value) in [
            ("server.head_timeout_seconds", server.head_timeout_seconds),
            ("server.body_timeout_seconds", server.body_timeout_seconds),
            ("server.idle_timeout_seconds", server.idle_timeout_seconds),
        ] {
            seconds(key, value)?;
            if value == 0.0 {
                return Err(format!(
                    "invalid config: {key} = 0 would refuse every request"
                ));
            }
        }
        whole(
            "server.max_header_bytes",
            server.max_header_bytes as u64,
            1024,
            1 << 24,
        )?;
        whole(
            "server.max_header_line_bytes",
            server.max_header_line_bytes as u64,
            256,
            server.max_header_bytes as u64,
        )?;
        whole("server.max_headers", server.max_headers as u64, 8, 10_000)?;
        whole(
            "server.max_body_bytes",
            server.max_body_bytes as u64,
            1,
            1 << 30,
        )?;
        whole(
            "server.max_page_size",
            u64::from(server.max_page_size),
            1,
            1_000_000,
        )?;
        seconds(
            "server.shutdown_timeout_seconds",
            server.shutdown_timeout_seconds,
        )?;
        whole(
            "server.max_event_streams",
            server.max_event_streams as u64,
            0,
            100_000,
        )?;
        whole(
            "server.biometric_queue",
            server.biometric_queue as u64,
            0,
            10_000,
        )?;
        whole(
            "server.biometric_wait_ms",
            server.biometric_wait_ms,
            0,
            MAX_SECONDS as u64 * 1000,
        )?;
        whole("engine.threads", self.engine.threads as u64, 0, 1024)?;
        if self.engine.execution_providers.is_empty() {
            return Err("invalid config: engine.execution_providers is empty; \
                 name at least one, e.g. [\"cpu\"]"
                .into());
        }
        whole(
            "engine.max_image_pixels",
            self.engine.max_image_pixels,
            1,
            1 << 32,
        )?;
        whole(
            "engine.max_decode_memory_mb",
            self.engine.max_decode_memory_mb,
            1,
            1 << 20,
        )?;
        whole("edge.width", u64::from(edge.width), 1, 16_384)?;
        whole("edge.height", u64::from(edge.height), 1, 16_384)?;
        whole("edge.fps", u64::from(edge.fps), 1, 1000)?;
        whole("edge.pulse_ms", edge.pulse_ms, 1, 600_000)?;
        whole("edge.evidence_frames", edge.evidence_frames, 1, 100)?;
        whole("edge.events_kept", edge.events_kept, 1, 100_000_000)?;
        whole("edge.faces_kept", edge.faces_kept, 0, 10_000_000)?;
        if !(edge.max_stranger_rate > 0.0 && edge.max_stranger_rate <= 1.0) {
            return Err(format!(
                "invalid config: edge.max_stranger_rate = {} is not a rate in (0, 1]",
                edge.max_stranger_rate
            ));
        }
        match (0.0..=MAX_FACE_HOURS).contains(&edge.faces_kept_hours) {
            true => {}
            false => {
                return Err(format!(
                    "invalid config: edge.faces_kept_hours = {} is not a number of hours from 0 to {MAX_FACE_HOURS}",
                    edge.faces_kept_hours
                ))
            }
        }
        number(
            "edge.liveness_threshold",
            edge.liveness_threshold,
            0.0,
            100.0,
        )?;
        number("edge.min_face_size", edge.min_face_size, 0.0, 16_384.0)?;
        number("edge.max_yaw", edge.max_yaw, 0.0, 180.0)?;
        number("edge.max_pitch", edge.max_pitch, 0.0, 180.0)?;
        whole(
            "edge.min_template_quality",
            u64::from(edge.min_template_quality),
            0,
            100,
        )?;
        seconds("edge.debounce_seconds", edge.debounce_seconds)?;
        seconds("edge.cooldown_seconds", edge.cooldown_seconds)?;
        self.validate_cameras()?;
        self.watchlist_schedules()?;
        let osdp = &self.osdp;
        if !osdp.port.is_empty() {
            let max_address = crate::osdp::line::MAX_ADDRESS;
            whole(
                "osdp.address",
                u64::from(osdp.address),
                0,
                max_address.into(),
            )?;
            if !crate::osdp::line::BAUD_RATES.contains(&osdp.baud) {
                return Err(format!(
                    "invalid config: osdp.baud = {} is not 9600, 19200, 38400, 57600 or 115200",
                    osdp.baud
                ));
            }
            osdp.card_format().parse("osdp")?;
            whole(
                "osdp.verdict_timeout_ms",
                osdp.verdict_timeout_ms,
                1,
                10_000,
            )?;
        }
        let wiegand = &self.wiegand;
        if !wiegand.chip.is_empty() {
            wiegand.card_format().parse("wiegand")?;
            whole("wiegand.pulse_us", wiegand.pulse_us, 1, 10_000)?;
            whole(
                "wiegand.interval_us",
                wiegand.interval_us,
                wiegand.pulse_us + 1,
                100_000,
            )?;
            if wiegand.d0_line == wiegand.d1_line {
                return Err("invalid config: wiegand.d0_line and d1_line are the same line".into());
            }
        }
        let door = &self.door;
        for (key, line) in [
            ("door.contact_line", door.contact_line),
            ("door.exit_button_line", door.exit_button_line),
        ] {
            if !(-1..=i64::from(u16::MAX)).contains(&line) {
                return Err(format!(
                    "invalid config: {key} = {line} is not a line offset (or -1)"
                ));
            }
        }
        whole("door.debounce_ms", door.debounce_ms, 0, 1000)?;
        seconds("door.held_open_seconds", door.held_open_seconds)?;
        self.grpc.address()?;
        self.grpc.tls(server)?;
        self.site.door()?;
        whole("site.replicas", self.site.replicas as u64, 1, 5)?;
        whole(
            "grpc.max_subscribers",
            self.grpc.max_subscribers as u64,
            0,
            100_000,
        )?;
        whole("grpc.backlog", self.grpc.backlog as u64, 1, 100_000)?;
        let graphql = &self.graphql;
        graphql.address()?;
        graphql.tls(server)?;
        whole(
            "graphql.max_subscribers",
            graphql.max_subscribers as u64,
            0,
            100_000,
        )?;
        whole("graphql.backlog", graphql.backlog as u64, 1, 100_000)?;
        whole("graphql.max_depth", graphql.max_depth as u64, 1, 64)?;
        whole(
            "graphql.max_complexity",
            graphql.max_complexity as u64,
            1,
            1_000_000,
        )?;
        whole(
            "graphql.max_page_size",
            graphql.max_page_size as u64,
            1,
            100_000,
        )?;
        whole(
            "graphql.max_query_bytes",
            graphql.max_query_bytes as u64,
            1024,
            16 << 20,
        )?;
        Ok(())
    }

    /// The `[[schedule]]` tables and `edge.watchlist_schedules`.
    pub fn schedule_set(&self) -> ScheduleSet {
        ScheduleSet {
            schedules: self.schedule.clone(),
            watchlist_schedules: self.edge.watchlist_schedules.clone(),
        }
    }

    /// The `[[schedule]]` tables joined to `edge.watchlist_schedules`.
    /// Whether the camera-to-door loop runs: `edge.enabled` (which the
    /// `--camera` and `--relay` flags set), or `[[camera]]` tables.
    pub fn runs_edge(&self) -> bool {
        self.edge.enabled || !self.camera.is_empty()
    }

    /// The cameras with their doors: the `[[camera]]` tables, or else the
    /// one of `[edge]`.
    pub fn cameras(&self) -> Vec<DoorCamera> {
        let edge = &self.edge;
        if self.camera.is_empty() {
            return vec![DoorCamera {
                source: edge.camera.clone(),
                stream_id: edge.stream_id.clone(),
                relay: edge.relay.clone(),
                relay_open: edge.relay_open.clone(),
                relay_close: edge.relay_close.clone(),
                rtsp_transport: edge.rtsp_transport,
                watchlists: edge.watchlists.clone(),
                direction: Direction::Entry,
            }];
        }
        let or_edge = |own: &Option<String>, edge: &String| own.clone().unwrap_or(edge.clone());
        self.camera
            .iter()
            .map(|camera| DoorCamera {
                source: camera.source.clone(),
                stream_id: camera.stream_id.clone(),
                relay: camera.relay.clone(),
                relay_open: or_edge(&camera.relay_open, &edge.relay_open),
                relay_close: or_edge(&camera.relay_close, &edge.relay_close),
                rtsp_transport: camera.rtsp_transport.unwrap_or(edge.rtsp_transport),
                watchlists: camera.watchlists.clone().unwrap_or(edge.watchlists.clone()),
                direction: camera.direction,
            })
            .collect()
    }

    /// Two doors cannot share a stream id nor a relay, and a camera after
    /// the first names its stream (the store keeps one id only).
    fn validate_cameras(&self) -> Result<(), String> {
        if self.camera.len() > MAX_CAMERAS {
            return Err(format!(
                "invalid config: {} [[camera]] tables; at most {MAX_CAMERAS}",
                self.camera.len()
            ));
        }
        let cameras = self.cameras();
        for (index, camera) in cameras.iter().enumerate() {
            let name = match self.camera.is_empty() {
                true => "edge".to_string(),
                false => format!("camera[{index}]"),
            };
            if camera.stream_id.is_empty() && index > 0 {
                return Err(format!(
                    "invalid config: {name}.stream_id is empty; every camera after the first \
                     needs its own UUID"
                ));
            }
            if !camera.stream_id.is_empty() && uuid::Uuid::parse_str(&camera.stream_id).is_err() {
                return Err(format!(
                    "invalid config: {name}.stream_id = {:?} is not a UUID (or \"\" for one made once)",
                    camera.stream_id
                ));
            }
            let earlier = &cameras[..index];
            if earlier.iter().any(|c| c.stream_id == camera.stream_id) {
                return Err(format!(
                    "invalid config: {name}.stream_id = {:?} is another camera's",
                    camera.stream_id
                ));
            }
            let shareable = camera.relay.is_empty() || camera.relay == "fake";
            if !shareable && earlier.iter().any(|c| c.relay == camera.relay) {
                return Err(format!(
                    "invalid config: {name}.relay = {:?} is another camera's door",
                    camera.relay
                ));
            }
        }
        Ok(())
    }

    pub fn watchlist_schedules(&self) -> Result<WatchlistSchedules, String> {
        self.schedule_set().compile()
    }

    /// Refuses to expose an unauthenticated API (REST, gRPC or GraphQL) beyond
    /// this machine.
    pub fn check_exposure(&self) -> Result<(), String> {
        let server = &self.server;
        let grpc = self.grpc.address()?;
        let graphql = self.graphql.address()?;
        for listen in std::iter::once(server.listen).chain(grpc).chain(graphql) {
            if !listen.ip().is_loopback()
                && server.api_key.is_empty()
                && !server.allow_unauthenticated
            {
                return Err(format!(
                    "refusing to listen on {listen} without an API key: set server.api_key \
                     (or server.allow_unauthenticated = true on a trusted network)"
                ));
            }
        }
        Ok(())
    }
}

/// A camera face is kept a year at the most.
const MAX_FACE_HOURS: f64 = 24.0 * 366.0;

/// Durations in the config: a day at the most, which no door needs to
/// exceed and every clock can add.
const MAX_SECONDS: f64 = 86_400.0;

fn whole(key: &str, value: u64, min: u64, max: u64) -> Result<(), String> {
    match (min..=max).contains(&value) {
        true => Ok(()),
        false => Err(format!(
            "invalid config: {key} = {value} is outside {min}..={max}"
        )),
    }
}

fn number(key: &str, value: f32, min: f32, max: f32) -> Result<(), String> {
    match (min..=max).contains(&value) {
        true => Ok(()),
        false => Err(format!(
            "invalid config: {key} = {value} is outside {min}..={max}"
        )),
    }
}

fn seconds(key: &str, value: f64) -> Result<(), String> {
    match (0.0..=MAX_SECONDS).contains(&value) {
        true => Ok(()),
        false => Err(format!(
            "invalid config: {key} = {value} is not a number of seconds from 0 to {MAX_SECONDS}"
        )),
    }
}

/// `engine.device` became `engine.execution_providers`; an old file says
/// what to write instead.
fn refuse_replaced_device(user: &toml::Table) -> Result<(), String> {
    let Some(device) = user.get("engine").and_then(|engine| engine.get("device")) else {
        return Ok(());
    };
    let instead = device
        .as_str()
        .and_then(|name| ResourceId::parse(name).ok())
        .filter(|id| !id.accurate)
        .map(|id| {
            let names: Vec<String> = id
                .accelerator
                .preference()
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect();
            format!("write execution_providers = [{}]", names.join(", "))
        })
        .unwrap_or_else(|| "see config/facegate.toml".into());
    Err(format!(
        "invalid config: engine.device = {device} was replaced by engine.execution_providers; {instead}"
    ))
}

fn parse_table(text: &str, origin: &str) -> Result<toml::Table, String> {
    text.parse::<toml::Table>()
        .map_err(|e| format!("cannot parse {origin}: {e}"))
}

/// `[[camera]]` tables replace `[edge]`'s one camera: a camera or relay
/// set in `single` (by `what`) beside tables in `tables` would be unused.
fn refuse_one_camera_beside_tables(
    single: &toml::Table,
    tables: &toml::Table,
    what: &str,
) -> Result<(), String> {
    let edge = single.get("edge").and_then(toml::Value::as_table);
    let names_one = edge.is_some_and(|e| e.contains_key("camera") || e.contains_key("relay"));
    match names_one && tables.contains_key("camera") {
        true => Err(format!(
            "invalid config: {what} name one camera, and the [[camera]] tables name the \
             cameras: use one or the other"
        )),
        false => Ok(()),
    }
}

/// The settings that are secrets: shown as set or not, never as values.
const SECRETS: &[(&str, &str)] = &[
    ("server", "api_key"),
    ("site", "token"),
    ("site", "password"),
    ("osdp", "secure_channel_key"),
];

/// The secrets replaced by "(set, hidden)", and the credentials of the
/// site's URLs and the camera's by `***`.
fn hide_secrets(mut table: toml::Table) -> toml::Table {
    let cameras = table.get_mut("camera").and_then(|c| c.as_array_mut());
    for camera in cameras.into_iter().flatten() {
        if let Some(toml::Value::String(source)) = camera.get_mut("source") {
            *source = hide_credentials(source);
        }
    }
    for (section, key) in [("site", "nats_url"), ("edge", "camera")] {
        let urls = table
            .get_mut(section)
            .and_then(|section| section.get_mut(key));
        if let Some(toml::Value::String(urls)) = urls {
            *urls = hide_credentials(urls);
        }
    }
    for (section, key) in SECRETS {
        let secret = table
            .get_mut(*section)
            .and_then(|section| section.get_mut(*key));
        if let Some(value) = secret {
            let set = value.as_str().is_some_and(|text| !text.is_empty());
            *value = toml::Value::String(if set { "(set, hidden)" } else { "" }.into());
        }
    }
    table
}

/// Overlays `over` on `base`, table by table, so a user file may set a
/// single key of a section and keep the other defaults.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_table)), toml::Value::Table(over_table)) => {
                merge(base_table, over_table)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_defaults_parse_and_listen_on_loopback_port_8098() {
        let config = Config::load(None).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:8098".parse().unwrap());
        assert!(config.check_exposure().is_ok());
    }

    #[test]
    fn the_effective_config_has_the_flags_over_the_file_and_hides_the_api_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(&path, "[server]\napi_key = \"s3cret\"\nthreads = 3\n").unwrap();
        let flags = "[server]\nthreads = 5\n".parse().unwrap();
        let config = Config::load_with_flags(Some(&path), flags).unwrap();
        assert_eq!(
            (config.server.threads, config.server.api_key.as_str()),
            (5, "s3cret")
        );
        let server = &config.effective["server"];
        assert_eq!(server["threads"].as_integer(), Some(5));
        assert_eq!(server["api_key"].as_str(), Some("(set, hidden)"));
        assert!(!toml::to_string(&config.effective)
            .unwrap()
            .contains("s3cret"));
    }

    #[test]
    fn a_user_file_overrides_single_keys_and_keeps_other_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(&path, "[server]\nthreads = 3\n").unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.server.threads, 3);
        assert_eq!(config.server.max_page_size, 1000);
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(&path, "[server]\nlisten_port = 1\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err();
        assert!(err.contains("listen_port"), "{err}");
    }

    #[test]
    fn durations_and_sizes_that_would_overflow_are_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        for (line, key) in [
            ("[edge]\ndebounce_seconds = inf", "edge.debounce_seconds"),
            ("[edge]\ncooldown_seconds = 1e300", "edge.cooldown_seconds"),
            ("[edge]\ndebounce_seconds = nan", "edge.debounce_seconds"),
            ("[edge]\ncooldown_seconds = -1.0", "edge.cooldown_seconds"),
            ("[edge]\nevidence_frames = 0", "edge.evidence_frames"),
            ("[edge]\npulse_ms = 0", "edge.pulse_ms"),
            (
                "[edge]\nliveness_threshold = 101.0",
                "edge.liveness_threshold",
            ),
            ("[edge]\nevents_kept = 0", "edge.events_kept"),
            (
                "[server]\nshutdown_timeout_seconds = inf",
                "server.shutdown_timeout_seconds",
            ),
            ("[server]\nmax_body_bytes = 0", "server.max_body_bytes"),
            (
                "[server]\nbiometric_wait_ms = 100000000000",
                "server.biometric_wait_ms",
            ),
            ("[engine]\nmax_image_pixels = 0", "engine.max_image_pixels"),
        ] {
            std::fs::write(&path, line).unwrap();
            let err = Config::load(Some(&path)).unwrap_err();
            assert!(err.contains(key), "{line}: {err}");
        }
    }

    #[test]
    fn execution_providers_parse_in_order_and_an_unknown_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(
            &path,
            "[engine]\nexecution_providers = [\"XNNPACK\", \"cpu\"]",
        )
        .unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(
            config.engine.engine_config().unwrap().execution_providers,
            vec![ExecutionProvider::Xnnpack, ExecutionProvider::Cpu]
        );
        for (line, named) in [
            ("execution_providers = [\"tpu\"]", "tpu"),
            ("execution_providers = []", "engine.execution_providers"),
        ] {
            std::fs::write(&path, format!("[engine]\n{line}")).unwrap();
            let err = Config::load(Some(&path)).unwrap_err();
            assert!(err.contains(named), "{line}: {err}");
        }
    }

    #[test]
    fn provider_options_reach_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        let text = "[engine.tensorrt]\ncache_dir = \"/var/cache/facegate\"\nfp16 = true\n\
                    [engine.cuda]\ndevice_id = 1\n";
        std::fs::write(&path, text).unwrap();
        let options = Config::load(Some(&path))
            .unwrap()
            .engine
            .engine_config()
            .unwrap()
            .provider_options;
        assert_eq!(options.tensorrt.cache_dir, Path::new("/var/cache/facegate"));
        assert!(options.tensorrt.fp16 && !options.tensorrt.int8);
        assert_eq!(options.cuda.device_id, 1);
        assert_eq!(options.qnn.backend_path, "libQnnHtp.so");
    }

    #[test]
    fn the_replaced_device_key_says_what_to_write_instead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(&path, "[engine]\ndevice = \"gpu\"").unwrap();
        let err = Config::load(Some(&path)).unwrap_err();
        assert!(
            err.contains("execution_providers = [\"tensorrt\", \"cuda\"]"),
            "{err}"
        );
    }

    #[test]
    fn schedules_reach_their_watchlists_and_a_bad_one_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        let office = "[[schedule]]\nname = \"office-hours\"\nwindows = [\"mon-fri 07:00-19:00\"]\n\
                      time_zone = \"UTC\"\n";
        std::fs::write(
            &path,
            format!("[edge]\nwatchlist_schedules = {{ staff = \"office-hours\" }}\n{office}"),
        )
        .unwrap();
        let config = Config::load(Some(&path)).unwrap();
        let schedules = config.watchlist_schedules().unwrap();
        let states = schedules.states(std::time::SystemTime::now());
        assert_eq!(states.len(), 1);
        assert_eq!(
            (states[0].0.as_str(), states[0].1.name.as_str()),
            ("staff", "office-hours")
        );
        for (text, named) in [
            (
                "[edge]\nwatchlist_schedules = { staff = \"nights\" }\n".to_string(),
                "nights",
            ),
            (format!("{office}{office}"), "two schedules"),
            (
                "[[schedule]]\nname = \"x\"\nwindows = [\"noon\"]\n".to_string(),
                "noon",
            ),
        ] {
            std::fs::write(&path, &text).unwrap();
            let err = Config::load(Some(&path)).unwrap_err();
            assert!(err.contains(named), "{text}: {err}");
        }
    }

    #[test]
    fn camera_tables_take_edge_defaults_and_two_doors_cannot_share_a_stream_or_relay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        let camera = |source: &str, stream: &str, relay: &str| {
            format!("[[camera]]\nsource = \"{source}\"\nstream_id = \"{stream}\"\nrelay = \"{relay}\"\n")
        };
        let (one, two) = (
            "0b7f0e8a-0000-4000-8000-000000000001",
            "0b7f0e8a-0000-4000-8000-000000000002",
        );
        let text = format!(
            "[edge]\nwatchlists = [\"staff\"]\n{}{}direction = \"exit\"\nwatchlists = []\n",
            camera("rtsp://u:secret@cam/a", "", "serial:/dev/ttyUSB0"),
            camera("v4l:/dev/video0", two, "serial:/dev/ttyUSB1"),
        );
        std::fs::write(&path, &text).unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert!(config.runs_edge(), "tables turn the loop on");
        let flags = "[edge]\ncamera = \"v4l:/dev/video1\"\n".parse().unwrap();
        let err = Config::load_with_flags(Some(&path), flags).unwrap_err();
        assert!(
            err.contains("--camera and --relay name one camera"),
            "{err}"
        );
        let cameras = config.cameras();
        assert_eq!(cameras.len(), 2);
        assert_eq!(cameras[0].watchlists, ["staff"], "[edge]'s");
        assert_eq!(cameras[0].relay_open, config.edge.relay_open);
        assert_eq!(cameras[0].direction, Direction::Entry);
        assert_eq!(cameras[1].direction, Direction::Exit);
        assert!(cameras[1].watchlists.is_empty(), "its own");
        let shown = toml::to_string(&config.effective).unwrap();
        assert!(!shown.contains("secret"), "{shown}");
        for (text, named) in [
            (
                camera("v4l:a", one, "fake") + &camera("v4l:b", "", "fake"),
                "camera[1].stream_id is empty",
            ),
            (
                camera("v4l:a", one, "fake") + &camera("v4l:b", one, "fake"),
                "another camera's",
            ),
            (
                camera("v4l:a", one, "serial:/dev/ttyS0")
                    + &camera("v4l:b", two, "serial:/dev/ttyS0"),
                "camera[1].relay",
            ),
            (camera("v4l:a", "door-1", "fake"), "is not a UUID"),
            (
                (0..=MAX_CAMERAS)
                    .map(|i| camera("v4l:a", &format!("0b7f0e8a-0000-4000-8000-{i:012}"), "fake"))
                    .collect(),
                "at most 8",
            ),
            ("[[camera]]\nsource = \"v4l:a\"\n".to_string(), "relay"),
            (
                format!("[edge]\nrelay = \"fake\"\n{}", camera("v4l:a", "", "fake")),
                "edge.camera and edge.relay name one camera",
            ),
        ] {
            std::fs::write(&path, &text).unwrap();
            let err = Config::load(Some(&path)).unwrap_err();
            assert!(err.contains(named), "{text}: {err}");
        }
    }

    #[test]
    fn a_public_address_without_api_key_is_refused() {
        let mut config = Config::load(None).unwrap();
        config.server.listen = "0.0.0.0:8098".parse().unwrap();
        assert!(config.check_exposure().unwrap_err().contains("api_key"));
        config.server.api_key = "secret".into();
        assert!(config.check_exposure().is_ok());
    }
}
