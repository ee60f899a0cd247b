//! `/api/v1/Faces`: `Verify` (one photo against another) and `SpoofCheck`
//! (passive liveness).

use super::admission::{Reservation, Ticket};
use super::biometrics::{
    check_device, detector_config, image_field, largest_face, resource_id, Breakdown,
    FaceAttributesDto, Upload, REPORTED,
};
use super::body::{read_json, JsonObject};
use super::problem::Problem;
use super::{new_id, Api};
use crate::score::Scale;
use crate::store::Face;
use facegate_hal::ResourceId;
use facegate_models::{AttributeSet, DetectorConfig, FaceAnalysis};
use rouille::{Request, Response};
use serde::Serialize;
use std::time::Instant;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerificationResponse {
    confidence: f64,
    probe_face_details: FaceAttributesDto,
    reference_face_details: FaceAttributesDto,
}

/// A `FaceProbe` in field `name`: its detector settings and its image,
/// read as far as the image's header.
struct Probe {
    detector: DetectorConfig,
    upload: Upload,
    image_path: String,
}

impl Probe {
    fn read(api: &Api, body: &JsonObject, name: &str) -> Result<Probe, Problem> {
        let probe = body
            .optional_object(name)?
            .ok_or_else(|| Problem::invalid_field(name, format!("{name} is required")))?;
        let accurate = resource_id(api, &probe, "faceDetectorResourceId")?.accurate;
        resource_id(api, &probe, "templateGeneratorResourceId")?;
        Ok(Probe {
            detector: detector_config(&probe, "faceDetectorConfig", accurate)?,
            upload: Upload::field(api, &probe, "image")?,
            image_path: probe.path_of("image"),
        })
    }

    /// The largest face of its image, decoded within `memory`, and where
    /// the time went.
    fn largest_face(
        self,
        api: &Api,
        memory: Reservation<'_>,
    ) -> (Result<FaceAnalysis, Problem>, Breakdown) {
        let mut times = Breakdown::start();
        let face = self.upload.decode(memory).and_then(|image| {
            times.add("decode", image.decoding);
            largest_face(
                api,
                &image.pixels,
                &self.detector,
                REPORTED,
                &self.image_path,
                &mut times,
            )
        });
        (face, times)
    }
}

pub fn verify(api: &Api, request: &Request, ticket: Ticket) -> Result<Response, Problem> {
    let mut times = Breakdown::start();
    let body = read_json(request, api.max_body_bytes)?;
    times.lap("read");
    let _turn = ticket.turn()?;
    times.lap("wait");
    // A probe's error is reported first.
    let probe = Probe::read(api, &body, "probeImage")?;
    let reference = Probe::read(api, &body, "referenceImage")?;
    // Both photos' decoding memory at once: a Verify never holds one photo
    // while it waits for the other's, which could leave every Verify
    // waiting on the others.
    let mut memory = api
        .admission
        .reserve_decode(probe.upload.decode_memory + reference.upload.decode_memory)?;
    let reference_memory = memory.split_off(reference.upload.decode_memory);
    // The two photos are independent work: analysed side by side, on the
    // one admission turn.
    let ((probe, probe_times), (reference, reference_times)) = std::thread::scope(|scope| {
        let reference = scope.spawn(|| reference.largest_face(api, reference_memory));
        let probe = probe.largest_face(api, memory);
        let reference = reference
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (probe, reference)
    });
    times.lap("analyses");
    times.merge("probe ", &probe_times);
    times.merge("reference ", &reference_times);
    times.log("Verify");
    let (probe, reference) = (probe?, reference?);
    let cosine = probe.template.similarity(&reference.template);
    let details = |face: &FaceAnalysis| {
        FaceAttributesDto::from(&Face::from_analysis(
            face,
            api.core.engine.template_model(),
            new_id(),
            None,
            "",
        ))
    };
    Ok(Response::json(&VerificationResponse {
        // Rounded to 0.01: finer than any threshold needs, and stable.
        confidence: (Scale::of_engine(&api.core.engine).confidence_of(cosine) * 100.0).round()
            / 100.0,
        probe_face_details: details(&probe),
        reference_face_details: details(&reference),
    }))
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LivenessCheck {
    performed: bool,
    passed: bool,
    score: f64,
    not_performed_reasons: Option<Vec<FailReason>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailReason {
    reason_message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpoofCheckResponse {
    performed: bool,
    passed: bool,
    distant_liveness_spoof_check: LivenessCheck,
    nearby_liveness_spoof_check: LivenessCheck,
}

/// Smallest face side each liveness check accepts: the network sees the
/// face at 128/2.7 = 47 px, so smaller faces would be scaled up; the
/// nearby check expects a face close to the camera.
const DISTANT_MIN_FACE: f32 = 40.0;
const NEARBY_MIN_FACE: f32 = 100.0;

/// SmartFace's `SpoofCheckConfig` / `WatchlistSpoofCheckConfig`, and which
/// checks were asked for.
pub struct SpoofSettings {
    distant: bool,
    nearby: bool,
    distant_threshold: f64,
    nearby_threshold: f64,
    keep_evaluating: bool,
}

impl SpoofSettings {
    /// Reads `spoofDetectorResourceIds` (default `default_ids`) and the
    /// config object `config_field`. `none` asks for no check.
    pub fn parse(
        api: &Api,
        body: &JsonObject,
        config_field: &str,
        default_ids: &[&str],
    ) -> Result<SpoofSettings, Problem> {
        let field = "spoofDetectorResourceIds";
        let ids = body
            .optional_strings(field, 100)?
            .unwrap_or_else(|| default_ids.iter().map(|s| s.to_string()).collect());
        let (mut distant, mut nearby) = (false, false);
        for id in ids.iter().filter(|id| !id.eq_ignore_ascii_case("none")) {
            let (is_nearby, accelerator) = ResourceId::parse_liveness(id)
                .map_err(|e| Problem::invalid_field(field, e.to_string()))?;
            check_device(api, field, accelerator)?;
            match is_nearby {
                true => nearby = true,
                false => distant = true,
            }
        }
        let config = body.optional_object(config_field)?;
        let number = |name: &str| -> Result<f64, Problem> {
            match &config {
                Some(c) => Ok(c.optional_number(name, 0.0, 100.0)?.unwrap_or(90.0)),
                None => Ok(90.0),
            }
        };
        Ok(SpoofSettings {
            distant,
            nearby,
            distant_threshold: number("distantLivenessScoreThreshold")?,
            nearby_threshold: number("nearbyLivenessScoreThreshold")?,
            keep_evaluating: match &config {
                Some(c) => c
                    .optional_bool("keepEvaluatingConditionsAfterFirstFail")?
                    .unwrap_or(false),
                None => false,
            },
        })
    }

    pub fn any(&self) -> bool {
        self.distant || self.nearby
    }
}

fn not_performed(reason: &str) -> LivenessCheck {
    LivenessCheck {
        not_performed_reasons: Some(vec![FailReason {
            reason_message: reason.to_string(),
        }]),
        ..LivenessCheck::default()
    }
}

/// Runs the requested checks on `face` (or reports why not). `passed` is
/// true when every requested check was performed and passed.
pub fn spoof_check(
    api: &Api,
    image: &facegate_models::RgbImage,
    face: &FaceAnalysis,
    settings: &SpoofSettings,
) -> Result<SpoofCheckResponse, Problem> {
    let mut failed = false;
    let mut run = |wanted: bool,
                   threshold: f64,
                   min_face: f32,
                   name: &str|
     -> Result<LivenessCheck, Problem> {
        if !wanted {
            return Ok(not_performed(&format!(
                "the {name} liveness check was not requested"
            )));
        }
        if face.located.detection.size() < min_face {
            return Ok(not_performed(&format!(
                "the face is too small for the {name} liveness check ({:.0} px, at least {min_face} px)",
                face.located.detection.size()
            )));
        }
        if failed && !settings.keep_evaluating {
            return Ok(not_performed("not evaluated after an earlier check failed"));
        }
        let score = api
            .core
            .engine
            .liveness(image, &face.located)
            .map_err(|e| Problem::internal(&e))?
            .score;
        let passed = f64::from(score) >= threshold;
        failed |= !passed;
        Ok(LivenessCheck {
            performed: true,
            passed,
            score: f64::from(score),
            not_performed_reasons: None,
        })
    };
    let distant = run(
        settings.distant,
        settings.distant_threshold,
        DISTANT_MIN_FACE,
        "distant",
    )?;
    let nearby = run(
        settings.nearby,
        settings.nearby_threshold,
        NEARBY_MIN_FACE,
        "nearby",
    )?;
    let requested = [(settings.distant, &distant), (settings.nearby, &nearby)];
    let passed = settings.any()
        && requested
            .iter()
            .filter(|(wanted, _)| *wanted)
            .all(|(_, check)| check.performed && check.passed);
    Ok(SpoofCheckResponse {
        performed: distant.performed || nearby.performed,
        passed,
        distant_liveness_spoof_check: distant,
        nearby_liveness_spoof_check: nearby,
    })
}

pub fn spoof_check_endpoint(
    api: &Api,
    request: &Request,
    ticket: Ticket,
) -> Result<Response, Problem> {
    let mut times = Breakdown::start();
    let body = read_json(request, api.max_body_bytes)?;
    times.lap("read");
    let _turn = ticket.turn()?;
    times.lap("wait");
    let accurate = resource_id(api, &body, "faceDetectorResourceId")?.accurate;
    let detector = detector_config(&body, "faceDetectorConfig", accurate)?;
    let settings = SpoofSettings::parse(
        api,
        &body,
        "spoofCheckConfig",
        &["liveness_distant_cpu_remote"],
    )?;
    let image = image_field(api, &body, "image")?;
    times.add("decode", image.decoding);
    // A photo without a face is the client's error, as in Verify and Search.
    let face = largest_face(
        api,
        &image.pixels,
        &detector,
        AttributeSet::NONE,
        "image",
        &mut times,
    )?;
    let checking = Instant::now();
    let answer = spoof_check(api, &image.pixels, &face, &settings)?;
    times.add("liveness", checking.elapsed());
    times.log("SpoofCheck");
    Ok(Response::json(&answer))
}
