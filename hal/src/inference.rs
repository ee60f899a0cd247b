//! Where neural networks run: SmartFace resource ids name a device class
//! (`cpu`, `gpu`, `any`); a platform's `InferenceBackend` says which ONNX
//! Runtime execution providers it has, and `ResourceId::providers` picks.

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
}

impl ExecutionProvider {
    pub fn is_gpu(self) -> bool {
        !matches!(self, ExecutionProvider::Cpu)
    }
}

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
            "a `gpu` resource id needs the CUDA or TensorRT execution provider, and this \
             ONNX Runtime has neither; use `cpu` or `any`, or install a GPU build of ONNX Runtime",
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
    /// The providers to register for this device class on `backend`, in
    /// order of preference.
    pub fn providers(
        self,
        backend: &dyn InferenceBackend,
    ) -> Result<Vec<ExecutionProvider>, NoGpu> {
        let mut gpus: Vec<ExecutionProvider> = backend
            .available()
            .into_iter()
            .filter(|p| p.is_gpu())
            .collect();
        // TensorRT first: ONNX Runtime falls back from it to CUDA per node.
        gpus.sort_by_key(|p| *p != ExecutionProvider::TensorRt);
        match self {
            Accelerator::Cpu => Ok(vec![ExecutionProvider::Cpu]),
            Accelerator::Gpu if gpus.is_empty() => Err(NoGpu),
            Accelerator::Gpu => Ok(gpus),
            Accelerator::Any => {
                gpus.push(ExecutionProvider::Cpu);
                Ok(gpus)
            }
        }
    }
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
    fn gpu_without_a_gpu_provider_is_an_error_and_any_falls_back_to_cpu() {
        let cpu_only = FakeBackend::new(&[ExecutionProvider::Cpu]);
        assert_eq!(Accelerator::Gpu.providers(&cpu_only), Err(NoGpu));
        assert_eq!(
            Accelerator::Any.providers(&cpu_only).unwrap(),
            vec![ExecutionProvider::Cpu]
        );
    }

    #[test]
    fn gpu_prefers_tensorrt_then_cuda() {
        let jetson = FakeBackend::new(&[
            ExecutionProvider::Cpu,
            ExecutionProvider::Cuda,
            ExecutionProvider::TensorRt,
        ]);
        assert_eq!(
            Accelerator::Gpu.providers(&jetson).unwrap(),
            vec![ExecutionProvider::TensorRt, ExecutionProvider::Cuda]
        );
        assert_eq!(
            Accelerator::Any.providers(&jetson).unwrap().last(),
            Some(&ExecutionProvider::Cpu)
        );
        assert_eq!(
            Accelerator::Cpu.providers(&jetson).unwrap(),
            vec![ExecutionProvider::Cpu]
        );
    }
}
