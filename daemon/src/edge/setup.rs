//! Turning the `[edge]` config and a camera's table into a camera, a
//! relay and rules.

use super::supervision::Wiring;
use super::{DoorInputs, EdgeSettings, LoggingRelay, Rules};
use crate::config::{
    Config, DoorCamera, DoorConfig, EdgeConfig, PixelFormatName, RelayWithPanel, RtspTransportName,
};
use crate::core::site::hide_credentials;
use crate::store::Retention;
use facegate_hal::{
    parse_hex_bytes, Camera, CameraError, CdevLines, DoorRelay, LineSpec, PixelFormat, RelayError,
    ReplayCamera, RtspCamera, RtspTransport, SerialRelay, V4lCamera,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The configured camera as an opener, called again after each failure:
/// `v4l:DEVICE`, `rtsp://...` or `replay:DIR[@FPS]`. A spec that can never work is an
/// error now; a device that cannot be opened yet is the loop's to retry.
pub fn camera(
    door: &DoorCamera,
    config: &EdgeConfig,
) -> Result<impl FnMut() -> Result<Box<dyn Camera>, CameraError> + Send + 'static, CameraError> {
    let spec = door.source.clone();
    if let Some(device) = spec.strip_prefix("v4l:") {
        let device = PathBuf::from(device);
        let format = match config.pixel_format {
            PixelFormatName::Mjpeg => PixelFormat::Mjpeg,
            PixelFormatName::Yuyv => PixelFormat::Yuyv,
        };
        let (width, height, fps) = (config.width, config.height, config.fps);
        return Ok(Box::new(move || -> Result<Box<dyn Camera>, CameraError> {
            let camera = V4lCamera::open(&device, format, width, height, fps)?;
            Ok(Box::new(camera))
        }) as Box<dyn FnMut() -> _ + Send>);
    }
    if let Some(replay) = spec.strip_prefix("replay:") {
        let (dir, fps) = match replay.rsplit_once('@') {
            Some((dir, fps)) => (
                PathBuf::from(dir),
                fps.parse::<f64>().map_err(|_| {
                    CameraError::device(format!("bad replay frame rate in `{spec}`"))
                })?,
            ),
            None => (PathBuf::from(replay), 5.0),
        };
        return Ok(Box::new(move || -> Result<Box<dyn Camera>, CameraError> {
            Ok(Box::new(ReplayCamera::from_dir(&dir, fps)?))
        }));
    }
    if spec.starts_with("rtsp://") {
        let transport = match door.rtsp_transport {
            RtspTransportName::Tcp => RtspTransport::Tcp,
            RtspTransportName::Udp => RtspTransport::Udp,
        };
        return Ok(Box::new(move || -> Result<Box<dyn Camera>, CameraError> {
            Ok(Box::new(RtspCamera::open(&spec, transport)?))
        }));
    }
    Err(CameraError::device(format!(
        "camera `{}` is neither v4l:DEVICE, rtsp://HOST/PATH nor replay:DIR[@FPS]",
        hide_credentials(&spec)
    )))
}

/// The configured door relay, made inside the loop's runtime.
pub enum Relay {
    Serial(SerialRelay),
    Logging(LoggingRelay),
    /// `relay = ""`: a panel drives the lock, and nothing here opens.
    Absent,
}

impl DoorRelay for Relay {
    async fn open(&mut self) -> Result<(), RelayError> {
        match self {
            Relay::Serial(relay) => relay.open().await,
            Relay::Logging(relay) => relay.open().await,
            Relay::Absent => Err(RelayError("no relay is configured".into())),
        }
    }

    async fn close(&mut self) -> Result<(), RelayError> {
        match self {
            Relay::Serial(relay) => relay.close().await,
            Relay::Logging(relay) => relay.close().await,
            Relay::Absent => Ok(()),
        }
    }
}

/// The configured door relay as a connector, called again after each
/// failure: `serial:PATH[@BAUD]`, `fake`, or "" for none. A spec that can never work is
/// an error now.
pub fn relay(
    door: &DoorCamera,
) -> Result<impl FnMut() -> Result<Relay, RelayError> + Send + 'static, RelayError> {
    let spec = door.relay.as_str();
    if spec.is_empty() {
        return Ok(
            Box::new(|| Ok(Relay::Absent)) as Box<dyn FnMut() -> Result<Relay, RelayError> + Send>
        );
    }
    if spec == "fake" {
        return Ok(Box::new(|| Ok(Relay::Logging(LoggingRelay)))
            as Box<dyn FnMut() -> Result<Relay, RelayError> + Send>);
    }
    let Some(port) = spec.strip_prefix("serial:") else {
        return Err(RelayError(format!(
            "relay `{spec}` is neither serial:PATH[@BAUD] nor fake"
        )));
    };
    let (path, baud) = match port.rsplit_once('@') {
        Some((path, baud)) => (
            path.to_string(),
            baud.parse()
                .map_err(|_| RelayError(format!("bad baud rate in `{spec}`")))?,
        ),
        None => (port.to_string(), 9600),
    };
    let (open, close) = (
        parse_hex_bytes(&door.relay_open)?,
        parse_hex_bytes(&door.relay_close)?,
    );
    Ok(Box::new(move || {
        SerialRelay::open_port(&path, baud, open.clone(), close.clone()).map(Relay::Serial)
    }))
}

/// The loop's settings for `door`, seen as `stream_id`. The first camera
/// (`primary`) gets the door inputs; `engine_turns` is every camera's.
pub fn settings(
    full: &Config,
    door: &DoorCamera,
    stream_id: String,
    primary: bool,
    engine_turns: Arc<tokio::sync::Semaphore>,
) -> Result<EdgeSettings, String> {
    let config = &full.edge;
    let door_inputs = match primary {
        true => door_inputs(&full.door)?,
        false => None,
    };
    Ok(EdgeSettings {
        stream_id,
        direction: door.direction,
        primary,
        engine_turns,
        rules: Rules {
            liveness_required: config.liveness_required,
            liveness_threshold: config.liveness_threshold,
            min_face_size: config.min_face_size,
            max_yaw: config.max_yaw,
            max_pitch: config.max_pitch,
            // At most 100: checked with the config.
            min_template_quality: config.min_template_quality as i32,
            deny_watchlists: config.deny_watchlists.clone(),
            debounce: Duration::from_secs_f64(config.debounce_seconds),
            cooldown: Duration::from_secs_f64(config.cooldown_seconds),
            evidence_frames: config.evidence_frames as usize,
        },
        watchlists: searched_watchlists(&door.watchlists, &config.deny_watchlists),
        panel_wait: Duration::from_millis(full.osdp.verdict_timeout_ms),
        relay_follows_panel: !door.relay.is_empty()
            && config.relay_with_panel == RelayWithPanel::Follow,
        door_inputs: std::sync::Mutex::new(door_inputs),
        pulse: Duration::from_millis(config.pulse_ms),
        max_stranger_rate: config.max_stranger_rate,
        retention: Retention {
            events: config.events_kept,
            faces: config.faces_kept,
            face_age: Duration::from_secs_f64(config.faces_kept_hours * 3600.0),
        },
    })
}

/// The door contact and exit button as GPIO inputs, when wired.
fn door_inputs(config: &DoorConfig) -> Result<Option<DoorInputs>, String> {
    let mut specs = Vec::new();
    let mut wire = |line: i64, active_low: bool| {
        (line >= 0).then(|| {
            specs.push(LineSpec {
                offset: line as u32,
                active_low,
            });
            specs.len() - 1
        })
    };
    let wiring = Wiring {
        contact: wire(config.contact_line, config.contact_active_low),
        exit_button: wire(config.exit_button_line, config.exit_button_active_low),
    };
    if specs.is_empty() {
        return Ok(None);
    }
    let debounce = Duration::from_millis(config.debounce_ms);
    let lines = CdevLines::inputs(&config.chip, &specs, debounce).map_err(|e| e.to_string())?;
    Ok(Some(DoorInputs {
        lines: Box::new(lines),
        wiring,
        held_open: Duration::from_secs_f64(config.held_open_seconds),
    }))
}

/// The watchlists the door searches: `edge.watchlists` with the deny lists
/// added, so that a member of both a searched list and a deny list is seen
/// on the deny list and kept out. Empty (all of them) stays empty.
fn searched_watchlists(watchlists: &[String], deny_watchlists: &[String]) -> Vec<String> {
    let mut searched = watchlists.to_vec();
    if !searched.is_empty() {
        for deny in deny_watchlists {
            if !searched.contains(deny) {
                searched.push(deny.clone());
            }
        }
    }
    searched
}
