//! Facegate's patch: the head parser (`head::parse`), reachable by the fuzz
//! targets in `fuzz/` with the `fuzzing` feature. Not an API.

use crate::head::{self, Framing};
use crate::limits::Limits;
use crate::{HTTPVersion, Header, Method};

/// How the body after a parsed head is delimited.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyFraming {
    Empty,
    Length(u64),
    Chunked,
}

/// What `head::parse` made of a head it accepted.
#[derive(Debug)]
pub struct ParsedHead {
    pub method: Method,
    pub path: String,
    pub version: HTTPVersion,
    pub headers: Vec<Header>,
    pub framing: BodyFraming,
    pub expects_continue: bool,
    pub keep_alive: bool,
}

/// `head::parse(bytes, limits)`: the head, or the refusal's status and detail.
pub fn parse_head(bytes: &[u8], limits: &Limits) -> Result<ParsedHead, (u16, &'static str)> {
    let head = head::parse(bytes, limits).map_err(|r| (r.status, r.detail))?;
    Ok(ParsedHead {
        method: head.method,
        path: head.path,
        version: head.version,
        headers: head.headers,
        framing: match head.framing {
            Framing::Empty => BodyFraming::Empty,
            Framing::Length(n) => BodyFraming::Length(n),
            Framing::Chunked => BodyFraming::Chunked,
        },
        expects_continue: head.expects_continue,
        keep_alive: head.keep_alive,
    })
}
