//! Facegate's patch: a request's head, parsed by httparse once it has
//! arrived whole, and the rules that refuse it before any worker sees it.

use std::str::FromStr;

use ascii::AsciiString;

use crate::limits::Limits;
use crate::{HTTPVersion, Header, HeaderField, Method};

/// How the body that follows a head is delimited.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
}

#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) version: HTTPVersion,
    pub(crate) headers: Vec<Header>,
    pub(crate) framing: Framing,
    pub(crate) expects_continue: bool,
    /// Whether the client will send another request on the connection.
    pub(crate) keep_alive: bool,
}

/// A head answered by the server itself, and the connection closed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) detail: &'static str,
}

fn refuse(status: u16, detail: &'static str) -> Refusal {
    Refusal { status, detail }
}

/// Parses a complete head (ending with its empty line).
pub(crate) fn parse(bytes: &[u8], limits: &Limits) -> Result<Head, Refusal> {
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut request = httparse::Request::new(&mut slots);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(refuse(400, "the request's head is malformed")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(refuse(431, "the request has too many headers"))
        }
        Err(httparse::Error::Version) => {
            return Err(refuse(505, "only HTTP/1.0 and HTTP/1.1 are served"))
        }
        Err(_) => return Err(refuse(400, "the request's head is malformed")),
    }
    let method = Method::from_str(request.method.unwrap_or(""))
        .map_err(|()| refuse(400, "the request method is malformed"))?;
    let path = request.path.unwrap_or("").to_string();
    let version = match request.version {
        Some(0) => HTTPVersion(1, 0),
        _ => HTTPVersion(1, 1),
    };
    let headers = request
        .headers
        .iter()
        .map(|header| {
            let field = HeaderField::from_bytes(header.name.as_bytes());
            let value = AsciiString::from_ascii(header.value.trim_ascii());
            match (field, value) {
                (Ok(field), Ok(value)) => Ok(Header { field, value }),
                _ => Err(refuse(400, "a header is not ASCII text")),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.field.equiv(name))
            .map(|h| h.value.as_str())
    };
    let framing = framing(values("Transfer-Encoding"), values("Content-Length"), limits)?;
    let expects_continue = match values("Expect").next() {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("100-continue") => true,
        Some(_) => return Err(refuse(417, "only `Expect: 100-continue` is understood")),
    };
    let connection: Vec<String> = values("Connection")
        .flat_map(|v| v.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .collect();
    let has = |token: &str| connection.iter().any(|t| t == token);
    let keep_alive = match version {
        HTTPVersion(1, 0) => has("keep-alive"),
        _ => !has("close"),
    } && !has("upgrade");
    Ok(Head {
        method,
        path,
        version,
        headers,
        framing,
        expects_continue,
        keep_alive,
    })
}

/// The body's framing, refusing what could be read two ways (RFC 9112,
/// 6.3: a request smuggled past a proxy) and a declared length over the
/// limit, before anything is set aside for it.
fn framing<'a>(
    mut transfer_encodings: impl Iterator<Item = &'a str>,
    lengths: impl Iterator<Item = &'a str>,
    limits: &Limits,
) -> Result<Framing, Refusal> {
    let lengths: Vec<&str> = lengths.flat_map(|v| v.split(',')).map(str::trim).collect();
    if let Some(coding) = transfer_encodings.next() {
        if !lengths.is_empty() {
            return Err(refuse(
                400,
                "the request has both Transfer-Encoding and Content-Length",
            ));
        }
        let last = coding.rsplit(',').next().unwrap_or("").trim();
        return match transfer_encodings.next().is_none() && last.eq_ignore_ascii_case("chunked") {
            true => Ok(Framing::Chunked),
            false => Err(refuse(501, "only the chunked transfer coding is understood")),
        };
    }
    let Some(first) = lengths.first() else {
        return Ok(Framing::Empty);
    };
    if lengths.iter().any(|length| length != first) {
        return Err(refuse(400, "the request has conflicting Content-Length headers"));
    }
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse(400, "the Content-Length header is not a number"));
    }
    // Too many digits for a u64 is too large all the same.
    match first.parse::<u64>() {
        Ok(length) if length <= limits.max_body_bytes => Ok(match length {
            0 => Framing::Empty,
            length => Framing::Length(length),
        }),
        _ => Err(refuse(413, "the request body is larger than the server accepts")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Head, Refusal> {
        parse(text.as_bytes(), &Limits::default())
    }

    #[test]
    fn a_declared_body_over_the_limit_is_refused_before_it_is_read() {
        let refused = head("GET / HTTP/1.1\r\nContent-Length: 4611686018427387904\r\n\r\n");
        assert_eq!(refused.unwrap_err().status, 413);
        let refused = head("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n");
        assert_eq!(refused.unwrap_err().status, 413);
    }

    #[test]
    fn a_body_that_could_be_read_two_ways_is_refused() {
        let both = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(head(both).unwrap_err().status, 400);
        let two = "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n";
        assert_eq!(head(two).unwrap_err().status, 400);
        let signed = "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n";
        assert_eq!(head(signed).unwrap_err().status, 400);
        let gzip = "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n";
        assert_eq!(head(gzip).unwrap_err().status, 501);
    }

    #[test]
    fn framing_and_keep_alive_follow_the_headers() {
        let parsed = head("POST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n").unwrap();
        assert_eq!(parsed.framing, Framing::Length(12));
        assert_eq!(parsed.path, "/a?b");
        assert!(parsed.keep_alive);
        let closing = head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!closing.keep_alive);
        let old = head("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!old.keep_alive && old.framing == Framing::Empty);
        let chunked = head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert_eq!(chunked.framing, Framing::Chunked);
    }

    #[test]
    fn too_many_headers_are_refused() {
        let many: String = (0..101).map(|i| format!("X-{i}: y\r\n")).collect();
        let refused = head(&format!("GET / HTTP/1.1\r\n{many}\r\n"));
        assert_eq!(refused.unwrap_err().status, 431);
    }

    #[test]
    fn other_versions_and_expectations_are_refused() {
        assert_eq!(head("GET / HTTP/2.0\r\n\r\n").unwrap_err().status, 505);
        let expect = "GET / HTTP/1.1\r\nExpect: teapot\r\n\r\n";
        assert_eq!(head(expect).unwrap_err().status, 417);
        assert_eq!(head("GET /\r\n\r\n").unwrap_err().status, 400);
    }
}
