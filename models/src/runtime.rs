//! ONNX Runtime: loading the shared library once, the platform's execution
//! providers, and one session per network shared by every thread.

use crate::error::EngineError;
use crate::manifest::{ModelSpec, FIX_COMMAND};
use facegate_hal::{ExecutionProvider, InferenceBackend};
use ndarray::Array4;
use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider as _};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

static RUNTIME: OnceLock<Result<Environment, String>> = OnceLock::new();

/// Loads `libonnxruntime` from `library`; later calls reuse the first
/// result (ONNX Runtime can be loaded once per process).
pub fn load_runtime(library: &Path) -> Result<&'static Environment, EngineError> {
    RUNTIME
        .get_or_init(|| {
            if !library.is_file() {
                return Err(format!(
                    "ONNX Runtime library {} is missing; run `{FIX_COMMAND}` to install it",
                    library.display()
                ));
            }
            ort::init_from(library)
                .map_err(|e| {
                    format!(
                        "cannot load ONNX Runtime from {} ({e}); run `{FIX_COMMAND}` to reinstall it",
                        library.display()
                    )
                })?
                .with_name("facegate")
                .build()
                .map_err(|e| format!("cannot start ONNX Runtime: {e}"))
        })
        .as_ref()
        .map_err(|e| EngineError::Setup(e.clone()))
}

/// The execution providers of the loaded ONNX Runtime.
pub struct OrtBackend;

impl InferenceBackend for OrtBackend {
    fn available(&self) -> Vec<ExecutionProvider> {
        let mut providers = vec![ExecutionProvider::Cpu];
        if ep::CUDA::is_available().unwrap_or(false) {
            providers.push(ExecutionProvider::Cuda);
        }
        if ep::TensorRT::is_available().unwrap_or(false) {
            providers.push(ExecutionProvider::TensorRt);
        }
        providers
    }
}

/// One network, loaded once. ort's `Session::run` takes `&mut self`, so
/// threads take turns; each run already uses every configured core.
pub struct Network {
    name: String,
    session: Mutex<Session>,
}

impl Network {
    pub fn load(
        environment: &Environment,
        spec: &ModelSpec,
        model_dir: &Path,
        providers: &[ExecutionProvider],
        threads: usize,
    ) -> Result<Network, EngineError> {
        let path = spec.verified_path(model_dir)?;
        let setup =
            |e: ort::Error| EngineError::Setup(format!("cannot load {}: {e}", path.display()));
        let dispatch: Vec<ep::ExecutionProviderDispatch> = providers
            .iter()
            .map(|provider| match provider {
                ExecutionProvider::Cpu => ep::CPU::default().build(),
                ExecutionProvider::Cuda => ep::CUDA::default().build().error_on_failure(),
                ExecutionProvider::TensorRt => ep::TensorRT::default().build().error_on_failure(),
            })
            .collect();
        let session = Session::builder(environment)
            .map_err(setup)?
            .with_execution_providers(dispatch)
            .map_err(|e| setup(e.into()))?
            // Full fusion, measured per network (docs/BENCHMARKS.md): 2.1x
            // faster for the detector and 1.2x for the template network
            // than basic optimisation on this runtime.
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| setup(e.into()))?
            .with_intra_threads(threads)
            .map_err(|e| setup(e.into()))?
            .with_inter_threads(1)
            .map_err(|e| setup(e.into()))?
            .commit_from_file(&path)
            .map_err(setup)?;
        Ok(Network {
            name: spec.name.clone(),
            session: Mutex::new(session),
        })
    }

    /// Runs the network on `input` (its one input, `input`) and returns the
    /// named outputs, flattened.
    pub fn run(&self, input: &Array4<f32>, outputs: &[&str]) -> Result<Vec<Vec<f32>>, EngineError> {
        let tensor = TensorRef::from_array_view(input.view())?;
        let mut session = self
            .session
            .lock()
            .map_err(|_| EngineError::Inference(format!("{} session poisoned", self.name)))?;
        let results = session.run(ort::inputs!["input" => tensor])?;
        outputs
            .iter()
            .map(|name| {
                let value = results.get(*name).ok_or_else(|| {
                    EngineError::Inference(format!("{} has no output `{name}`", self.name))
                })?;
                let (_, data) = value.try_extract_tensor::<f32>()?;
                Ok(data.to_vec())
            })
            .collect()
    }
}
