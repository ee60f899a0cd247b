//! Members' faces: `WatchlistMembers/Register`, `{id}/AddNewFace`,
//! `{id}/AddFaceFromSystem`, `{id}/RemoveFace` and `{id}/Faces`.

use super::admission::Ticket;
use super::biometrics::{
    detector_config, largest_face, request_image, resource_id, Breakdown, FaceDto, REPORTED,
};
use super::body::{read_json, JsonObject};
use super::paging::{page_request, paged_response};
use super::problem::Problem;
use super::watchlist_members::{member_fields, MemberDto};
use super::watchlists::WatchlistDto;
use super::{escape_segment, new_id, required_id, Api, ID_MAX_CHARS};
use crate::store::{Face, FaceError, StoredImage};
use facegate_models::DetectorConfig;
use rouille::{Request, Response};
use serde::Serialize;
use std::time::Instant;

/// Registration images per request; each is decoded and analysed.
const MAX_IMAGES: usize = 32;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MemberWithRelatedData {
    watchlists: Vec<WatchlistDto>,
    faces: Vec<FaceDto>,
    #[serde(flatten)]
    member: MemberDto,
}

fn face_problem(error: FaceError, member_id: &str, face_id: &str) -> Problem {
    match error {
        FaceError::MemberExists => {
            Problem::conflict(format!("watchlist member `{member_id}` already exists"))
        }
        FaceError::MemberNotFound => {
            Problem::not_found(format!("watchlist member `{member_id}` does not exist"))
        }
        FaceError::WatchlistNotFound(id) => {
            Problem::not_found(format!("watchlist `{id}` does not exist"))
        }
        FaceError::FaceNotFound => Problem::not_found(format!(
            "face `{face_id}` does not exist or is not a face of `{member_id}`"
        )),
        FaceError::FaceTaken => {
            Problem::conflict(format!("face `{face_id}` belongs to another member"))
        }
        FaceError::Store(e) => Problem::from(e),
    }
}

/// The detector settings of a request that enrols faces.
fn enrolment_detector(api: &Api, body: &JsonObject) -> Result<DetectorConfig, Problem> {
    let accurate = resource_id(api, body, "faceDetectorResourceId")?.accurate;
    resource_id(api, body, "templateGeneratorResourceId")?;
    detector_config(body, "faceDetectorConfig", accurate)
}

/// A `RegistrationImageData` with its optional `faceId` checked: the
/// schema types it as a UUID. Facegate names new faces itself, so the value
/// is not used.
fn checked_registration_image(image: JsonObject) -> Result<JsonObject, Problem> {
    image.optional_uuid("faceId")?;
    Ok(image)
}

/// Analyses a `RegistrationImageData`: its largest face becomes a face of
/// `member_id`. Errors name the image's path, e.g. `images[2].data`.
fn enrol(
    api: &Api,
    detector: &DetectorConfig,
    image: &JsonObject,
    member_id: &str,
    times: &mut Breakdown,
) -> Result<(Face, StoredImage), Problem> {
    let path = image.path_of("data");
    let decoded = request_image(api, &path, image.optional_string("data", usize::MAX)?)?;
    times.add("decode", decoded.decoding);
    let face = largest_face(api, &decoded.pixels, detector, REPORTED, &path, times)?;
    let record = Face::from_analysis(
        &face,
        api.core.engine.template_model(),
        new_id(),
        Some(member_id.to_string()),
        &decoded.stored.id,
    );
    Ok((record, decoded.stored))
}

pub fn register(api: &Api, request: &Request, ticket: Ticket) -> Result<Response, Problem> {
    let mut times = Breakdown::start();
    let body = read_json(request, api.max_body_bytes)?;
    times.lap("read");
    let _turn = ticket.turn()?;
    times.lap("wait");
    let id = required_id(&body)?;
    let watchlists = body
        .optional_strings("watchlistIds", ID_MAX_CHARS)?
        .filter(|ids| !ids.is_empty())
        .ok_or_else(|| {
            Problem::invalid_field("watchlistIds", "watchlistIds must hold at least one id")
        })?;
    let images = body
        .optional_array("images")?
        .filter(|images| !images.is_empty())
        .ok_or_else(|| Problem::invalid_field("images", "images must hold at least one image"))?;
    if images.len() > MAX_IMAGES {
        return Err(Problem::invalid_field(
            "images",
            format!("images must hold at most {MAX_IMAGES} images"),
        ));
    }
    let fields = member_fields(&body)?;
    let detector = enrolment_detector(api, &body)?;
    // Facegate keeps no auto-learn photos; the flag is still checked.
    body.optional_bool("keepAutoLearnPhotos")?;
    // Every field is checked before any image is analysed.
    let images = images
        .into_iter()
        .map(|(path, value)| JsonObject::new(value, &path).and_then(checked_registration_image))
        .collect::<Result<Vec<_>, Problem>>()?;
    let faces = images
        .iter()
        .map(|image| enrol(api, &detector, image, &id, &mut times))
        .collect::<Result<Vec<_>, Problem>>()?;
    let storing = Instant::now();
    let registered = api
        .core
        .catalog
        .register(&id, fields, &watchlists, faces)
        .map_err(|e| face_problem(e, &id, ""))?;
    times.add("store", storing.elapsed());
    times.log("Register");
    let reply = MemberWithRelatedData {
        watchlists: registered
            .watchlists
            .into_iter()
            .map(WatchlistDto::from)
            .collect(),
        faces: registered.faces.iter().map(FaceDto::from).collect(),
        member: MemberDto::from(registered.member),
    };
    Ok(Response::json(&reply).with_status_code(201))
}

pub fn add_new_face(
    api: &Api,
    request: &Request,
    member_id: &str,
    ticket: Ticket,
) -> Result<Response, Problem> {
    let mut times = Breakdown::start();
    let body = read_json(request, api.max_body_bytes)?;
    times.lap("read");
    let _turn = ticket.turn()?;
    times.lap("wait");
    let detector = enrolment_detector(api, &body)?;
    let image = body
        .optional_object("imageData")?
        .ok_or_else(|| Problem::invalid_field("imageData", "imageData is required"))
        .and_then(checked_registration_image)?;
    let (face, stored) = enrol(api, &detector, &image, member_id, &mut times)?;
    let storing = Instant::now();
    let face = api
        .core
        .catalog
        .add_face(member_id, face, stored)
        .map_err(|e| face_problem(e, member_id, ""))?;
    times.add("store", storing.elapsed());
    times.log("AddNewFace");
    Ok(Response::json(&FaceDto::from(&face)).with_status_code(201))
}

/// The required `faceId`, in the canonical form face ids are stored in.
fn face_id(body: &JsonObject) -> Result<String, Problem> {
    body.optional_uuid("faceId")?
        .ok_or_else(|| Problem::invalid_field("faceId", "faceId is required"))
}

pub fn add_face_from_system(
    api: &Api,
    request: &Request,
    member_id: &str,
) -> Result<Response, Problem> {
    let body = read_json(request, api.max_body_bytes)?;
    let face_id = face_id(&body)?;
    api.core
        .catalog
        .attach_face(member_id, &face_id)
        .map_err(|e| face_problem(e, member_id, &face_id))?;
    Ok(Response::empty_204())
}

pub fn remove_face(api: &Api, request: &Request, member_id: &str) -> Result<Response, Problem> {
    let body = read_json(request, api.max_body_bytes)?;
    let face_id = face_id(&body)?;
    api.core
        .catalog
        .remove_face(member_id, &face_id)
        .map_err(|e| face_problem(e, member_id, &face_id))?;
    Ok(Response::empty_204())
}

pub fn faces(api: &Api, request: &Request, member_id: &str) -> Result<Response, Problem> {
    let page_request = page_request(request, api.max_page_size)?;
    let page = api
        .core
        .catalog
        .store
        .member_faces(member_id, &page_request)
        .map_err(Problem::from)?
        .ok_or_else(|| {
            Problem::not_found(format!("watchlist member `{member_id}` does not exist"))
        })?;
    let path = format!(
        "/api/v1/WatchlistMembers/{}/Faces",
        escape_segment(member_id)
    );
    Ok(paged_response(
        &path,
        &page_request,
        page.map(|f| FaceDto::from(&f)),
    ))
}
