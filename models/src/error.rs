//! What can go wrong in the face engine, split by whose fault it is.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum EngineError {
    /// The image bytes are not a readable JPEG, PNG, BMP, WebP or TIFF.
    UnreadableImage(String),
    /// The image has more pixels than the configured limit.
    ImageTooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    /// Decoding the image would take more memory than one decode may.
    ImageNeedsTooMuchMemory {
        width: u32,
        height: u32,
        needed_bytes: u64,
        max_bytes: u64,
    },
    /// A resource id asked for a device this machine lacks, or is unknown.
    Device(String),
    /// A model file or ONNX Runtime is missing, corrupt or unloadable; the
    /// message names the file and the command that fixes it.
    Setup(String),
    /// ONNX Runtime failed while running a network.
    Inference(String),
}

impl EngineError {
    /// Whether the request, not the server, is at fault.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            EngineError::UnreadableImage(_)
                | EngineError::ImageTooLarge { .. }
                | EngineError::ImageNeedsTooMuchMemory { .. }
                | EngineError::Device(_)
        )
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::UnreadableImage(why) => write!(f, "the image cannot be read: {why}"),
            EngineError::ImageTooLarge {
                width,
                height,
                max_pixels,
            } => write!(
                f,
                "the image is {width}x{height} pixels, more than the limit of {max_pixels} pixels"
            ),
            EngineError::ImageNeedsTooMuchMemory {
                width,
                height,
                needed_bytes,
                max_bytes,
            } => write!(
                f,
                "the image is {width}x{height} pixels and would take {} MiB to decode, \
                 more than the {} MiB one decode may take",
                needed_bytes.div_ceil(1 << 20),
                max_bytes >> 20
            ),
            EngineError::Device(why) | EngineError::Setup(why) => f.write_str(why),
            EngineError::Inference(why) => write!(f, "inference failed: {why}"),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<ort::Error> for EngineError {
    fn from(e: ort::Error) -> Self {
        EngineError::Inference(e.to_string())
    }
}
