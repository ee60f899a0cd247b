//! Where neural networks run: the config names ONNX Runtime execution
//! providers in order of preference (`engine.execution_providers`); a
//! platform's `InferenceBackend` says which of them its runtime has, and
//! `choose` gives each network the first that accepts it. SmartFace
//! resource ids (`cpu`, `gpu`, `any`) name device classes, which map onto
//! such lists (`Accelerator::preference`).

use std::fmt;

/// The device class a SmartFace resource id asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Accelerator {
    Cpu,
    /// A GPU, or an error when there is none.
    Gpu,
    /// A GPU when there is one, else the CPU.
    Any,
}

/// An ONNX Runtime execution provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionProvider {
    Cpu,
    Cuda,
    TensorRt,
    OpenVino,
    Xnnpack,
    Qnn,
}

impl ExecutionProvider {
    pub const ALL: [ExecutionProvider; 6] = [
        ExecutionProvider::TensorRt,
        ExecutionProvider::Cuda,
        ExecutionProvider::OpenVino,
        ExecutionProvider::Qnn,
        ExecutionProvider::Xnnpack,
        ExecutionProvider::Cpu,
    ];

    /// The name in `engine.execution_providers` and in the status.
    pub fn name(self) -> &'static str {
        match self {
            ExecutionProvider::Cpu => "cpu",
            ExecutionProvider::Cuda => "cuda",
            ExecutionProvider::TensorRt => "tensorrt",
            ExecutionProvider::OpenVino => "openvino",
            ExecutionProvider::Xnnpack => "xnnpack",
            ExecutionProvider::Qnn => "qnn",
        }
    }

    /// A provider by its config name, case-insensitively.
    pub fn parse(name: &str) -> Result<ExecutionProvider, UnknownProvider> {
        ExecutionProvider::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownProvider(name.to_string()))
    }

    /// Whether networks leave the CPU: what a `gpu` resource id asks for.
    /// XNNPACK is a faster CPU kernel library, not an accelerator.
    pub fn is_accelerator(self) -> bool {
        !matches!(self, ExecutionProvider::Cpu | ExecutionProvider::Xnnpack)
    }
}

impl fmt::Display for ExecutionProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProvider(pub String);

impl fmt::Display for UnknownProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = ExecutionProvider::ALL.iter().map(|p| p.name()).collect();
        write!(
            f,
            "unknown execution provider `{}`: expected one of {}",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownProvider {}

/// A platform's inference runtime: which execution providers it can use.
pub trait InferenceBackend: Send + Sync {
    /// Every provider this platform can run networks on.
    fn available(&self) -> Vec<ExecutionProvider>;
}

/// A parsed SmartFace detector or extractor resource id, such as `cpu`,
/// `accurate_gpu` or `liveness_distant_any_remote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceId {
    pub accelerator: Accelerator,
    /// `accurate_*`: slower detection that finds smaller faces.
    pub accurate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownResourceId(pub String);

impl fmt::Display for UnknownResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown resource id `{}`: expected cpu, gpu, any, accurate_cpu, accurate_gpu, \
             accurate_any, or liveness_{{distant,nearby}}_{{cpu,gpu,any}}_remote",
            self.0
        )
    }
}

impl std::error::Error for UnknownResourceId {}

/// No GPU execution provider is present for a `gpu` resource id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoGpu;

impl fmt::Display for NoGpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a `gpu` resource id needs every network on an accelerator (tensorrt, cuda, \
             openvino or qnn in engine.execution_providers, and an ONNX Runtime build that has \
             it); use `cpu` or `any`",
        )
    }
}

impl std::error::Error for NoGpu {}

fn accelerator(name: &str) -> Option<Accelerator> {
    match name {
        "cpu" => Some(Accelerator::Cpu),
        "gpu" => Some(Accelerator::Gpu),
        "any" => Some(Accelerator::Any),
        _ => None,
    }
}

impl ResourceId {
    /// A detector or template extractor id: `cpu`, `gpu`, `any`, or one of
    /// them prefixed with `accurate_`. Case-insensitive.
    pub fn parse(id: &str) -> Result<ResourceId, UnknownResourceId> {
        let lower = id.to_ascii_lowercase();
        let (accurate, device) = match lower.strip_prefix("accurate_") {
            Some(device) => (true, device),
            None => (false, lower.as_str()),
        };
        accelerator(device)
            .map(|accelerator| ResourceId {
                accelerator,
                accurate,
            })
            .ok_or_else(|| UnknownResourceId(id.to_string()))
    }

    /// A liveness detector id, `liveness_{distant,nearby}_{cpu,gpu,any}_remote`;
    /// returns whether it is the `nearby` one, and the device class.
    pub fn parse_liveness(id: &str) -> Result<(bool, Accelerator), UnknownResourceId> {
        let lower = id.to_ascii_lowercase();
        let unknown = || UnknownResourceId(id.to_string());
        let rest = lower.strip_prefix("liveness_").ok_or_else(unknown)?;
        let rest = rest.strip_suffix("_remote").ok_or_else(unknown)?;
        let (distance, device) = rest.split_once('_').ok_or_else(unknown)?;
        let nearby = match distance {
            "nearby" => true,
            "distant" => false,
            _ => return Err(unknown()),
        };
        Ok((nearby, accelerator(device).ok_or_else(unknown)?))
    }
}

impl Accelerator {
    /// The `engine.execution_providers` list this device class stands for.
    pub fn preference(self) -> Vec<ExecutionProvider> {
        // TensorRT first: ONNX Runtime hands the nodes it cannot take to
        // CUDA, registered after it.
        let gpus = [ExecutionProvider::TensorRt, ExecutionProvider::Cuda];
        match self {
            Accelerator::Cpu => vec![ExecutionProvider::Cpu],
            Accelerator::Gpu => gpus.to_vec(),
            Accelerator::Any => [&gpus[..], &[ExecutionProvider::Cpu]].concat(),
        }
    }
}

/// The wanted providers split by whether the loaded runtime has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usable {
    /// In the order wanted.
    pub present: Vec<ExecutionProvider>,
    /// Wanted, but not built into this runtime.
    pub missing: Vec<ExecutionProvider>,
}

/// None of the wanted providers is in the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoneUsable {
    pub wanted: Vec<ExecutionProvider>,
    pub available: Vec<ExecutionProvider>,
}

impl fmt::Display for NoneUsable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "has no {} execution provider (it has: {})",
            names(&self.wanted, " or "),
            names(&self.available, ", ")
        )
    }
}

impl std::error::Error for NoneUsable {}

fn names(providers: &[ExecutionProvider], separator: &str) -> String {
    let names: Vec<&str> = providers.iter().map(|p| p.name()).collect();
    names.join(separator)
}

/// Splits `wanted` into the providers `backend` has and those it lacks;
/// an error when it has none of them.
pub fn usable(
    wanted: &[ExecutionProvider],
    backend: &dyn InferenceBackend,
) -> Result<Usable, NoneUsable> {
    let available = backend.available();
    let (present, missing) = wanted.iter().copied().partition(|p| available.contains(p));
    let usable = Usable { present, missing };
    match usable.present.is_empty() {
        true => Err(NoneUsable {
            wanted: wanted.to_vec(),
            available,
        }),
        false => Ok(usable),
    }
}

/// What one network ended up with.
#[derive(Debug)]
pub struct Chosen<T> {
    pub provider: ExecutionProvider,
    pub loaded: T,
    /// Providers tried before it that refused the network, with why.
    pub refused: Vec<(ExecutionProvider, String)>,
}

/// Every provider refused the network; each with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllRefused(pub Vec<(ExecutionProvider, String)>);

impl fmt::Display for AllRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reasons: Vec<String> = self
            .0
            .iter()
            .map(|(provider, why)| format!("{provider}: {why}"))
            .collect();
        write!(
            f,
            "no execution provider accepted it ({})",
            reasons.join("; ")
        )
    }
}

impl std::error::Error for AllRefused {}

/// Gives a network the first of `candidates` that `load` accepts it on.
/// `load` receives the candidate and the candidates after it, which ONNX
/// Runtime may use for the nodes the first cannot run.
pub fn choose<T>(
    candidates: &[ExecutionProvider],
    mut load: impl FnMut(ExecutionProvider, &[ExecutionProvider]) -> Result<T, String>,
) -> Result<Chosen<T>, AllRefused> {
    let mut refused = Vec::new();
    for (i, provider) in candidates.iter().enumerate() {
        match load(*provider, &candidates[i + 1..]) {
            Ok(loaded) => {
                return Ok(Chosen {
                    provider: *provider,
                    loaded,
                    refused,
                })
            }
            Err(why) => refused.push((*provider, why)),
        }
    }
    Err(AllRefused(refused))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::FakeBackend;

    #[test]
    fn detector_ids_parse_case_insensitively() {
        let accurate_gpu = ResourceId::parse("Accurate_GPU").unwrap();
        assert_eq!(accurate_gpu.accelerator, Accelerator::Gpu);
        assert!(accurate_gpu.accurate);
        assert!(!ResourceId::parse("cpu").unwrap().accurate);
        for bad in [
            "",
            "tpu",
            "accurate_",
            "accurate_cpu_remote",
            "liveness_distant_cpu_remote",
        ] {
            assert!(ResourceId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn liveness_ids_name_distance_and_device() {
        assert_eq!(
            ResourceId::parse_liveness("liveness_nearby_any_remote").unwrap(),
            (true, Accelerator::Any)
        );
        assert_eq!(
            ResourceId::parse_liveness("liveness_distant_cpu_remote").unwrap(),
            (false, Accelerator::Cpu)
        );
        for bad in [
            "liveness_far_cpu_remote",
            "liveness_distant_cpu",
            "cpu",
            "liveness_nearby_tpu_remote",
        ] {
            assert!(ResourceId::parse_liveness(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn provider_names_parse_case_insensitively_and_round_trip() {
        for provider in ExecutionProvider::ALL {
            assert_eq!(ExecutionProvider::parse(provider.name()), Ok(provider));
        }
        assert_eq!(
            ExecutionProvider::parse("TensorRT"),
            Ok(ExecutionProvider::TensorRt)
        );
        let unknown = ExecutionProvider::parse("tpu").unwrap_err().to_string();
        assert!(
            unknown.contains("tpu") && unknown.contains("xnnpack"),
            "{unknown}"
        );
    }

    #[test]
    fn device_classes_map_onto_provider_lists() {
        use ExecutionProvider::*;
        assert_eq!(Accelerator::Cpu.preference(), vec![Cpu]);
        assert_eq!(Accelerator::Gpu.preference(), vec![TensorRt, Cuda]);
        assert_eq!(Accelerator::Any.preference(), vec![TensorRt, Cuda, Cpu]);
    }

    #[test]
    fn providers_the_runtime_lacks_are_set_aside_in_order() {
        use ExecutionProvider::*;
        let jetson = FakeBackend::new(&[Cpu, Cuda, TensorRt]);
        assert_eq!(
            usable(&[Qnn, TensorRt, OpenVino, Cuda, Cpu], &jetson),
            Ok(Usable {
                present: vec![TensorRt, Cuda, Cpu],
                missing: vec![Qnn, OpenVino],
            })
        );
    }

    #[test]
    fn wanting_only_providers_the_runtime_lacks_is_an_error_naming_them() {
        use ExecutionProvider::*;
        let cpu_only = FakeBackend::new(&[Cpu]);
        let error = usable(&[Cuda], &cpu_only).unwrap_err();
        assert_eq!(
            error.to_string(),
            "has no cuda execution provider (it has: cpu)"
        );
        let error = usable(&Accelerator::Gpu.preference(), &cpu_only).unwrap_err();
        assert!(error.to_string().contains("tensorrt or cuda"), "{error}");
    }

    #[test]
    fn a_network_takes_the_first_provider_that_accepts_it_with_the_rest_behind() {
        use ExecutionProvider::*;
        let mut tried = Vec::new();
        let chosen = choose(&[TensorRt, Cuda, Cpu], |provider, behind| {
            tried.push((provider, behind.to_vec()));
            match provider {
                TensorRt => Err("no GPU found".to_string()),
                _ => Ok("session"),
            }
        })
        .unwrap();
        assert_eq!(chosen.provider, Cuda);
        assert_eq!(chosen.loaded, "session");
        assert_eq!(chosen.refused, vec![(TensorRt, "no GPU found".to_string())]);
        assert_eq!(
            tried,
            vec![(TensorRt, vec![Cuda, Cpu]), (Cuda, vec![Cpu])],
            "stops at the first that accepts"
        );
    }

    #[test]
    fn a_network_no_provider_accepts_is_an_error_with_every_reason() {
        use ExecutionProvider::*;
        let error = choose::<()>(&[Cuda, Cpu], |provider, _| {
            Err(format!("{provider} says no"))
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "no execution provider accepted it (cuda: cuda says no; cpu: cpu says no)"
        );
    }
}
