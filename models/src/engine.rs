//! The face engine: every network loaded once, the stages in order.

use crate::align::{align, align_to, FivePoints, ALIGNED_SIZE, REFERENCE};
use crate::attributes::{AttributeNetworks, AttributeSet, Attributes};
use crate::detector::{Detection, Detector, DetectorConfig};
use crate::error::EngineError;
use crate::landmarks::{LandmarkNetwork, Landmarks};
use crate::liveness::{Liveness, LivenessNetwork};
use crate::manifest::MANIFEST;
use crate::precision::{Precision, Precisions};
use crate::providers::{OrtBackend, ProviderOptions};
use crate::refine::PointNetwork;
use crate::runtime::{load_runtime, Network, SessionSettings};
use crate::sampling::Patch;
use crate::template::{Preprocessing, Template, TemplateNetwork};
use crate::template_model::{Calibration, ChannelOrder, TemplateModel};
use crate::timing::{timed, StageTimes};
use facegate_hal::{usable, Accelerator, ExecutionProvider};
use image::RgbImage;
use std::path::PathBuf;

/// The networks the engine loads, by manifest name.
pub const NETWORKS: [&str; 7] = [
    "fr_detect",
    "fr_landmark",
    "fr_feature",
    "fr_liveness",
    "fr_pose",
    "fr_age",
    "fr_gender",
];

/// The network that makes templates, unless `EngineConfig::template_model`
/// names another.
const TEMPLATE_NETWORK: &str = "fr_feature";

/// The network that places the five alignment points with
/// `Alignment::Mtcnn`.
pub const POINT_NETWORK: &str = "mtcnn_onet";

/// Where the five points that align a face for its template come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Alignment {
    /// Reduced from the 68 landmarks (`fr_landmark`).
    Landmarks,
    /// Placed by MTCNN's output network (`mtcnn_onet`) in the face box,
    /// each averaged with the landmarks' (two independent estimates: the
    /// mean aligned best on the tuning part, docs/BENCHMARKS.md).
    Mtcnn,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The directory holding the `fr_*.onnx` files.
    pub model_dir: PathBuf,
    /// `libonnxruntime.so`.
    pub runtime_library: PathBuf,
    /// Threads each network run may use.
    pub threads: usize,
    /// Execution providers in order of preference; each network takes the
    /// first that the runtime has and that accepts it.
    pub execution_providers: Vec<ExecutionProvider>,
    pub provider_options: ProviderOptions,
    /// Add the mirrored face's output to each template.
    pub flip_templates: bool,
    pub alignment: Alignment,
    /// Which networks run their int8 file.
    pub precision: Precisions,
    /// Record every network input in this directory (int8 calibration).
    pub record_inputs: Option<PathBuf>,
    /// A template model of the user's own in place of `fr_feature`.
    pub template_model: Option<TemplateModel>,
}

pub struct FaceEngine {
    detector: Detector,
    landmarks: LandmarkNetwork,
    templates: TemplateNetwork,
    liveness: LivenessNetwork,
    attributes: AttributeNetworks,
    /// With `Alignment::Mtcnn`.
    points: Option<PointNetwork>,
    /// Each network's manifest name and execution provider.
    providers: Vec<(String, ExecutionProvider)>,
    /// Each network's manifest name and precision.
    precisions: Vec<(String, Precision)>,
    /// What made the templates: see `template_model`.
    template_model: String,
    runtime_library: PathBuf,
    flip_templates: bool,
    /// A template model's own alignment template and size, where it is not
    /// ArcFace's 112x112.
    template_alignment: Option<([[f32; 2]; 5], usize)>,
    /// A template model's own calibration (faceplugin's is the daemon's).
    calibration: Option<Calibration>,
}

/// A face aligned to 112x112 (eyes level, ArcFace reference points), which
/// the quality measures read, and where a template model aligns its own
/// way, the face as it expects it.
pub struct AlignedFace {
    standard: Patch,
    for_template: Option<Patch>,
}

/// What an analysis computes for each face it finds.
#[derive(Debug, Clone, Copy)]
pub struct AnalysisRequest {
    pub detector: DetectorConfig,
    pub attributes: AttributeSet,
    pub liveness: bool,
}

/// One face found in an image, analysed as requested.
#[derive(Debug, Clone)]
pub struct FaceAnalysis {
    pub located: LocatedFace,
    pub template: Template,
    pub attributes: Attributes,
    pub liveness: Option<Liveness>,
    /// 1-based rank by size among the faces found.
    pub rank: usize,
    pub faces_in_image: usize,
}

/// One detected face with its landmarks: what every later stage needs.
#[derive(Debug, Clone)]
pub struct LocatedFace {
    pub detection: Detection,
    pub landmarks: Landmarks,
    /// The five points the face is aligned by (see `Alignment`).
    pub points: FivePoints,
}

impl FaceEngine {
    pub fn load(config: &EngineConfig) -> Result<FaceEngine, EngineError> {
        let own = config.template_model.as_ref();
        if let Some(model) = own {
            model.calibrated()?;
        }
        let precision_of = |name: &str| match own {
            Some(model) if name == TEMPLATE_NETWORK => model.precision,
            _ => config.precision.of(name),
        };
        let specs = NETWORKS.map(|name| match own {
            Some(model) if name == TEMPLATE_NETWORK => model.spec(),
            _ => MANIFEST.network(name, precision_of(name)),
        });
        let point_spec =
            (config.alignment == Alignment::Mtcnn).then(|| MANIFEST.model(POINT_NETWORK));
        let missing: Vec<_> = specs
            .iter()
            .chain(point_spec)
            .filter(|spec| !config.model_dir.join(&spec.file).is_file())
            .collect();
        if let Some(first) = missing.first() {
            let files: Vec<&str> = missing.iter().map(|spec| spec.file.as_str()).collect();
            return Err(EngineError::Setup(format!(
                "model files missing from {}: {}; run `{}` to install them",
                config.model_dir.display(),
                files.join(", "),
                first.fix()
            )));
        }
        let environment = load_runtime(&config.runtime_library, config.threads)?;
        let library = config.runtime_library.display();
        let wanted = &config.execution_providers;
        let runnable = usable(wanted, &OrtBackend).map_err(|e| {
            EngineError::Setup(format!(
                "engine.execution_providers = {}: the ONNX Runtime library {library} {e}",
                list(wanted)
            ))
        })?;
        if !runnable.missing.is_empty() {
            log::warn!(
                "the ONNX Runtime library {library} has no {} execution provider; using {}",
                list(&runnable.missing),
                list(&runnable.present)
            );
        }
        let load = |spec: &crate::ModelSpec, precision: Precision| {
            // Networks on 64x64 inputs or smaller finish before a second
            // thread pays for itself (measured: SSR-Net age and gender ran
            // slower on 2 threads than on 1).
            let small = spec.input.shape.iter().skip(2).all(|side| *side <= 64);
            let settings = SessionSettings {
                environment,
                candidates: &runnable.present,
                options: &config.provider_options,
                threads: if small { 1 } else { config.threads },
                single_threaded: small,
                record_inputs: config.record_inputs.as_deref(),
            };
            Network::load(spec, precision, &config.model_dir, &settings)
        };
        let networks: [_; NETWORKS.len()] =
            std::array::from_fn(|i| load(&specs[i], precision_of(NETWORKS[i])));
        // Only float32: the network is small and has no int8 file.
        let points = point_spec
            .map(|spec| load(spec, Precision::Fp32))
            .transpose()?;
        let providers = networks
            .iter()
            .flatten()
            .chain(&points)
            .map(|network| (network.name().to_string(), network.provider()))
            .collect();
        let precisions = networks
            .iter()
            .flatten()
            .chain(&points)
            .map(|network| (network.name().to_string(), network.precision()))
            .collect();
        let template_model = match own {
            Some(model) => model_id(
                &model.name,
                model.precision,
                &model.sha256,
                config.flip_templates,
                config.alignment,
            ),
            None => template_model(
                config.precision.of(TEMPLATE_NETWORK),
                config.flip_templates,
                config.alignment,
            ),
        };
        let preprocessing = match own {
            Some(model) => Preprocessing {
                bgr: model.channels == ChannelOrder::Bgr,
                mean: model.mean,
                scale: model.scale,
                output: model.output.clone(),
                dimension: model.dimension,
                normalise: model.normalise,
                magnitudes: model.calibrated()?.magnitudes,
            },
            None => Preprocessing::faceplugin(),
        };
        let template_alignment = own
            .filter(|model| model.points != REFERENCE || model.size != ALIGNED_SIZE)
            .map(|model| (model.points, model.size));
        let [detect, landmark, feature, liveness, pose, age, gender] = networks;
        Ok(FaceEngine {
            detector: Detector::new(detect?),
            landmarks: LandmarkNetwork::new(landmark?),
            templates: TemplateNetwork::new(feature?, preprocessing),
            liveness: LivenessNetwork::new(liveness?),
            attributes: AttributeNetworks {
                age: age?,
                gender: gender?,
                pose: pose?,
            },
            points: points.map(PointNetwork::new),
            providers,
            precisions,
            template_model,
            runtime_library: config.runtime_library.clone(),
            flip_templates: config.flip_templates,
            template_alignment,
            calibration: own.and_then(|model| model.calibration.clone()),
        })
    }

    /// Each network by manifest name, with the execution provider it runs on.
    pub fn providers(&self) -> &[(String, ExecutionProvider)] {
        &self.providers
    }

    /// Each network by manifest name, with the precision it runs in.
    pub fn precisions(&self) -> &[(String, Precision)] {
        &self.precisions
    }

    /// Names what makes the templates: the template network's precision,
    /// the start of its file's sha256, and `+flip` when mirrored faces are
    /// added. Templates with different names must never be compared.
    pub fn template_model(&self) -> &str {
        &self.template_model
    }

    /// The precision of the template network.
    pub fn template_precision(&self) -> Precision {
        self.templates.precision()
    }

    /// The score calibration of a template model of the user's own; `None`
    /// for faceplugin's, whose scales are built in.
    pub fn template_calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    /// The ONNX Runtime library the networks run on.
    pub fn runtime_library(&self) -> &std::path::Path {
        &self.runtime_library
    }

    /// Checks that a request's device class can be served: `gpu` needs
    /// every network on an accelerator.
    pub fn check_accelerator(&self, wanted: Accelerator) -> Result<(), EngineError> {
        let accelerated = self.providers().iter().all(|(_, p)| p.is_accelerator());
        match wanted {
            Accelerator::Gpu if !accelerated => {
                Err(EngineError::Device(facegate_hal::NoGpu.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// Face boxes in the image, largest first.
    pub fn detect(
        &self,
        image: &RgbImage,
        config: &DetectorConfig,
    ) -> Result<Vec<Detection>, EngineError> {
        self.detector.detect(image, config)
    }

    /// The landmarks of a detected face, and its alignment points.
    pub fn landmarks(
        &self,
        image: &RgbImage,
        detection: Detection,
    ) -> Result<LocatedFace, EngineError> {
        let landmarks = self.landmarks.locate(image, &detection.bbox)?;
        let points = match &self.points {
            Some(network) => network
                .locate(image, &detection.bbox)?
                .midway(&landmarks.five_points()),
            None => landmarks.five_points(),
        };
        Ok(LocatedFace {
            landmarks,
            points,
            detection,
        })
    }

    /// Faces in the image, largest first, with their landmarks.
    pub fn locate(
        &self,
        image: &RgbImage,
        config: &DetectorConfig,
    ) -> Result<Vec<LocatedFace>, EngineError> {
        self.detect(image, config)?
            .into_iter()
            .map(|detection| self.landmarks(image, detection))
            .collect()
    }

    /// The whole pipeline, the one every front end uses: detect, then for
    /// each face (largest first) landmarks, alignment, template, and the
    /// attributes and liveness asked for.
    pub fn analyse(
        &self,
        image: &RgbImage,
        request: &AnalysisRequest,
    ) -> Result<Vec<FaceAnalysis>, EngineError> {
        Ok(self.analyse_timed(image, request)?.0)
    }

    /// `analyse`, with the time each stage took.
    pub fn analyse_timed(
        &self,
        image: &RgbImage,
        request: &AnalysisRequest,
    ) -> Result<(Vec<FaceAnalysis>, StageTimes), EngineError> {
        let mut times = StageTimes::default();
        let detected = timed(&mut times.detect, || self.detect(image, &request.detector))?;
        let faces_in_image = detected.len();
        let mut faces = Vec::with_capacity(faces_in_image);
        for (i, detection) in detected.into_iter().enumerate() {
            let face = timed(&mut times.landmarks, || self.landmarks(image, detection))?;
            let aligned = timed(&mut times.align, || self.align(image, &face));
            let template = timed(&mut times.template, || self.template(&aligned))?;
            let attributes = timed(&mut times.attributes, || {
                self.attributes(image, &face, &aligned, request.attributes)
            })?;
            let liveness = match request.liveness {
                true => Some(timed(&mut times.liveness, || self.liveness(image, &face))?),
                false => None,
            };
            faces.push(FaceAnalysis {
                located: face,
                template,
                attributes,
                liveness,
                rank: i + 1,
                faces_in_image,
            });
        }
        Ok((faces, times))
    }

    /// The face cut out and aligned for the template and quality measures.
    pub fn align(&self, image: &RgbImage, face: &LocatedFace) -> AlignedFace {
        AlignedFace {
            standard: align(image, &face.points),
            for_template: self
                .template_alignment
                .map(|(reference, size)| align_to(image, &face.points, &reference, size)),
        }
    }

    pub fn template(&self, face: &AlignedFace) -> Result<Template, EngineError> {
        let patch = face.for_template.as_ref().unwrap_or(&face.standard);
        self.templates.extract(patch, self.flip_templates)
    }

    pub fn liveness(&self, image: &RgbImage, face: &LocatedFace) -> Result<Liveness, EngineError> {
        self.liveness.check(image, &face.detection.bbox)
    }

    pub fn attributes(
        &self,
        image: &RgbImage,
        face: &LocatedFace,
        aligned: &AlignedFace,
        wanted: AttributeSet,
    ) -> Result<Attributes, EngineError> {
        let points = face.landmarks.five_points();
        self.attributes.estimate(
            image,
            &face.detection.bbox,
            &points,
            &aligned.standard,
            wanted,
        )
    }
}

/// What makes templates in `precision`, with or without the mirrored face,
/// on faces aligned by `alignment` (see `FaceEngine::template_model`), e.g.
/// `fr_feature-int8-0a1b2c3d+flip+mtcnn`.
pub fn template_model(precision: Precision, flip: bool, alignment: Alignment) -> String {
    let spec = MANIFEST.network(TEMPLATE_NETWORK, precision);
    model_id(&spec.name, precision, &spec.sha256, flip, alignment)
}

/// `NAME-PRECISION-SHA8[+flip][+mtcnn-SHA8]`.
fn model_id(
    name: &str,
    precision: Precision,
    sha256: &str,
    flip: bool,
    alignment: Alignment,
) -> String {
    let points = match alignment {
        Alignment::Landmarks => String::new(),
        Alignment::Mtcnn => {
            let points = MANIFEST.model(POINT_NETWORK);
            format!("+mtcnn-{}", &points.sha256[..8])
        }
    };
    format!(
        "{name}-{precision}-{}{}{points}",
        &sha256[..8],
        if flip { "+flip" } else { "" }
    )
}

/// Providers as the config writes them: `["cuda", "cpu"]`.
fn list(providers: &[ExecutionProvider]) -> String {
    let quoted: Vec<String> = providers.iter().map(|p| format!("\"{p}\"")).collect();
    format!("[{}]", quoted.join(", "))
}
