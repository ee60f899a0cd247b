//! `/api/v1/WatchlistMembers`: create, upsert, get, delete, list, and
//! linking members to watchlists.

use super::body::{read_json, JsonObject};
use super::paging::{page_request, paged_response};
use super::problem::Problem;
use super::{new_id, required_id, rfc3339, rfc3339_opt, Api, ID_MAX_CHARS};
use crate::store::{Label, LinkError, Member, MemberFields};
use rouille::{Request, Response};
use serde::Serialize;

const NAME_MAX_CHARS: usize = 200;
const LABEL_KEY_MAX_CHARS: usize = 128;
const LABEL_VALUE_MAX_CHARS: usize = 256;
/// The note has no length in the schema; this bound keeps one record small.
const NOTE_MAX_CHARS: usize = 4096;
/// Labels per member and members per link request, bounded for the same reason.
const MAX_LABELS: usize = 256;
const MAX_LINKED_PER_REQUEST: usize = 10_000;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberDto {
    display_name: Option<String>,
    full_name: Option<String>,
    note: Option<String>,
    labels: Vec<LabelDto>,
    id: String,
    created_at: String,
    updated_at: Option<String>,
}

#[derive(Serialize)]
pub struct LabelDto {
    key: Option<String>,
    value: Option<String>,
}

impl From<&Label> for LabelDto {
    fn from(l: &Label) -> Self {
        LabelDto {
            key: l.key.clone(),
            value: l.value.clone(),
        }
    }
}

impl From<Member> for MemberDto {
    fn from(m: Member) -> Self {
        MemberDto {
            display_name: m.display_name,
            full_name: m.full_name,
            note: m.note,
            labels: m.labels.iter().map(LabelDto::from).collect(),
            id: m.id,
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339_opt(m.updated_at),
        }
    }
}

/// The fields shared by `WatchlistMemberCreateRequest` and
/// `WatchlistMemberUpsertRequest`.
pub fn member_fields(body: &JsonObject) -> Result<MemberFields, Problem> {
    let labels = body.optional_array("labels")?.unwrap_or_default();
    if labels.len() > MAX_LABELS {
        return Err(Problem::invalid_field(
            "labels",
            format!("labels must hold at most {MAX_LABELS} entries"),
        ));
    }
    Ok(MemberFields {
        display_name: body.optional_string("displayName", NAME_MAX_CHARS)?,
        full_name: body.optional_string("fullName", NAME_MAX_CHARS)?,
        note: body.optional_string("note", NOTE_MAX_CHARS)?,
        labels: labels
            .into_iter()
            .map(|(path, value)| {
                let label = JsonObject::new(value, &path)?;
                Ok(Label {
                    key: label.optional_string("key", LABEL_KEY_MAX_CHARS)?,
                    value: label.optional_string("value", LABEL_VALUE_MAX_CHARS)?,
                })
            })
            .collect::<Result<_, Problem>>()?,
    })
}

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("watchlist member `{id}` does not exist"))
}

pub fn list(api: &Api, request: &Request) -> Result<Response, Problem> {
    let page_request = page_request(request, api.max_page_size)?;
    let page = api
        .core
        .catalog
        .store
        .list_members(&page_request)
        .map_err(Problem::from)?;
    Ok(paged_response(
        "/api/v1/WatchlistMembers",
        &page_request,
        page.map(MemberDto::from),
    ))
}

pub fn create(api: &Api, request: &Request) -> Result<Response, Problem> {
    let body = read_json(request, api.max_body_bytes)?;
    let fields = member_fields(&body)?;
    let id = new_id();
    let created = api
        .core
        .catalog
        .store
        .create_member(&id, fields)
        .map_err(Problem::from)?
        .ok_or_else(|| Problem::conflict(format!("watchlist member `{id}` already exists")))?;
    Ok(Response::json(&MemberDto::from(created)).with_status_code(201))
}

pub fn upsert(api: &Api, request: &Request) -> Result<Response, Problem> {
    let body = read_json(request, api.max_body_bytes)?;
    let id = required_id(&body)?;
    let fields = member_fields(&body)?;
    let member = api
        .core
        .catalog
        .store
        .upsert_member(&id, fields)
        .map_err(Problem::from)?;
    Ok(Response::json(&MemberDto::from(member)))
}

pub fn get(api: &Api, id: &str) -> Result<Response, Problem> {
    let member = api
        .core
        .catalog
        .store
        .member(id)
        .map_err(Problem::from)?
        .ok_or_else(|| not_found(id))?;
    Ok(Response::json(&MemberDto::from(member)))
}

pub fn delete(api: &Api, id: &str) -> Result<Response, Problem> {
    match api.core.catalog.delete_member(id) {
        Ok(true) => Ok(Response::empty_204()),
        Ok(false) => Err(not_found(id)),
        Err(e) => Err(Problem::from(e)),
    }
}

/// `LinkToWatchlist` when `link`, else `UnlinkFromWatchlist`: all the
/// members or none.
pub fn change_links(api: &Api, request: &Request, link: bool) -> Result<Response, Problem> {
    let body = read_json(request, api.max_body_bytes)?;
    let watchlist = body.required_string("watchlistId", ID_MAX_CHARS)?;
    let members = body
        .optional_strings("watchlistMembersIds", ID_MAX_CHARS)?
        .ok_or_else(|| {
            Problem::invalid_field("watchlistMembersIds", "watchlistMembersIds is required")
        })?;
    if members.is_empty() || members.len() > MAX_LINKED_PER_REQUEST {
        return Err(Problem::invalid_field(
            "watchlistMembersIds",
            format!("watchlistMembersIds must hold 1 to {MAX_LINKED_PER_REQUEST} ids"),
        ));
    }
    match api.core.catalog.change_links(&watchlist, &members, link) {
        Ok(()) => Ok(Response::empty_204()),
        Err(LinkError::WatchlistNotFound) => Err(Problem::not_found(format!(
            "watchlist `{watchlist}` does not exist"
        ))),
        Err(LinkError::MemberNotFound(id)) => Err(not_found(&id)),
        Err(LinkError::Store(e)) => Err(Problem::from(e)),
    }
}
