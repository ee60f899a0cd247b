//! Facegate's patch: one client connection, as the poller holds it while
//! it waits for a request, and as a request's reader and writer share it
//! while a worker answers.

use std::io::{self, Cursor, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chunked_transfer::Decoder;

use crate::connection::Connection;

/// Counts a connection among the open ones until it is dropped.
pub(crate) struct OpenSlot(Arc<AtomicUsize>);

impl OpenSlot {
    pub(crate) fn take(open: &Arc<AtomicUsize>) -> OpenSlot {
        open.fetch_add(1, Ordering::AcqRel);
        OpenSlot(open.clone())
    }
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, plain or under TLS.
pub(crate) enum Transport {
    Plain(Connection),
    #[cfg(feature = "ssl-rustls")]
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, Connection>>),
}

impl Transport {
    pub(crate) fn socket(&self) -> &Connection {
        match self {
            Transport::Plain(socket) => socket,
            #[cfg(feature = "ssl-rustls")]
            Transport::Tls(stream) => &stream.sock,
        }
    }

    pub(crate) fn secure(&self) -> bool {
        !matches!(self, Transport::Plain(_))
    }

    /// Reads what has arrived without blocking (the socket is in
    /// non-blocking mode): `WouldBlock` when nothing has, `Ok(0)` at the
    /// end. Under TLS this also answers the handshake.
    pub(crate) fn read_arrived(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(socket) => socket.read(buf),
            #[cfg(feature = "ssl-rustls")]
            Transport::Tls(stream) => loop {
                match stream.conn.reader().read(buf) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    done => return done,
                }
                if stream.conn.read_tls(&mut stream.sock)? == 0 {
                    return Ok(0);
                }
                let processed = stream.conn.process_new_packets();
                // An alert for a bad handshake, or the handshake's answer.
                send_pending_tls(stream)?;
                processed.map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
            },
        }
    }

    /// Writes a short answer without blocking, as far as the socket takes
    /// it: for answers sent just before the connection is closed.
    pub(crate) fn write_before_closing(&mut self, bytes: &[u8]) {
        match self {
            Transport::Plain(socket) => {
                let _ = socket.write(bytes);
            }
            #[cfg(feature = "ssl-rustls")]
            Transport::Tls(stream) => {
                if stream.conn.is_handshaking() {
                    return;
                }
                let _ = stream.conn.writer().write_all(bytes);
                stream.conn.send_close_notify();
                let _ = send_pending_tls(stream);
            }
        }
    }
}

#[cfg(feature = "ssl-rustls")]
fn send_pending_tls(
    stream: &mut rustls::StreamOwned<rustls::ServerConnection, Connection>,
) -> io::Result<()> {
    while stream.conn.wants_write() {
        match stream.conn.write_tls(&mut stream.sock) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    Ok(())
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(socket) => socket.read(buf),
            #[cfg(feature = "ssl-rustls")]
            Transport::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(socket) => socket.write(buf),
            #[cfg(feature = "ssl-rustls")]
            Transport::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(socket) => socket.flush(),
            #[cfg(feature = "ssl-rustls")]
            Transport::Tls(stream) => stream.flush(),
        }
    }
}

/// A connection and what identifies it.
pub(crate) struct Link {
    pub(crate) transport: Transport,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) _open: OpenSlot,
}

/// A link while a worker answers one of its requests: the request's body
/// reader and its answer's writer both use it (on the worker's thread, or
/// the answer's alone once the connection is upgraded).
pub(crate) type SharedLink = Arc<Mutex<Link>>;

fn lock(link: &SharedLink) -> std::sync::MutexGuard<'_, Link> {
    link.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes an answer to a shared link.
pub(crate) struct LinkWriter(pub(crate) SharedLink);

impl Write for LinkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        lock(&self.0).transport.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        lock(&self.0).transport.flush()
    }
}

/// Where a request's body comes from: the bytes that arrived with its head,
/// then the connection, until a deadline.
pub(crate) struct Source {
    arrived: Cursor<Vec<u8>>,
    link: Option<(SharedLink, Instant)>,
}

impl Source {
    /// A body already in memory (tests, `TestRequest`).
    pub(crate) fn in_memory(bytes: Vec<u8>) -> Source {
        Source {
            arrived: Cursor::new(bytes),
            link: None,
        }
    }

    pub(crate) fn from_link(arrived: Vec<u8>, link: SharedLink, deadline: Instant) -> Source {
        Source {
            arrived: Cursor::new(arrived),
            link: Some((link, deadline)),
        }
    }

    fn unread_arrived(&self) -> &[u8] {
        let start = (self.arrived.position() as usize).min(self.arrived.get_ref().len());
        &self.arrived.get_ref()[start..]
    }

    /// The bytes that arrived and were not read, after skipping `skip` of
    /// them; and how many of `skip` were not there.
    fn rest_after(self, skip: u64) -> (Vec<u8>, u64) {
        let unread = self.unread_arrived();
        let skipped = skip.min(unread.len() as u64);
        (unread[skipped as usize..].to_vec(), skip - skipped)
    }
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.unread_arrived().is_empty() || buf.is_empty() {
            return self.arrived.read(buf);
        }
        let Some((link, deadline)) = &self.link else {
            return Ok(0);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                "the request body did not arrive in time",
            ));
        }
        let mut link = lock(link);
        link.transport.socket().set_read_timeout(Some(left))?;
        link.transport.read(buf).map_err(|e| match e.kind() {
            // A read timeout shows as WouldBlock on Linux.
            ErrorKind::WouldBlock => io::Error::new(
                ErrorKind::TimedOut,
                "the request body did not arrive in time",
            ),
            _ => e,
        })
    }
}

/// A request's body, framed by its `Content-Length` or chunked encoding.
pub(crate) enum Body {
    Empty(Source),
    Length { source: Source, left: u64 },
    Chunked { decoder: Decoder<Source>, ended: bool },
}

/// What a finished request leaves on its connection for the next one.
pub(crate) struct Rest {
    /// Bytes that arrived after the body (a pipelined request).
    pub(crate) arrived: Vec<u8>,
    /// Body bytes still to come, to be discarded.
    pub(crate) to_drain: u64,
    /// The connection carries no other request: it is closed once the
    /// client has had time to read the answer.
    pub(crate) closing: bool,
}

impl Rest {
    /// A connection to close after its answer.
    pub(crate) fn closing() -> Rest {
        Rest {
            arrived: Vec::new(),
            to_drain: 0,
            closing: true,
        }
    }
}

impl Body {
    /// Whether the connection can carry another request once this one is
    /// answered, discarding at most `max_drain` unread body bytes.
    pub(crate) fn reusable(&self, max_drain: u64) -> bool {
        match self {
            Body::Empty(_) => true,
            Body::Length { left, .. } => *left <= max_drain,
            Body::Chunked { ended, .. } => *ended,
        }
    }

    /// The connection itself for an upgraded request, whose protocol has
    /// no framing of HTTP's; the body as it is otherwise.
    pub(crate) fn into_raw_reader(self) -> Box<dyn Read + Send> {
        match self {
            Body::Empty(source) => Box::new(source),
            body => Box::new(body),
        }
    }

    pub(crate) fn into_rest(self) -> Option<Rest> {
        let (arrived, to_drain) = match self {
            Body::Empty(source) => source.rest_after(0),
            Body::Length { source, left } => source.rest_after(left),
            Body::Chunked { decoder, ended: true } => decoder.into_inner().rest_after(0),
            Body::Chunked { ended: false, .. } => return None,
        };
        Some(Rest {
            arrived,
            to_drain,
            closing: false,
        })
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Empty(_) => Ok(0),
            Body::Length { source, left } => {
                if *left == 0 {
                    return Ok(0);
                }
                let room = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let read = source.read(&mut buf[..room])?;
                if read == 0 && room > 0 {
                    return Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "the connection closed before the whole request body arrived",
                    ));
                }
                *left -= read as u64;
                Ok(read)
            }
            Body::Chunked { decoder, ended } => {
                if *ended {
                    return Ok(0);
                }
                let read = decoder.read(buf)?;
                *ended = read == 0 && !buf.is_empty();
                Ok(read)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_reads_its_length_and_leaves_the_next_request() {
        let source = Source::in_memory(b"helloGET / HTTP/1.1\r\n".to_vec());
        let mut body = Body::Length { source, left: 5 };
        let mut text = String::new();
        body.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello");
        let rest = body.into_rest().unwrap();
        assert_eq!(rest.arrived, b"GET / HTTP/1.1\r\n");
        assert_eq!(rest.to_drain, 0);
    }

    #[test]
    fn an_unread_body_is_left_to_drain_past_what_arrived() {
        let source = Source::in_memory(b"abc".to_vec());
        let body = Body::Length { source, left: 10 };
        assert!(body.reusable(10) && !body.reusable(9));
        let rest = body.into_rest().unwrap();
        assert!(rest.arrived.is_empty());
        assert_eq!(rest.to_drain, 7);
    }

    #[test]
    fn a_body_cut_short_is_an_error_not_an_end() {
        let source = Source::in_memory(b"abc".to_vec());
        let mut body = Body::Length { source, left: 10 };
        let mut bytes = Vec::new();
        let error = body.read_to_end(&mut bytes).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnexpectedEof);
    }

    #[test]
    fn an_unfinished_chunked_body_cannot_keep_its_connection() {
        let source = Source::in_memory(b"5\r\nhel".to_vec());
        let body = Body::Chunked {
            decoder: Decoder::new(source),
            ended: false,
        };
        assert!(!body.reusable(u64::MAX));
        assert!(body.into_rest().is_none());
    }
}
