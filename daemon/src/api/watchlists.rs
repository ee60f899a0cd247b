//! `/api/v1/Watchlists`: create, upsert, get, delete, list, and the members
//! of one watchlist.

use super::body::{read_json, JsonObject};
use super::paging::{page_request, paged_response};
use super::problem::Problem;
use super::watchlist_members::MemberDto;
use super::{escape_segment, new_id, required_id, rfc3339, rfc3339_opt, Api};
use crate::store::{Watchlist, WatchlistFields};
use rouille::{Request, Response};
use serde::Serialize;

const NAME_MAX_CHARS: usize = 200;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchlistDto {
    display_name: String,
    full_name: String,
    threshold: i32,
    preview_color: String,
    id: String,
    created_at: String,
    updated_at: Option<String>,
}

impl From<Watchlist> for WatchlistDto {
    fn from(w: Watchlist) -> Self {
        WatchlistDto {
            display_name: w.display_name,
            full_name: w.full_name,
            threshold: w.threshold,
            preview_color: w.preview_color,
            id: w.id,
            created_at: rfc3339(w.created_at),
            updated_at: rfc3339_opt(w.updated_at),
        }
    }
}

/// The fields shared by `WatchlistCreateRequest` and `WatchlistUpsertRequest`.
fn parse_fields(body: &JsonObject) -> Result<WatchlistFields, Problem> {
    let preview_color = body.optional_string("previewColor", 7)?;
    if let Some(color) = &preview_color {
        if !is_hex_color(color) {
            return Err(Problem::invalid_field(
                "previewColor",
                format!(
                    "previewColor must be a hexadecimal colour like #012abc or #01a, not `{color}`"
                ),
            ));
        }
    }
    Ok(WatchlistFields {
        display_name: body.required_string("displayName", NAME_MAX_CHARS)?,
        full_name: body.required_string("fullName", NAME_MAX_CHARS)?,
        threshold: body.optional_int("threshold", 0, 100)?,
        preview_color,
    })
}

/// `#rgb` or `#rrggbb`.
fn is_hex_color(color: &str) -> bool {
    color
        .strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("watchlist `{id}` does not exist"))
}

pub fn list(api: &Api, request: &Request) -> Result<Response, Problem> {
    let page_request = page_request(request, api.max_page_size)?;
    let page = api
        .core
        .catalog
        .store
        .list_watchlists(&page_request)
        .map_err(Problem::from)?;
    Ok(paged_response(
        "/api/v1/Watchlists",
        &page_request,
        page.map(WatchlistDto::from),
    ))
}

pub fn create(api: &Api, request: &Request) -> Result<Response, Problem> {
    let body = read_json(request, api.max_body_bytes)?;
    let fields = parse_fields(&body)?;
    let id = new_id();
    let created = api
        .core
        .catalog
        .store
        .create_watchlist(&id, fields)
        .map_err(Problem::from)?
        .ok_or_else(|| Problem::conflict(format!("watchlist `{id}` already exists")))?;
    Ok(Response::json(&WatchlistDto::from(created)).with_status_code(201))
}

pub fn upsert(api: &Api, request: &Request) -> Result<Response, Problem> {
    let body = read_json(request, api.max_body_bytes)?;
    let id = required_id(&body)?;
    let fields = parse_fields(&body)?;
    let watchlist = api
        .core
        .catalog
        .store
        .upsert_watchlist(&id, fields)
        .map_err(Problem::from)?;
    Ok(Response::json(&WatchlistDto::from(watchlist)))
}

pub fn get(api: &Api, id: &str) -> Result<Response, Problem> {
    let watchlist = api
        .core
        .catalog
        .store
        .watchlist(id)
        .map_err(Problem::from)?
        .ok_or_else(|| not_found(id))?;
    Ok(Response::json(&WatchlistDto::from(watchlist)))
}

pub fn delete(api: &Api, id: &str) -> Result<Response, Problem> {
    match api.core.catalog.delete_watchlist(id) {
        Ok(true) => Ok(Response::empty_204()),
        Ok(false) => Err(not_found(id)),
        Err(e) => Err(Problem::from(e)),
    }
}

pub fn members(api: &Api, request: &Request, id: &str) -> Result<Response, Problem> {
    let page_request = page_request(request, api.max_page_size)?;
    let page = api
        .core
        .catalog
        .store
        .watchlist_members(id, &page_request)
        .map_err(Problem::from)?
        .ok_or_else(|| not_found(id))?;
    let path = format!("/api/v1/Watchlists/{}/WatchlistMembers", escape_segment(id));
    Ok(paged_response(
        &path,
        &page_request,
        page.map(MemberDto::from),
    ))
}

#[cfg(test)]
mod tests {
    use super::is_hex_color;

    #[test]
    fn preview_colours_are_short_or_long_hex() {
        for good in ["#012abc", "#01a", "#FFF", "#aBcDeF"] {
            assert!(is_hex_color(good), "{good}");
        }
        for bad in ["012abc", "#01", "#0123", "#12345g", "#1234567", "red", "#"] {
            assert!(!is_hex_color(bad), "{bad}");
        }
    }
}
