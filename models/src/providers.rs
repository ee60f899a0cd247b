//! ONNX Runtime's execution providers: which the loaded library has, and
//! each one built with the options boards need (`[engine.*]` in the config).

use facegate_hal::{ExecutionProvider, InferenceBackend};
use ort::ep::{self, ExecutionProvider as _, ExecutionProviderDispatch};
use serde::Deserialize;
use std::num::NonZeroUsize;
use std::path::PathBuf;

/// The options of the providers that take any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderOptions {
    pub tensorrt: TensorRtOptions,
    pub cuda: CudaOptions,
    pub openvino: OpenVinoOptions,
    pub qnn: QnnOptions,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorRtOptions {
    /// Where built engines and timing data are kept between starts; empty
    /// builds them anew at every start (minutes on a Jetson).
    pub cache_dir: PathBuf,
    pub fp16: bool,
    pub int8: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CudaOptions {
    /// The GPU that CUDA and TensorRT use.
    pub device_id: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenVinoOptions {
    /// `CPU`, `GPU` or `NPU`; empty leaves OpenVINO's default.
    pub device_type: String,
    /// Where compiled networks are kept between starts; empty for none.
    pub cache_dir: PathBuf,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QnnOptions {
    /// The QNN backend library, e.g. `libQnnHtp.so` (the NPU).
    pub backend_path: String,
}

/// The execution providers built into the loaded ONNX Runtime.
pub struct OrtBackend;

impl InferenceBackend for OrtBackend {
    fn available(&self) -> Vec<ExecutionProvider> {
        ExecutionProvider::ALL
            .into_iter()
            .filter(|provider| built_in(*provider))
            .collect()
    }
}

fn built_in(provider: ExecutionProvider) -> bool {
    match provider {
        ExecutionProvider::Cpu => Ok(true),
        ExecutionProvider::Cuda => ep::CUDA::is_available(),
        ExecutionProvider::TensorRt => ep::TensorRT::is_available(),
        ExecutionProvider::OpenVino => ep::OpenVINO::is_available(),
        ExecutionProvider::Xnnpack => ep::XNNPACK::is_available(),
        ExecutionProvider::Qnn => ep::QNN::is_available(),
    }
    .unwrap_or(false)
}

/// `provider` as ONNX Runtime registers it; `threads` is what each
/// network may use.
pub fn dispatch(
    provider: ExecutionProvider,
    options: &ProviderOptions,
    threads: usize,
) -> ExecutionProviderDispatch {
    let device_id = options.cuda.device_id as i32;
    match provider {
        ExecutionProvider::Cpu => ep::CPU::default().build(),
        ExecutionProvider::Cuda => ep::CUDA::default().with_device_id(device_id).build(),
        ExecutionProvider::TensorRt => {
            let trt = &options.tensorrt;
            let built = ep::TensorRT::default()
                .with_device_id(device_id)
                .with_fp16(trt.fp16)
                .with_int8(trt.int8);
            match trt.cache_dir.as_os_str().is_empty() {
                true => built.build(),
                false => built
                    .with_engine_cache(true)
                    .with_engine_cache_path(trt.cache_dir.display())
                    .with_timing_cache(true)
                    .with_timing_cache_path(trt.cache_dir.display())
                    .build(),
            }
        }
        ExecutionProvider::OpenVino => {
            let openvino = &options.openvino;
            let mut built = ep::OpenVINO::default();
            if !openvino.device_type.is_empty() {
                built = built.with_device_type(&openvino.device_type);
            }
            if !openvino.cache_dir.as_os_str().is_empty() {
                built = built.with_cache_dir(openvino.cache_dir.display());
            }
            built.build()
        }
        ExecutionProvider::Xnnpack => ep::XNNPACK::default()
            .with_intra_op_num_threads(NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN))
            .build(),
        ExecutionProvider::Qnn => match options.qnn.backend_path.as_str() {
            "" => ep::QNN::default().build(),
            path => ep::QNN::default().with_backend_path(path).build(),
        },
    }
}
