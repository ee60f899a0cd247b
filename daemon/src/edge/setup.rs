//! Turning the `[edge]` config into a camera, a relay and rules.

use super::{EdgeSettings, LoggingRelay, Rules};
use crate::config::{EdgeConfig, PixelFormatName};
use facegate_hal::{
    parse_hex_bytes, Camera, CameraError, DoorRelay, PixelFormat, RelayError, ReplayCamera,
    SerialRelay, V4lCamera,
};
use std::path::Path;
use std::time::Duration;

/// Opens the configured camera: `v4l:DEVICE` or `replay:DIR[@FPS]`.
pub fn camera(config: &EdgeConfig) -> Result<Box<dyn Camera>, CameraError> {
    let spec = config.camera.as_str();
    if let Some(device) = spec.strip_prefix("v4l:") {
        let format = match config.pixel_format {
            PixelFormatName::Mjpeg => PixelFormat::Mjpeg,
            PixelFormatName::Yuyv => PixelFormat::Yuyv,
        };
        let camera = V4lCamera::open(
            Path::new(device),
            format,
            config.width,
            config.height,
            config.fps,
        )?;
        return Ok(Box::new(camera));
    }
    if let Some(replay) = spec.strip_prefix("replay:") {
        let (dir, fps) = match replay.rsplit_once('@') {
            Some((dir, fps)) => (
                dir,
                fps.parse::<f64>()
                    .map_err(|_| CameraError(format!("bad replay frame rate in `{spec}`")))?,
            ),
            None => (replay, 5.0),
        };
        return Ok(Box::new(ReplayCamera::from_dir(Path::new(dir), fps)?));
    }
    Err(CameraError(format!(
        "camera `{spec}` is neither v4l:DEVICE nor replay:DIR[@FPS]"
    )))
}

/// The configured door relay, made inside the loop's runtime.
pub enum Relay {
    Serial(SerialRelay),
    Logging(LoggingRelay),
}

impl DoorRelay for Relay {
    async fn open(&mut self) -> Result<(), RelayError> {
        match self {
            Relay::Serial(relay) => relay.open().await,
            Relay::Logging(relay) => relay.open().await,
        }
    }

    async fn close(&mut self) -> Result<(), RelayError> {
        match self {
            Relay::Serial(relay) => relay.close().await,
            Relay::Logging(relay) => relay.close().await,
        }
    }
}

pub fn relay(config: &EdgeConfig) -> Result<Relay, RelayError> {
    let spec = config.relay.as_str();
    if spec == "fake" {
        return Ok(Relay::Logging(LoggingRelay));
    }
    let Some(port) = spec.strip_prefix("serial:") else {
        return Err(RelayError(format!(
            "relay `{spec}` is neither serial:PATH[@BAUD] nor fake"
        )));
    };
    let (path, baud) = match port.rsplit_once('@') {
        Some((path, baud)) => (
            path,
            baud.parse()
                .map_err(|_| RelayError(format!("bad baud rate in `{spec}`")))?,
        ),
        None => (port, 9600),
    };
    SerialRelay::open_port(
        path,
        baud,
        parse_hex_bytes(&config.relay_open)?,
        parse_hex_bytes(&config.relay_close)?,
    )
    .map(Relay::Serial)
}

pub fn settings(config: &EdgeConfig) -> EdgeSettings {
    EdgeSettings {
        rules: Rules {
            liveness_required: config.liveness_required,
            liveness_threshold: config.liveness_threshold,
            min_face_size: config.min_face_size,
            max_yaw: config.max_yaw,
            max_pitch: config.max_pitch,
            deny_watchlists: config.deny_watchlists.clone(),
            debounce: Duration::from_secs_f64(config.debounce_seconds),
            cooldown: Duration::from_secs_f64(config.cooldown_seconds),
        },
        watchlists: config.watchlists.clone(),
        pulse: Duration::from_millis(config.pulse_ms),
        events_kept: config.events_kept,
    }
}
