//! `POST /api/v1/Watchlists/Search`: every face in a photo against the
//! enrolled faces of the requested watchlists.

use super::admission::Ticket;
use super::biometrics::{
    analyse, detector_config, image_field, resource_id, Breakdown, FaceAttributesDto,
};
use super::body::{read_json, JsonObject};
use super::faces::{spoof_check, SpoofCheckResponse, SpoofSettings};
use super::problem::Problem;
use super::watchlist_members::LabelDto;
use super::{new_id, Api, ID_MAX_CHARS};
use crate::gallery::Scope;
use crate::score::Scale;
use crate::store::Face;
use facegate_models::AttributeSet;
use rouille::{Request, Response};
use serde::Serialize;
use std::time::Instant;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MatchResult {
    score: i32,
    watchlist_member_id: Option<String>,
    display_name: Option<String>,
    full_name: Option<String>,
    watchlist_display_name: String,
    watchlist_full_name: String,
    watchlist_id: Option<String>,
    preview_color: String,
    labels: Vec<LabelDto>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchResponse {
    match_results: Vec<MatchResult>,
    spoof_check_result: SpoofCheckResponse,
    #[serde(flatten)]
    face: FaceAttributesDto,
}

/// The flags of `faceFeaturesConfig` that Facegate computes nothing for:
/// age and gender are required fields of the response, so they are always
/// computed; the others are not estimated. They are still checked.
const UNUSED_FEATURE_FLAGS: [&str; 7] = [
    "age",
    "gender",
    "faceMask",
    "noseTip",
    "tintedGlasses",
    "heavyFrame",
    "glassStatus",
];

/// `faceFeaturesConfig`: which optional attributes to compute.
fn wanted_features(body: &JsonObject) -> Result<AttributeSet, Problem> {
    let mut wanted = AttributeSet::ALL;
    if let Some(config) = body.optional_object("faceFeaturesConfig")? {
        let flag = |name: &str| -> Result<bool, Problem> {
            Ok(config.optional_bool(name)?.unwrap_or(true))
        };
        let [yaw, pitch, roll] = [flag("yawAngle")?, flag("pitchAngle")?, flag("rollAngle")?];
        wanted.pose = yaw || pitch || roll;
        wanted.sharpness = flag("sharpness")?;
        wanted.brightness = flag("brightness")?;
        for name in UNUSED_FEATURE_FLAGS {
            flag(name)?;
        }
    }
    Ok(wanted)
}

pub fn search(api: &Api, request: &Request, ticket: Ticket) -> Result<Response, Problem> {
    let mut times = Breakdown::start();
    let body = read_json(request, api.max_body_bytes)?;
    times.lap("read");
    let _turn = ticket.turn()?;
    times.lap("wait");
    let watchlist_ids = body
        .optional_strings("watchlistIds", ID_MAX_CHARS)?
        .unwrap_or_default();
    let threshold = body.optional_int("threshold", 0, 100)?.unwrap_or(40);
    let max_results = body.optional_int("maxResultCount", 1, 1000)?.unwrap_or(1) as usize;
    let accurate = resource_id(api, &body, "faceDetectorResourceId")?.accurate;
    resource_id(api, &body, "templateGeneratorResourceId")?;
    let detector = detector_config(&body, "faceDetectorConfig", accurate)?;
    let wanted = wanted_features(&body)?;
    let spoof = SpoofSettings::parse(api, &body, "spoofCheckConfig", &["none"])?;
    for id in &watchlist_ids {
        if api
            .core
            .catalog
            .store
            .watchlist(id)
            .map_err(Problem::from)?
            .is_none()
        {
            return Err(Problem::not_found(format!(
                "watchlist `{id}` does not exist"
            )));
        }
    }
    let scope = match watchlist_ids.is_empty() {
        true => Scope::AnyWatchlist,
        false => Scope::Watchlists(&watchlist_ids),
    };
    let image = image_field(api, &body, "image")?;
    times.add("decode", image.decoding);
    let faces = analyse(api, &image.pixels, &detector, wanted, "image", &mut times)?;
    if faces.is_empty() {
        return Err(Problem::invalid_field(
            "image",
            "image: no face was found in the image",
        ));
    }
    let scale = Scale::of_engine(&api.core.engine);
    let min_cosine = scale.cosine_for_score(threshold);
    let mut responses = Vec::with_capacity(faces.len());
    for face in &faces {
        let searching = Instant::now();
        let candidates =
            api.core
                .catalog
                .search(&face.template.vector, scope, min_cosine, max_results);
        times.add("search", searching.elapsed());
        let mut results = Vec::new();
        // Each candidate names its watchlists within the scope, from the
        // index, so the cap below counts only results the client asked for.
        for candidate in candidates {
            let Some(member) = api
                .core
                .catalog
                .store
                .member(&candidate.member_id)
                .map_err(Problem::from)?
            else {
                continue; // deleted since the scan
            };
            for watchlist_id in &candidate.watchlists {
                let Some(watchlist) = api
                    .core
                    .catalog
                    .store
                    .watchlist(watchlist_id)
                    .map_err(Problem::from)?
                else {
                    continue; // deleted since the scan
                };
                results.push(MatchResult {
                    score: scale.score_of(candidate.cosine),
                    watchlist_member_id: Some(member.id.clone()),
                    display_name: member.display_name.clone(),
                    full_name: member.full_name.clone(),
                    watchlist_display_name: watchlist.display_name,
                    watchlist_full_name: watchlist.full_name,
                    watchlist_id: Some(watchlist.id),
                    preview_color: watchlist.preview_color,
                    labels: member.labels.iter().map(LabelDto::from).collect(),
                });
            }
        }
        results.sort_by_key(|r| std::cmp::Reverse(r.score));
        results.truncate(max_results);
        responses.push(SearchResponse {
            match_results: results,
            spoof_check_result: spoof_check(api, &image.pixels, face, &spoof)?,
            face: FaceAttributesDto::from(&Face::from_analysis(
                face,
                api.core.engine.template_model(),
                new_id(),
                None,
                "",
            )),
        });
    }
    times.log("Search");
    Ok(Response::json(&responses))
}
