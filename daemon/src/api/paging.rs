//! SmartFace paging: `PageNumber` (from 1), `PageSize`, `Ascending` and
//! `ShowTotalCount` query parameters in, a paged collection with relative
//! `previousPage`/`nextPage` links out.
//!
//! Items are ordered by creation time (then id), oldest first unless
//! `Ascending=false`. Defaults: page 1, 10 items, ascending, no total.

use super::problem::Problem;
use crate::store::{Page, PageRequest};
use percent_encoding::percent_decode_str;
use rouille::{Request, Response};
use serde::Serialize;

const DEFAULT_PAGE_SIZE: u32 = 10;

/// The query string's parameters, names lower-cased (ASP.NET Core matches
/// query names case-insensitively) and values decoded.
pub fn query_parameters(request: &Request) -> Result<Vec<(String, String)>, Problem> {
    let query = request.raw_query_string();
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(name)?.to_ascii_lowercase(), decode(value)?))
        })
        .collect()
}

fn decode(text: &str) -> Result<String, Problem> {
    percent_decode_str(&text.replace('+', " "))
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| Problem::bad_request("the query string is not valid UTF-8"))
}

/// Parses the paging parameters; `max_page_size` caps `PageSize`.
pub fn page_request(request: &Request, max_page_size: u32) -> Result<PageRequest, Problem> {
    let mut page = PageRequest {
        number: 1,
        size: DEFAULT_PAGE_SIZE.min(max_page_size),
        ascending: true,
        with_total: false,
    };
    for (name, value) in query_parameters(request)? {
        match name.as_str() {
            "pagenumber" => page.number = positive("PageNumber", &value, i32::MAX as u32)?,
            "pagesize" => page.size = positive("PageSize", &value, max_page_size)?,
            "ascending" => page.ascending = boolean("Ascending", &value)?,
            "showtotalcount" => page.with_total = boolean("ShowTotalCount", &value)?,
            _ => {}
        }
    }
    Ok(page)
}

fn positive(name: &str, value: &str, max: u32) -> Result<u32, Problem> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            Problem::invalid_field(
                name,
                format!("{name} must be an integer from 1 to {max}, not `{value}`"),
            )
        })
}

fn boolean(name: &str, value: &str) -> Result<bool, Problem> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Problem::invalid_field(
            name,
            format!("{name} must be true or false, not `{value}`"),
        )),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PagedCollection<T> {
    total_items_count: Option<u64>,
    items: Vec<T>,
    page_size: u32,
    page_number: u32,
    previous_page: Option<String>,
    next_page: Option<String>,
}

/// The page as a SmartFace paged collection; `path` is the collection's
/// canonical, already escaped path, used to build the neighbour links.
pub fn paged_response<T: Serialize>(path: &str, request: &PageRequest, page: Page<T>) -> Response {
    let link = |number: u32| {
        format!(
            "{path}?PageNumber={number}&PageSize={}&Ascending={}&ShowTotalCount={}",
            request.size, request.ascending, request.with_total
        )
    };
    Response::json(&PagedCollection {
        total_items_count: page.total,
        items: page.items,
        page_size: request.size,
        page_number: request.number,
        previous_page: (request.number > 1).then(|| link(request.number - 1)),
        next_page: page.has_next.then(|| link(request.number + 1)),
    })
}
