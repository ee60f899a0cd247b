//! ONNX Runtime: loading the shared library once, with one intra-op thread
//! pool for every network, and one session per network shared by every
//! thread, on the first execution provider that accepts the network.

use crate::error::EngineError;
use crate::manifest::{ModelSpec, FIX_COMMAND};
use crate::precision::Precision;
use crate::providers::{dispatch, ProviderOptions};
use facegate_hal::{choose, ExecutionProvider};
use ndarray::Array4;
use ort::environment::Environment;
use ort::environment::GlobalThreadPoolOptions;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

static RUNTIME: OnceLock<Result<Environment, String>> = OnceLock::new();

/// Loads `libonnxruntime` from `library`, with a pool of `threads` intra-op
/// threads that the networks' runs share; later calls reuse the first
/// result (ONNX Runtime can be loaded once per process). One pool for all:
/// two analyses side by side (a Verify's photos, the door beside a request)
/// then use the cores between them instead of each running its own threads
/// on every core.
pub fn load_runtime(library: &Path, threads: usize) -> Result<&'static Environment, EngineError> {
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
                .with_global_thread_pool(
                    GlobalThreadPoolOptions::default()
                        .with_intra_threads(threads)
                        .and_then(|pool| pool.with_inter_threads(1))
                        .and_then(|pool| pool.with_spin_control(false))
                        .map_err(|e| format!("cannot size ONNX Runtime's threads: {e}"))?,
                )
                .build()
                .map_err(|e| format!("cannot start ONNX Runtime: {e}"))
        })
        .as_ref()
        .map_err(|e| EngineError::Setup(e.clone()))
}

/// One network, loaded once. ort's `Session::run` takes `&mut self`, so
/// threads take turns at a network; different networks run side by side
/// on the shared thread pool. (A second session per network made a Verify
/// 8 % faster for 24 MB more memory: not kept, docs/ENGINE.md.)
pub struct Network {
    name: String,
    /// The name of its one input tensor.
    input: String,
    provider: ExecutionProvider,
    precision: Precision,
    session: Mutex<Session>,
    /// Where every input is appended, raw float32, when recording the
    /// inputs the int8 calibration is computed from.
    recorder: Option<Mutex<File>>,
}

/// How a network's sessions are made.
pub struct SessionSettings<'a> {
    pub environment: &'a Environment,
    /// The providers to try, in order.
    pub candidates: &'a [ExecutionProvider],
    pub options: &'a ProviderOptions,
    pub threads: usize,
    /// Run on its own thread (the environment's pool is for larger ones).
    pub single_threaded: bool,
    /// A directory to record each network's inputs in (`NAME.f32`).
    pub record_inputs: Option<&'a Path>,
}

impl Network {
    /// Loads the network on the first candidate provider that accepts it,
    /// logging each that refused.
    pub fn load(
        spec: &ModelSpec,
        precision: Precision,
        model_dir: &Path,
        settings: &SessionSettings,
    ) -> Result<Network, EngineError> {
        let path = spec.verified_path(model_dir)?;
        let chosen = choose(settings.candidates, |provider, behind| {
            session(&path, provider, behind, settings).map_err(|e| e.to_string())
        })
        .map_err(|e| EngineError::Setup(format!("cannot load {}: {e}", path.display())))?;
        for (provider, why) in &chosen.refused {
            log::warn!(
                "{}: the {provider} execution provider refused it ({why}); trying the next",
                spec.name
            );
        }
        log::debug!(
            "{}: on the {} execution provider",
            spec.name,
            chosen.provider
        );
        let recorder = match settings.record_inputs {
            Some(dir) => {
                let path = dir.join(format!("{}.f32", spec.name));
                let file = File::create(&path).map_err(|e| {
                    EngineError::Setup(format!("cannot record inputs in {}: {e}", path.display()))
                })?;
                Some(Mutex::new(file))
            }
            None => None,
        };
        Ok(Network {
            name: spec.name.clone(),
            input: spec.input.name.clone(),
            provider: chosen.provider,
            precision,
            session: Mutex::new(chosen.loaded),
            recorder,
        })
    }

    /// The precision of the file it runs.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    fn record(&self, input: &Array4<f32>) -> Result<(), EngineError> {
        let Some(recorder) = &self.recorder else {
            return Ok(());
        };
        let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut file = recorder
            .lock()
            .map_err(|_| EngineError::Inference(format!("{} recorder poisoned", self.name)))?;
        file.write_all(&bytes)
            .map_err(|e| EngineError::Inference(format!("recording {}'s input: {e}", self.name)))
    }

    /// The manifest name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The execution provider that took the network.
    pub fn provider(&self) -> ExecutionProvider {
        self.provider
    }

    /// Runs the network on `input` (its one input) and returns the named
    /// outputs, flattened.
    pub fn run(&self, input: &Array4<f32>, outputs: &[&str]) -> Result<Vec<Vec<f32>>, EngineError> {
        self.record(input)?;
        let tensor = TensorRef::from_array_view(input.view())?;
        let mut session = self
            .session
            .lock()
            .map_err(|_| EngineError::Inference(format!("{} session poisoned", self.name)))?;
        let results = session.run(ort::inputs![self.input.as_str() => tensor])?;
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

/// A session on `provider`, which must accept it, with the providers
/// `behind` it registered for the nodes it cannot run.
fn session(
    path: &Path,
    provider: ExecutionProvider,
    behind: &[ExecutionProvider],
    settings: &SessionSettings,
) -> ort::Result<Session> {
    let threads = settings.threads;
    let build = |p: ExecutionProvider| dispatch(p, settings.options, threads);
    let providers: Vec<_> = std::iter::once(build(provider).error_on_failure())
        .chain(behind.iter().map(|p| build(*p)))
        .collect();
    let builder = Session::builder(settings.environment)?
        .with_execution_providers(providers)?
        // Full fusion, measured per network (docs/BENCHMARKS.md): 2.1x
        // faster for the detector and 1.2x for the template network
        // than basic optimisation on this runtime.
        .with_optimization_level(GraphOptimizationLevel::Level3)?;
    let builder = match settings.single_threaded {
        true => builder
            .with_independent_thread_pool()?
            .with_intra_threads(1)?
            .with_inter_threads(1)?,
        false => builder,
    };
    // XNNPACK runs its own thread pool; ONNX Runtime's spinning threads
    // would compete with it for the cores (ONNX Runtime's XNNPACK guide).
    let mut builder = match provider {
        ExecutionProvider::Xnnpack => builder.with_intra_op_spinning(false)?,
        _ => builder,
    };
    builder.commit_from_file(path)
}
