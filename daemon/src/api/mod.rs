//! The SmartFace-compatible REST API: routing, authentication and the
//! conventions every resource shares. One file per SmartFace resource.
//!
//! Paths match case-insensitively and accept a trailing slash, as the real
//! server does; ids in paths are percent-decoded.

pub mod admission;
mod biometrics;
mod body;
mod door;
mod events;
mod faces;
mod images;
mod member_faces;
mod paging;
mod problem;
mod search;
mod status;
mod version;
mod watchlist_members;
mod watchlists;

use crate::core::access::ApiKey;
use crate::core::event::rfc3339;
use crate::core::origin::{check_acting_request, HostNames};
use crate::core::Core;
use crate::store::Timestamp;
use admission::Admission;
use body::JsonObject;
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use problem::Problem;
use rouille::{Request, Response};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Client-chosen ids (PUT upserts) are bounded like names, and may not hold
/// control characters, which would corrupt logs and links.
pub const ID_MAX_CHARS: usize = 200;

/// What every request handler may use.
pub struct Api {
    pub core: Arc<Core>,
    pub max_image_pixels: u64,
    /// The queue of the requests that run the face engine.
    pub admission: Admission,
    /// The status warns below this many free bytes in the data directory.
    pub low_space_warning_bytes: u64,
    pub max_body_bytes: usize,
    pub max_page_size: u32,
    pub api_key: ApiKey,
    /// The names `Host` may give (see `core::origin`).
    pub host_names: HostNames,
    /// Reported as the assembly's modification time.
    pub binary_modified: SystemTime,
    /// The configuration in force, secrets hidden, for the console.
    pub effective_config: toml::Table,
}

impl Api {
    /// Answers one request, or lets `pages` answer it (the console, which
    /// shares the port and the browser rules); never panics on client
    /// input, and logs it.
    pub fn handle(
        &self,
        request: &Request,
        pages: impl FnOnce(&Request) -> Option<Response>,
    ) -> Response {
        let started = Instant::now();
        let path = request.raw_url().split('?').next().unwrap_or("");
        let response = self
            .screen(request)
            .map(|()| pages(request))
            .and_then(|page| match page {
                Some(page) => Ok(page),
                None => self.authorize(request).and_then(|()| self.route(request)),
            })
            .unwrap_or_else(|problem| problem.into_response(path));
        let level = match response.status_code {
            500.. => log::Level::Warn,
            _ => log::Level::Debug,
        };
        log::log!(
            level,
            "{} {} -> {} in {:.1} ms",
            request.method(),
            request.raw_url(),
            response.status_code,
            started.elapsed().as_secs_f64() * 1e3
        );
        response
    }

    /// The browser rules of `core::origin`, before anything else.
    fn screen(&self, request: &Request) -> Result<(), Problem> {
        let host = request.header("Host");
        self.host_names.check_host(host)?;
        check_acting_request(
            request.method(),
            host,
            request.header("Origin"),
            request.header("Sec-Fetch-Site"),
            request.header("Content-Type"),
            request.is_secure(),
        )?;
        Ok(())
    }

    fn authorize(&self, request: &Request) -> Result<(), Problem> {
        match self
            .api_key
            .admits(request.header("Authorization"), request.header("X-Api-Key"))
        {
            true => Ok(()),
            false => Err(Problem::unauthorized()),
        }
    }

    fn route(&self, request: &Request) -> Result<Response, Problem> {
        let segments = path_segments(request.raw_url())?;
        let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
        let names: Vec<&str> = lower.iter().map(String::as_str).collect();
        let method = request.method();
        // The id, where the route has one, is the fourth segment, as given.
        let id = segments.get(3).map(String::as_str).unwrap_or("");
        // Fixed paths come before the `{id}` paths they would also match.
        match names.as_slice() {
            ["api", "v1", "version"] => only(method, "GET", || version::get(self)),
            ["api", "v1", "watchlists"] => match method {
                "GET" => watchlists::list(self, request),
                "POST" => watchlists::create(self, request),
                "PUT" => watchlists::upsert(self, request),
                _ => Err(Problem::method_not_allowed("GET, POST, PUT")),
            },
            ["api", "v1", "watchlists", "search"] => only(method, "POST", || {
                search::search(self, request, self.admission.admit()?)
            }),
            ["api", "v1", "watchlists", _] => match method {
                "GET" => watchlists::get(self, id),
                "DELETE" => watchlists::delete(self, id),
                _ => Err(Problem::method_not_allowed("GET, DELETE")),
            },
            ["api", "v1", "watchlists", _, "watchlistmembers"] => {
                only(method, "GET", || watchlists::members(self, request, id))
            }
            ["api", "v1", "watchlistmembers"] => match method {
                "GET" => watchlist_members::list(self, request),
                "POST" => watchlist_members::create(self, request),
                "PUT" => watchlist_members::upsert(self, request),
                _ => Err(Problem::method_not_allowed("GET, POST, PUT")),
            },
            ["api", "v1", "watchlistmembers", "linktowatchlist"] => only(method, "POST", || {
                watchlist_members::change_links(self, request, true)
            }),
            ["api", "v1", "watchlistmembers", "unlinkfromwatchlist"] => {
                only(method, "POST", || {
                    watchlist_members::change_links(self, request, false)
                })
            }
            ["api", "v1", "watchlistmembers", "register"] => only(method, "POST", || {
                member_faces::register(self, request, self.admission.admit()?)
            }),
            ["api", "v1", "watchlistmembers", _] => match method {
                "GET" => watchlist_members::get(self, id),
                "DELETE" => watchlist_members::delete(self, id),
                _ => Err(Problem::method_not_allowed("GET, DELETE")),
            },
            ["api", "v1", "watchlistmembers", _, "addnewface"] => only(method, "POST", || {
                member_faces::add_new_face(self, request, id, self.admission.admit()?)
            }),
            ["api", "v1", "watchlistmembers", _, "addfacefromsystem"] => {
                only(method, "POST", || {
                    member_faces::add_face_from_system(self, request, id)
                })
            }
            ["api", "v1", "watchlistmembers", _, "removeface"] => only(method, "POST", || {
                member_faces::remove_face(self, request, id)
            }),
            ["api", "v1", "watchlistmembers", _, "faces"] => {
                only(method, "GET", || member_faces::faces(self, request, id))
            }
            ["api", "v1", "faces", "verify"] => only(method, "POST", || {
                faces::verify(self, request, self.admission.admit()?)
            }),
            ["api", "v1", "faces", "spoofcheck"] => only(method, "POST", || {
                faces::spoof_check_endpoint(self, request, self.admission.admit()?)
            }),
            ["api", "facegate", "v1", "events"] => {
                only(method, "GET", || events::list(self, request))
            }
            ["api", "facegate", "v1", "events", "stream"] => {
                only(method, "GET", || events::stream(self, request))
            }
            ["api", "facegate", "v1", "events", _, "crop"] => {
                only(method, "GET", || events::crop(self, &segments[4]))
            }
            ["api", "facegate", "v1", "status"] => only(method, "GET", || events::status(self)),
            ["api", "facegate", "v1", "config"] => {
                only(method, "GET", || Ok(Response::json(&self.effective_config)))
            }
            ["api", "facegate", "v1", "door", "open"] => only(method, "POST", || door::open(self)),
            ["api", "v1", "images", _] => only(method, "GET", || images::get(self, request, id)),
            _ => Err(Problem::not_found(format!(
                "no endpoint at {}",
                request.raw_url().split('?').next().unwrap_or("")
            ))),
        }
    }
}

/// A path served by one method: `handler` answers that method, any other
/// is 405 naming it in `Allow`.
fn only(
    method: &str,
    allowed: &'static str,
    handler: impl FnOnce() -> Result<Response, Problem>,
) -> Result<Response, Problem> {
    match method == allowed {
        true => handler(),
        false => Err(Problem::method_not_allowed(allowed)),
    }
}

/// The decoded segments of the URL's path; one trailing slash is ignored.
fn path_segments(raw_url: &str) -> Result<Vec<String>, Problem> {
    let path = raw_url.split('?').next().unwrap_or("");
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    path.split('/')
        .map(|segment| {
            percent_decode_str(segment)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| Problem::bad_request("the URL path is not valid UTF-8"))
        })
        .collect()
}

/// An id as a URL path segment.
fn escape_segment(id: &str) -> String {
    utf8_percent_encode(id, NON_ALPHANUMERIC).to_string()
}

/// A fresh id for a record the client did not name.
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The `id` of an upsert request: present, not empty, bounded, printable.
fn required_id(body: &JsonObject) -> Result<String, Problem> {
    let id = body.required_string("id", ID_MAX_CHARS)?;
    if id.is_empty() || id.chars().any(char::is_control) {
        return Err(Problem::invalid_field(
            "id",
            "id must be a non-empty string without control characters",
        ));
    }
    Ok(id)
}

/// RFC 3339 in UTC with microseconds, as SmartFace writes timestamps.
fn rfc3339_opt(time: Option<Timestamp>) -> Option<String> {
    time.map(rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_drop_one_trailing_slash_and_decode_ids() {
        assert_eq!(
            path_segments("/api/v1/Watchlists/a%2Fb%20c/?x=1").unwrap(),
            vec!["api", "v1", "Watchlists", "a/b c"]
        );
        assert!(path_segments("/api/v1/Watchlists/%FF").is_err());
    }

    #[test]
    fn escaped_ids_round_trip_through_path_segments() {
        let id = "odd id/with?chars&é";
        let url = format!("/api/v1/Watchlists/{}", escape_segment(id));
        assert_eq!(path_segments(&url).unwrap()[3], id);
    }
}
