//! Facegate's patch: what one peer may make the server spend.
//!
//! Every connection is bounded in time (reading a request's head, its body,
//! waiting idle between requests), in bytes (the head, each of its lines,
//! the number of headers, a declared body, an unread body drained before
//! the next request) and in count (open connections).

use std::time::Duration;

/// The bounds a server enforces on every connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// From a request's first byte (or a new connection's start, its TLS
    /// handshake included) to the end of its head; 408 beyond.
    pub head_timeout: Duration,
    /// From the end of a request's head to the end of its body, and for
    /// each write of the answer; the connection is closed beyond.
    pub body_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// A request's head (request line and headers); 431 beyond.
    pub max_head_bytes: usize,
    /// One line of the head; 431 beyond (414 for the request line).
    pub max_line_bytes: usize,
    /// Headers in one request; 431 beyond.
    pub max_headers: usize,
    /// A declared `Content-Length` above this is answered 413 before any
    /// of the body is read or any memory is set aside for it.
    pub max_body_bytes: u64,
    /// A body the application left unread is discarded, without a thread,
    /// up to this many bytes so the connection can be kept; a larger one
    /// closes the connection.
    pub max_drain_bytes: u64,
    /// Connections open at once. A new one beyond closes the connection
    /// that has waited longest for a request, or, when every connection is
    /// being answered, is itself answered 503.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_head_bytes: 64 * 1024,
            max_line_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 16 * 1024 * 1024,
            max_drain_bytes: 64 * 1024,
            max_connections: 1024,
        }
    }
}
