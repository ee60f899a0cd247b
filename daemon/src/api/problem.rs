//! RFC 7807 problem details: the body of every error response.

use crate::core::origin::Refusal;
use crate::store::{Cause, StoreError};
use rouille::Response;
use serde_json::{json, Map, Value};

/// An error answered to the client: status, a short title, and a detail
/// that says what to change. Validation problems also name the field, in an
/// `errors` map shaped like ASP.NET Core's, which SmartFace clients parse.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: u16,
    title: &'static str,
    detail: String,
    field: Option<String>,
    allow: Option<&'static str>,
    /// Seconds the client should wait before trying again.
    retry_after: Option<u64>,
}

impl Problem {
    fn new(status: u16, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            title,
            detail: detail.into(),
            field: None,
            allow: None,
            retry_after: None,
        }
    }

    /// 400 for a request field that breaks the schema; `field` is its JSON
    /// path, e.g. `displayName` or `labels[2].key`.
    pub fn invalid_field(field: &str, detail: impl Into<String>) -> Problem {
        let mut problem = Problem::new(400, "One or more validation errors occurred.", detail);
        problem.field = Some(field.to_string());
        problem
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(400, "Bad Request", detail)
    }

    pub fn unauthorized() -> Problem {
        Problem::new(
            401,
            "Unauthorized",
            "send the API key as `Authorization: Bearer <key>` or `X-Api-Key: <key>`",
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(404, "Not Found", detail)
    }

    pub fn method_not_allowed(allow: &'static str) -> Problem {
        let mut problem = Problem::new(
            405,
            "Method Not Allowed",
            format!("this resource accepts {allow}"),
        );
        problem.allow = Some(allow);
        problem
    }

    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(409, "Conflict", detail)
    }

    pub fn payload_too_large(limit: usize) -> Problem {
        Problem::new(
            413,
            "Payload Too Large",
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    }

    pub fn unsupported_media_type(got: Option<&str>) -> Problem {
        let got = got.map_or("no Content-Type".to_string(), |t| format!("`{t}`"));
        Problem::new(
            415,
            "Unsupported Media Type",
            format!("expected a JSON body (Content-Type: application/json), got {got}"),
        )
    }

    /// 408: a biometric request waited too long for the face engine.
    pub fn request_timeout(detail: impl Into<String>) -> Problem {
        Problem::new(408, "Request Timeout", detail)
    }

    /// 429: too many biometric requests are running or waiting.
    pub fn too_many_requests(detail: impl Into<String>, retry_after: u64) -> Problem {
        let mut problem = Problem::new(429, "Too Many Requests", detail);
        problem.retry_after = Some(retry_after);
        problem
    }

    /// 503: a capacity limit other than the biometric queue is reached.
    pub fn service_unavailable(detail: impl Into<String>, retry_after: u64) -> Problem {
        let mut problem = Problem::new(503, "Service Unavailable", detail);
        problem.retry_after = Some(retry_after);
        problem
    }

    /// 507: a write failed because the data directory's disk is full. It
    /// is the operator's to fix, and the daemon recovers once space is
    /// freed, so the client is told what happened.
    pub fn insufficient_storage(detail: impl Into<String>) -> Problem {
        Problem::new(507, "Insufficient Storage", detail)
    }

    /// 500: the server failed, not the request. The cause goes to the log,
    /// not to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> Problem {
        log::error!("internal error: {cause}");
        Problem::new(
            500,
            "Internal Server Error",
            "the server failed to complete the request; see its log",
        )
    }

    /// The problem as a response to the request for `instance`.
    pub fn into_response(self, instance: &str) -> Response {
        let mut body = Map::new();
        body.insert("type".into(), json!(type_uri(self.status)));
        body.insert("title".into(), json!(self.title));
        body.insert("status".into(), json!(self.status));
        body.insert("detail".into(), json!(self.detail));
        body.insert("instance".into(), json!(instance));
        if let Some(field) = &self.field {
            body.insert(
                "errors".into(),
                json!({ field.as_str(): [self.detail.as_str()] }),
            );
        }
        let mut response = Response::from_data(
            "application/problem+json; charset=utf-8",
            Value::Object(body).to_string(),
        )
        .with_status_code(self.status);
        if let Some(allow) = self.allow {
            response = response.with_additional_header("Allow", allow);
        }
        if let Some(seconds) = self.retry_after {
            response = response.with_additional_header("Retry-After", seconds.to_string());
        }
        if self.status == 401 {
            response = response.with_additional_header("WWW-Authenticate", "Bearer");
        }
        response
    }
}

/// A request a browser was made to send: 421 for another server's name,
/// 403 from another origin, 415 for a type any page may send.
impl From<Refusal> for Problem {
    fn from(refusal: Refusal) -> Problem {
        match refusal {
            Refusal::ForeignHost(detail) => Problem::new(421, "Misdirected Request", detail),
            Refusal::CrossOrigin(detail) => Problem::new(403, "Forbidden", detail),
            Refusal::SimpleContentType(detail) => {
                Problem::new(415, "Unsupported Media Type", detail)
            }
        }
    }
}

/// Seconds a write refused for an unreachable site is asked to wait.
const SITE_RETRY_AFTER_SECONDS: u64 = 5;

/// A storage failure: 507 when the disk is full, 503 when the site cannot
/// be reached, 409 when another door of the site changed the record, else
/// 500.
impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Problem {
        match error.cause() {
            Cause::DiskFull => {
                log::warn!("a write failed: {error}");
                Problem::insufficient_storage(
                    "the disk of the data directory is full, so nothing was stored; \
                     free space on it and retry",
                )
            }
            Cause::SiteUnreachable => Problem::service_unavailable(
                format!(
                    "this door cannot reach its site ({error}), so nothing was stored; \
                     the door goes on recognising: retry when the site is back"
                ),
                SITE_RETRY_AFTER_SECONDS,
            ),
            Cause::SiteConflict => Problem::conflict(format!(
                "another door of the site changed this record meanwhile ({error}), so \
                 nothing was stored; read it again and retry"
            )),
            Cause::SiteTooLarge => Problem::new(
                413,
                "Payload Too Large",
                format!("the site cannot take this write ({error}), so nothing was stored"),
            ),
            Cause::SiteUnconfirmed => Problem::service_unavailable(
                format!(
                    "the site did not confirm the write ({error}): it holds all of it or \
                     none, and all of it reaches this door if it was stored; read it \
                     again before retrying"
                ),
                SITE_RETRY_AFTER_SECONDS,
            ),
            Cause::Io | Cause::Other => Problem::internal(&error),
        }
    }
}

/// The RFC section describing each status, as ASP.NET Core links it: RFC
/// 9110 for the statuses it defines, RFC 6585 for 429 and RFC 4918 (WebDAV)
/// for 507.
fn type_uri(status: u16) -> &'static str {
    match status {
        400 => "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        401 => "https://tools.ietf.org/html/rfc9110#section-15.5.2",
        403 => "https://tools.ietf.org/html/rfc9110#section-15.5.4",
        404 => "https://tools.ietf.org/html/rfc9110#section-15.5.5",
        405 => "https://tools.ietf.org/html/rfc9110#section-15.5.6",
        408 => "https://tools.ietf.org/html/rfc9110#section-15.5.9",
        409 => "https://tools.ietf.org/html/rfc9110#section-15.5.10",
        413 => "https://tools.ietf.org/html/rfc9110#section-15.5.14",
        415 => "https://tools.ietf.org/html/rfc9110#section-15.5.16",
        421 => "https://tools.ietf.org/html/rfc9110#section-15.5.20",
        429 => "https://tools.ietf.org/html/rfc6585#section-4",
        503 => "https://tools.ietf.org/html/rfc9110#section-15.6.4",
        507 => "https://tools.ietf.org/html/rfc4918#section-11.5",
        _ => "https://tools.ietf.org/html/rfc9110#section-15.6.1",
    }
}
