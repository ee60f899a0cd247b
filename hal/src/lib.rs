//! Hardware seams of Facegate, modelled on embedded-hal: small traits for
//! what touches hardware, so drivers are generic over them and each
//! platform implements them (see README.md).

mod camera;
mod gpio;
mod inference;
mod picture;
mod relay;
mod replay;
mod rtsp_camera;
mod serial_line;
mod v4l_camera;

pub use camera::{Camera, CameraError, CameraFault, Frame};
pub use gpio::{CdevLines, GpioError, InputLines, LineChange, LineSpec, OutputLines};
pub use inference::{
    choose, usable, Accelerator, AllRefused, Chosen, ExecutionProvider, InferenceBackend, NoGpu,
    NoneUsable, ResourceId, UnknownProvider, UnknownResourceId, Usable,
};
pub use picture::{Picture, PicturePool, PICTURES};
pub use relay::{parse_hex_bytes, DoorRelay, RelayError, SerialRelay};
pub use replay::ReplayCamera;
pub use rtsp_camera::{DecodeCounts, RtspCamera, RtspTransport};
pub use serial_line::{SerialLine, SerialPortLine};
pub use v4l_camera::{PixelFormat, V4lCamera};

#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
