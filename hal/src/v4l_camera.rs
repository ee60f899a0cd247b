//! V4L2 capture (USB and CSI cameras on Linux) through the `v4l` crate:
//! MJPEG or YUYV frames, converted to RGB.

use crate::camera::{Camera, CameraError, Frame};
use crate::picture::{Picture, PICTURES};
use std::path::Path;
use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

/// The pixel formats Facegate decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Mjpeg,
    Yuyv,
}

impl PixelFormat {
    fn fourcc(self) -> FourCC {
        match self {
            PixelFormat::Mjpeg => FourCC::new(b"MJPG"),
            PixelFormat::Yuyv => FourCC::new(b"YUYV"),
        }
    }
}

pub struct V4lCamera {
    stream: Stream<'static>,
    format: PixelFormat,
    width: u32,
    height: u32,
    sequence: u64,
}

fn error(device: &Path, what: &str, e: impl std::fmt::Display) -> CameraError {
    CameraError::device(format!("camera {}: {what}: {e}", device.display()))
}

impl V4lCamera {
    /// Opens `device` (e.g. `/dev/video0`) at the given size and rate. The
    /// driver may adjust size and rate; the format must be supported.
    pub fn open(
        device: &Path,
        format: PixelFormat,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<V4lCamera, CameraError> {
        let dev = Device::with_path(device).map_err(|e| error(device, "cannot open", e))?;
        let wanted = v4l::Format::new(width, height, format.fourcc());
        let actual = dev
            .set_format(&wanted)
            .map_err(|e| error(device, "cannot set the format", e))?;
        if actual.fourcc != format.fourcc() {
            return Err(error(
                device,
                "unsupported pixel format",
                format!("{format:?}, the driver offers {}", actual.fourcc),
            ));
        }
        dev.set_params(&v4l::video::capture::Parameters::with_fps(fps))
            .map_err(|e| error(device, "cannot set the frame rate", e))?;
        let stream = Stream::with_buffers(&dev, Type::VideoCapture, 4)
            .map_err(|e| error(device, "cannot start streaming", e))?;
        Ok(V4lCamera {
            stream,
            format,
            width: actual.width,
            height: actual.height,
            sequence: 0,
        })
    }
}

/// YUYV 4:2:2 to RGB (BT.601, studio range).
fn yuyv_to_rgb(data: &[u8], width: u32, height: u32) -> Option<Picture> {
    let pixels = (width * height) as usize;
    if data.len() < pixels * 2 {
        return None;
    }
    let mut picture = PICTURES.picture(width, height);
    let mut rgb = picture.iter_mut();
    let mut put = |value: f32| {
        if let Some(byte) = rgb.next() {
            *byte = value.clamp(0.0, 255.0) as u8;
        }
    };
    for chunk in data[..pixels * 2].chunks_exact(4) {
        let (y0, u, y1, v) = (
            chunk[0] as f32,
            chunk[1] as f32 - 128.0,
            chunk[2] as f32,
            chunk[3] as f32 - 128.0,
        );
        for y in [y0, y1] {
            let c = 1.164 * (y - 16.0);
            put(c + 1.596 * v);
            put(c - 0.392 * u - 0.813 * v);
            put(c + 2.017 * u);
        }
    }
    Some(picture)
}

impl Camera for V4lCamera {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        let (data, _) = self
            .stream
            .next()
            .map_err(|e| CameraError::device(format!("camera capture failed: {e}")))?;
        let image = match self.format {
            // The JPEG decoder makes its own picture; it joins the pool.
            PixelFormat::Mjpeg => Picture::from(
                image::load_from_memory_with_format(data, image::ImageFormat::Jpeg)
                    .map_err(|e| CameraError::bad_frame(format!("bad MJPEG frame: {e}")))?
                    .into_rgb8(),
            ),
            PixelFormat::Yuyv => yuyv_to_rgb(data, self.width, self.height)
                .ok_or_else(|| CameraError::bad_frame("short YUYV frame"))?,
        };
        let sequence = self.sequence;
        self.sequence += 1;
        Ok(Some(Frame::now(image, sequence)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_grey_and_white_convert_to_rgb() {
        // Y=16 is black, Y=235 white; U=V=128 is colourless.
        let frame = [16, 128, 235, 128];
        let image = yuyv_to_rgb(&frame, 2, 1).unwrap();
        assert_eq!(image.get_pixel(0, 0).0, [0, 0, 0]);
        assert!(image.get_pixel(1, 0).0.iter().all(|c| *c >= 254));
        assert!(yuyv_to_rgb(&frame, 4, 1).is_none());
    }

    #[test]
    fn a_missing_device_is_a_clear_error() {
        let error = V4lCamera::open(
            Path::new("/dev/video-facegate-absent"),
            PixelFormat::Mjpeg,
            640,
            480,
            15,
        )
        .err()
        .unwrap();
        assert!(
            error.message.contains("/dev/video-facegate-absent"),
            "{error}"
        );
    }
}
