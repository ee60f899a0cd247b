//! An IP camera over RTSP: retina (the RTSP client of Moonfire NVR)
//! receives the H.264 stream, TCP-interleaved or over UDP, with Basic or
//! Digest authentication; openh264 decodes it. A thread of the camera's
//! own runs both, so the loop's `next_frame` only waits for the newest
//! decoded frame: frames the loop does not take are replaced, never
//! queued.
//!
//! Decoding never falls behind the camera: when the stream's clock runs
//! ahead of the decoder by more than `MAX_LAG`, frames are skipped up to
//! the next key frame (which needs no earlier frame), and decoding goes on
//! from there.
//!
//! The URL's user and password are sent to the camera only: errors and
//! logs name the URL without them.

use crate::camera::{Camera, CameraError, Frame};
use crate::picture::{Picture, PICTURES};
use futures_util::StreamExt;
use openh264::decoder::Decoder;
use openh264::formats::YUVSource;
use retina::client::{Credentials, PlayOptions, Session, SessionOptions, SetupOptions, Transport};
use retina::codec::{CodecItem, FrameFormat, VideoFrame};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long the camera may take to answer DESCRIBE, SETUP and PLAY.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A camera that sends no frame for this long is lost: it is opened again.
const SILENCE_LIMIT: Duration = Duration::from_secs(10);
/// How far the decoder may trail the stream before it skips to the next
/// key frame.
const MAX_LAG: Duration = Duration::from_millis(500);
/// The largest picture decoded: 4096x2160 (4K). A stream announcing more
/// is refused rather than allocated.
const MAX_PIXELS: u64 = 4096 * 2160;

/// How the RTP packets come: interleaved on the RTSP connection (the
/// default: one TCP connection, through any firewall), or over UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtspTransport {
    Tcp,
    Udp,
}

pub struct RtspCamera {
    shared: Arc<Shared>,
    sequence: u64,
}

/// What the camera's thread hands to `next_frame`.
#[derive(Default)]
struct Shared {
    slot: Mutex<Slot>,
    changed: Condvar,
    stop: AtomicBool,
    counts: DecodeCounters,
}

/// What became of the stream's frames so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeCounts {
    /// Frames the camera sent.
    pub received: u64,
    /// Frames decoded to a picture.
    pub decoded: u64,
    /// Frames skipped undecoded, to catch up with the stream.
    pub skipped: u64,
    /// Pictures taken by `next_frame`.
    pub taken: u64,
}

#[derive(Default)]
struct DecodeCounters {
    received: AtomicU64,
    decoded: AtomicU64,
    skipped: AtomicU64,
    taken: AtomicU64,
}

#[derive(Default)]
struct Slot {
    frame: Option<(Picture, Instant)>,
    /// Why the stream ended; the camera is then opened again.
    failed: Option<String>,
}

impl RtspCamera {
    /// Connects to `url` (`rtsp://user:password@host:554/path`) and starts
    /// the stream; returns once the camera has answered PLAY.
    pub fn open(url: &str, transport: RtspTransport) -> Result<RtspCamera, CameraError> {
        let (url, credentials) = split_credentials(url)?;
        let shared = Arc::new(Shared::default());
        let (started, answer) = std::sync::mpsc::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CameraError::device(format!("camera {url}: {e}")))?;
        let thread_shared = shared.clone();
        let name = url.to_string();
        std::thread::Builder::new()
            .name("rtsp".into())
            .spawn(move || {
                let ended =
                    runtime.block_on(stream(url, credentials, transport, &thread_shared, started));
                let reason = match ended {
                    Err(why) => why,
                    Ok(()) => "the camera was closed".into(),
                };
                lock(&thread_shared.slot).failed = Some(reason);
                thread_shared.changed.notify_all();
            })
            .map_err(|e| CameraError::device(format!("camera {name}: {e}")))?;
        match answer.recv_timeout(CONNECT_TIMEOUT + Duration::from_secs(1)) {
            Ok(Ok(())) => Ok(RtspCamera {
                shared,
                sequence: 0,
            }),
            Ok(Err(why)) => Err(CameraError::device(why)),
            Err(_) => {
                shared.stop.store(true, Ordering::Relaxed);
                Err(CameraError::device(format!(
                    "camera {name}: no answer within {CONNECT_TIMEOUT:?}"
                )))
            }
        }
    }

    /// What became of the stream's frames since the camera opened.
    pub fn counts(&self) -> DecodeCounts {
        let counts = &self.shared.counts;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        DecodeCounts {
            received: read(&counts.received),
            decoded: read(&counts.decoded),
            skipped: read(&counts.skipped),
            taken: read(&counts.taken),
        }
    }
}

impl Drop for RtspCamera {
    fn drop(&mut self) {
        // The thread sees it within a frame or a second, and ends.
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

impl Camera for RtspCamera {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        let slot = lock(&self.shared.slot);
        let (mut slot, _) = self
            .shared
            .changed
            .wait_timeout_while(slot, SILENCE_LIMIT, |slot| {
                slot.frame.is_none() && slot.failed.is_none()
            })
            .unwrap_or_else(|e| e.into_inner());
        if let Some((image, captured_at)) = slot.frame.take() {
            self.shared.counts.taken.fetch_add(1, Ordering::Relaxed);
            self.sequence += 1;
            return Ok(Some(Frame {
                image,
                captured_at,
                sequence: self.sequence - 1,
            }));
        }
        Err(CameraError::device(slot.failed.clone().unwrap_or_else(
            || format!("the camera sent no frame for {SILENCE_LIMIT:?}"),
        )))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The URL without its user and password, and them as credentials.
fn split_credentials(text: &str) -> Result<(url::Url, Option<Credentials>), CameraError> {
    let mut url = url::Url::parse(text)
        .map_err(|e| CameraError::device(format!("camera URL {}: {e}", without_userinfo(text))))?;
    let decode = |part: &str| {
        url::form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    let credentials = (!url.username().is_empty()).then(|| Credentials {
        username: decode(url.username()),
        password: decode(url.password().unwrap_or("")),
    });
    // Setting them empty cannot fail on an rtsp:// URL, which has a host.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok((url, credentials))
}

/// `text` with anything between "://" and an "@" removed, for a URL that
/// did not parse.
fn without_userinfo(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &text[..scheme + 3], &text[at..])
        }
        _ => text.to_string(),
    }
}

/// Runs the session until it fails or the camera is dropped; `started`
/// hears whether PLAY was answered.
async fn stream(
    url: url::Url,
    credentials: Option<Credentials>,
    transport: RtspTransport,
    shared: &Shared,
    started: std::sync::mpsc::Sender<Result<(), String>>,
) -> Result<(), String> {
    let name = url.to_string();
    let failed = |e: &dyn std::fmt::Display| format!("camera {name}: {e}");
    let connecting = async {
        let mut session = Session::describe(
            url.clone(),
            SessionOptions::default()
                .creds(credentials)
                .user_agent("Facegate".into()),
        )
        .await
        .map_err(|e| failed(&e))?;
        let video = session
            .streams()
            .iter()
            .position(|s| s.media() == "video" && s.encoding_name() == "h264")
            .ok_or_else(|| {
                let offered: Vec<String> = session
                    .streams()
                    .iter()
                    .map(|s| format!("{} {}", s.media(), s.encoding_name()))
                    .collect();
                failed(&format!(
                    "no H.264 video stream (it offers {}); set the camera to H.264",
                    offered.join(", ")
                ))
            })?;
        let transport = match transport {
            RtspTransport::Tcp => Transport::Tcp(Default::default()),
            RtspTransport::Udp => Transport::Udp(Default::default()),
        };
        session
            .setup(
                video,
                SetupOptions::default()
                    .transport(transport)
                    .frame_format(FrameFormat::SIMPLE),
            )
            .await
            .map_err(|e| failed(&e))?;
        session
            .play(PlayOptions::default())
            .await
            .map_err(|e| failed(&e))?
            .demuxed()
            .map_err(|e| failed(&e))
    };
    let mut session = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(session)) => {
            let _ = started.send(Ok(()));
            session
        }
        Ok(Err(why)) => {
            let _ = started.send(Err(why.clone()));
            return Err(why);
        }
        Err(_) => return Err(failed(&"no answer")),
    };
    let mut decoding = Decoding::new().map_err(|e| failed(&e))?;
    while !shared.stop.load(Ordering::Relaxed) {
        let item = match tokio::time::timeout(Duration::from_secs(1), session.next()).await {
            // A tick to look at `stop`; `next_frame` notices the silence.
            Err(_) => continue,
            Ok(None) => return Err(failed(&"the stream ended")),
            Ok(Some(Err(e))) => return Err(failed(&e)),
            Ok(Some(Ok(item))) => item,
        };
        let CodecItem::VideoFrame(frame) = item else {
            continue;
        };
        shared.counts.received.fetch_add(1, Ordering::Relaxed);
        let decoded = decoding
            .decode(&frame, &shared.counts)
            .map_err(|e| failed(&e))?;
        if let Some(image) = decoded {
            let mut slot = lock(&shared.slot);
            slot.frame = Some((image, Instant::now()));
            shared.changed.notify_all();
        }
    }
    Ok(())
}

/// The decoder and where it stands against the stream's clock.
struct Decoding {
    decoder: Decoder,
    /// When the first frame came, and its stream time in seconds.
    first: Option<(Instant, f64)>,
    /// Skipping to the next key frame.
    skipping: bool,
}

impl Decoding {
    fn new() -> Result<Decoding, String> {
        Ok(Decoding {
            decoder: Decoder::new().map_err(|e| format!("the H.264 decoder: {e}"))?,
            first: None,
            skipping: false,
        })
    }

    /// The frame's picture, if it has one and was decoded.
    fn decode(
        &mut self,
        frame: &VideoFrame,
        counts: &DecodeCounters,
    ) -> Result<Option<Picture>, String> {
        let stream_time = frame.timestamp().elapsed_secs();
        let (first_at, first_time) = *self.first.get_or_insert((Instant::now(), stream_time));
        let decoded_to = first_at + Duration::from_secs_f64((stream_time - first_time).max(0.0));
        let lag = Instant::now().saturating_duration_since(decoded_to);
        if lag > MAX_LAG && !self.skipping {
            log::warn!("camera: decoding trails the stream by {lag:?}: skipping to a key frame");
            self.skipping = true;
        }
        if self.skipping {
            if !frame.is_random_access_point() {
                counts.skipped.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
            // The stream's clock starts again from here.
            log::info!(
                "camera: decoding again from a key frame ({} frames skipped so far)",
                counts.skipped.load(Ordering::Relaxed)
            );
            self.skipping = false;
            self.first = Some((Instant::now(), stream_time));
        }
        let Some(picture) = self
            .decoder
            .decode(frame.data())
            // The crate decodes without delay, which B-frames break
            // (openh264-rs issue 50): say what the camera can change.
            .map_err(|e| format!("H.264: {e} (if the camera sends B-frames, turn them off)"))?
        else {
            return Ok(None);
        };
        let (width, height) = picture.dimensions();
        if width as u64 * height as u64 > MAX_PIXELS {
            return Err(format!("a picture of {width}x{height} is larger than 4K"));
        }
        let mut image = PICTURES.picture(width as u32, height as u32);
        picture.write_rgb8(&mut image);
        counts.decoded.fetch_add(1, Ordering::Relaxed);
        Ok(Some(image))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_and_are_percent_decoded() {
        let (url, credentials) =
            split_credentials("rtsp://admin:p%40ss%3Aword@10.0.0.9:554/stream1").unwrap();
        assert_eq!(url.as_str(), "rtsp://10.0.0.9:554/stream1");
        let credentials = credentials.unwrap();
        assert_eq!(
            (credentials.username.as_str(), credentials.password.as_str()),
            ("admin", "p@ss:word")
        );
        let (url, none) = split_credentials("rtsp://10.0.0.9/stream1").unwrap();
        assert!(none.is_none());
        assert_eq!(url.as_str(), "rtsp://10.0.0.9/stream1");
    }

    #[test]
    fn a_url_that_does_not_parse_is_named_without_its_password() {
        let err = RtspCamera::open("rtsp://admin:hunter2@[bad/stream", RtspTransport::Tcp)
            .err()
            .unwrap();
        assert!(!err.message.contains("hunter2"), "{err}");
        assert!(err.message.contains("rtsp://***@[bad/stream"), "{err}");
    }

    #[test]
    fn a_camera_that_is_not_there_is_a_device_error_naming_it_without_credentials() {
        // Nothing listens on port 9 (discard) of localhost here.
        let err = RtspCamera::open("rtsp://admin:hunter2@127.0.0.1:9/live", RtspTransport::Tcp)
            .err()
            .unwrap();
        assert_eq!(err.fault, crate::camera::CameraFault::Device);
        assert!(err.message.contains("rtsp://127.0.0.1:9/live"), "{err}");
        assert!(!err.message.contains("hunter2"), "{err}");
    }
}
