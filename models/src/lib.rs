//! The Facegate face engine: an image in, faces out, with everything
//! SmartFace reports about them. Real networks on ONNX Runtime; no HTTP.
//!
//! Stages, one module each: `decode` (bytes to pixels), `detector`,
//! `landmarks`, `align`, `template`, `liveness`, `attributes`; `engine`
//! loads the networks once and runs the stages; `manifest` and `runtime`
//! find, check and load the model files and ONNX Runtime; `providers`
//! builds its execution providers.

mod align;
mod attributes;
mod decode;
mod detector;
mod engine;
mod error;
mod landmarks;
mod liveness;
mod manifest;
mod precision;
mod providers;
mod refine;
mod runtime;
mod sampling;
mod template;
mod template_model;
mod timing;

pub use align::FivePoints;
pub use attributes::{AttributeSet, Attributes, HeadPose};
pub use decode::{decode_image, read_header, DecodeLimits, DecodedImage, ImageHeader};
pub use detector::{iou, BoundingBox, Detection, DetectorConfig};
pub use engine::template_model;
pub use engine::{
    AlignedFace, Alignment, AnalysisRequest, EngineConfig, FaceAnalysis, FaceEngine, LocatedFace,
    NETWORKS,
};
pub use error::EngineError;
pub use landmarks::Landmarks;
pub use liveness::Liveness;
pub use manifest::{ModelSpec, MANIFEST};
pub use precision::{Precision, Precisions};
pub use providers::{CudaOptions, OpenVinoOptions, ProviderOptions, QnnOptions, TensorRtOptions};
pub use template::{quality_of, Template, FACEPLUGIN_MAGNITUDES, TEMPLATE_DIMENSION};
pub use template_model::{
    with_calibration, Calibration, TemplateModel, BUILT_IN, CALIBRATE_COMMAND,
};
pub use timing::StageTimes;

pub use image::{self, RgbImage};
