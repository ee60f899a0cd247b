//! Facegate's patch: one thread accepts every connection and holds it while
//! it waits for a request, reading the head without blocking, so a
//! connection costs a worker only while a request is being answered. A
//! complete head becomes a `Request` in the server's queue; once answered,
//! the connection comes back here for the next one.

use std::collections::HashMap;
use std::io::{self, BufWriter, ErrorKind};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use chunked_transfer::Decoder;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::connection::{Connection, Listener};
use crate::head::{self, Framing, Head, Refusal};
use crate::limits::Limits;
use crate::link::{Body, Link, LinkWriter, OpenSlot, Rest, Source, Transport};
use crate::request::{new_request, Completion};
use crate::util::MessagesQueue;
use crate::{Message, StatusCode};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CONNECTION: usize = 2;

/// The poller looks at its flag and deadlines at least this often.
const TICK: Duration = Duration::from_millis(100);
/// Pause after an accept error such as running out of descriptors.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const LAST_BACKOFF: Duration = Duration::from_secs(1);

/// Hands answered connections back to the poller.
#[derive(Clone)]
pub(crate) struct Returner {
    sender: mpsc::Sender<(Link, Rest)>,
    waker: Arc<Waker>,
}

impl Returner {
    pub(crate) fn give_back(&self, link: Link, rest: Rest) {
        if self.sender.send((link, rest)).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// What the poller shares with the server that started it.
pub(crate) struct Shared {
    pub(crate) messages: Arc<MessagesQueue<Message>>,
    pub(crate) close: Arc<AtomicBool>,
    pub(crate) open: Arc<AtomicUsize>,
}

#[cfg(feature = "ssl-rustls")]
pub(crate) type Tls = Option<Arc<rustls::ServerConfig>>;
#[cfg(not(feature = "ssl-rustls"))]
pub(crate) type Tls = Option<std::convert::Infallible>;

/// Starts the poller's thread; the waker wakes it (to see `close`).
pub(crate) fn spawn(
    listener: Listener,
    tls: Tls,
    limits: Limits,
    shared: Shared,
) -> io::Result<Arc<Waker>> {
    listener.set_nonblocking()?;
    let poll = Poll::new()?;
    poll.registry().register(
        &mut SourceFd(&listener.as_raw_fd()),
        LISTENER,
        Interest::READABLE,
    )?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (sender, returned) = mpsc::channel();
    let poller = Poller {
        poll,
        listener,
        listener_ready: true,
        accept_paused_until: Instant::now(),
        backoff: FIRST_BACKOFF,
        accept_error_logged: false,
        tls,
        limits,
        shared,
        returner: Returner {
            sender,
            waker: waker.clone(),
        },
        returned,
        waiting: HashMap::new(),
        next_token: FIRST_CONNECTION,
    };
    std::thread::Builder::new()
        .name("http-poller".into())
        .spawn(move || poller.run())?;
    Ok(waker)
}

/// What a connection held here waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The first byte of a request.
    Idle,
    /// The rest of a request's head.
    Head,
    /// The rest of a small body (this many bytes in all) whose head has
    /// arrived: it is read here, so a request whose body is slow or never
    /// comes holds no worker.
    Body(u64),
    /// The end of a body the last request left unread, to discard.
    Drain(u64),
    /// The end of a refused or last request, discarded (up to this many
    /// bytes, for `CLOSING_WAIT`) after its answer was sent, so that closing
    /// with unread bytes does not reset the connection before the client
    /// has read the answer.
    Closing(u64),
}

/// How long a refused connection is kept for its client to read why.
const CLOSING_WAIT: Duration = Duration::from_secs(2);

struct Waiting {
    link: Link,
    arrived: Vec<u8>,
    /// How far `arrived` has been scanned for the head's end, where the
    /// line being scanned starts, and how many lines the head has so far.
    scanned: usize,
    line_start: usize,
    lines: usize,
    phase: Phase,
    /// Since when it waits here: the longest waiting goes first when the
    /// connection cap is reached.
    since: Instant,
    deadline: Instant,
    /// The head of a request whose body is read here (`Phase::Body`).
    head: Option<Head>,
}

enum Progress {
    Wait,
    Close,
    Refuse(Refusal),
    Dispatch(Head),
}

struct Poller {
    poll: Poll,
    listener: Listener,
    listener_ready: bool,
    accept_paused_until: Instant,
    backoff: Duration,
    accept_error_logged: bool,
    tls: Tls,
    limits: Limits,
    shared: Shared,
    returner: Returner,
    returned: mpsc::Receiver<(Link, Rest)>,
    waiting: HashMap<Token, Waiting>,
    next_token: usize,
}

impl Poller {
    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut next_deadline = Instant::now() + TICK;
        while !self.shared.close.load(Ordering::Relaxed) {
            let now = Instant::now();
            let mut wake = next_deadline.min(now + TICK);
            if self.listener_ready {
                wake = wake.min(self.accept_paused_until.max(now));
            }
            if let Err(e) = self.poll.poll(&mut events, Some(wake - now)) {
                if e.kind() != ErrorKind::Interrupted {
                    log::error!("cannot wait for connections: {e}");
                    std::thread::sleep(TICK);
                }
                continue;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.listener_ready = true,
                    WAKER => {}
                    token => self.on_readable(token),
                }
            }
            self.take_returned();
            if self.listener_ready && Instant::now() >= self.accept_paused_until {
                self.accept_all();
            }
            next_deadline = self.expire();
        }
        log::debug!("HTTP poller stopped");
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((socket, peer)) => {
                    self.backoff = FIRST_BACKOFF;
                    self.accept_error_logged = false;
                    self.admit(socket, peer);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.listener_ready = false;
                    return;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // Out of descriptors or memory: the connection stays in
                    // the backlog. Free a descriptor, wait, and try again;
                    // the listener never stops.
                    if !self.accept_error_logged {
                        log::error!(
                            "cannot accept a connection ({e}); closing the longest idle \
                             connection and retrying"
                        );
                        self.accept_error_logged = true;
                    }
                    self.evict_one();
                    self.accept_paused_until = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(LAST_BACKOFF);
                    return;
                }
            }
        }
    }

    fn admit(&mut self, socket: Connection, peer: Option<SocketAddr>) {
        if socket.set_nonblocking(true).is_err() {
            return;
        }
        let _ = socket.set_nodelay();
        let full = self.shared.open.load(Ordering::Acquire) >= self.limits.max_connections;
        if full && !self.evict_one() {
            let mut transport = Transport::Plain(socket);
            transport.write_before_closing(&problem(
                503,
                "the server has as many connections as it serves; retry",
            ));
            return;
        }
        let Some(transport) = self.transport(socket) else {
            return;
        };
        let link = Link {
            transport,
            peer,
            _open: OpenSlot::take(&self.shared.open),
        };
        self.hold(link, Phase::Idle, self.limits.head_timeout, Vec::new());
    }

    #[cfg(feature = "ssl-rustls")]
    fn transport(&self, socket: Connection) -> Option<Transport> {
        match &self.tls {
            None => Some(Transport::Plain(socket)),
            Some(config) => {
                let tls = rustls::ServerConnection::new(config.clone()).ok()?;
                Some(Transport::Tls(Box::new(rustls::StreamOwned::new(
                    tls, socket,
                ))))
            }
        }
    }

    #[cfg(not(feature = "ssl-rustls"))]
    fn transport(&self, socket: Connection) -> Option<Transport> {
        Some(Transport::Plain(socket))
    }

    /// Holds `link` until a request arrives on it (or `wait` passes).
    fn hold(&mut self, link: Link, phase: Phase, wait: Duration, arrived: Vec<u8>) {
        let token = self.new_token();
        let fd = link.transport.socket().as_raw_fd();
        if self
            .poll
            .registry()
            .register(&mut SourceFd(&fd), token, Interest::READABLE)
            .is_err()
        {
            return;
        }
        let now = Instant::now();
        let phase = match (phase, arrived.is_empty()) {
            (Phase::Idle, false) => Phase::Head,
            (phase, _) => phase,
        };
        self.waiting.insert(
            token,
            Waiting {
                link,
                arrived,
                scanned: 0,
                line_start: 0,
                lines: 0,
                phase,
                head: None,
                since: now,
                deadline: now + wait,
            },
        );
        // What arrived already (a pipelined request, bytes buffered under
        // TLS) raises no new readiness event.
        self.on_readable(token);
    }

    fn new_token(&mut self) -> Token {
        loop {
            let token = Token(self.next_token);
            self.next_token = self.next_token.checked_add(1).unwrap_or(FIRST_CONNECTION);
            if !self.waiting.contains_key(&token) {
                return token;
            }
        }
    }

    fn release(&mut self, token: Token) -> Option<Waiting> {
        let waiting = self.waiting.remove(&token)?;
        let fd = waiting.link.transport.socket().as_raw_fd();
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        Some(waiting)
    }

    fn on_readable(&mut self, token: Token) {
        let Some(waiting) = self.waiting.get_mut(&token) else {
            return;
        };
        match read_head(waiting, &self.limits) {
            Progress::Wait => {}
            Progress::Close => drop(self.release(token)),
            Progress::Refuse(refusal) => {
                waiting
                    .link
                    .transport
                    .write_before_closing(&problem(refusal.status, refusal.detail));
                let _ = waiting.link.transport.socket().shutdown(Shutdown::Write);
                waiting.arrived = Vec::new();
                waiting.phase = Phase::Closing(closing_budget(refusal.status, &self.limits));
                waiting.deadline = Instant::now() + CLOSING_WAIT;
                self.on_readable(token);
            }
            Progress::Dispatch(head) => {
                if let Some(waiting) = self.release(token) {
                    self.dispatch(waiting, head);
                }
            }
        }
    }

    /// Hands a request to the workers, its connection now blocking with
    /// the body's deadline.
    fn dispatch(&mut self, waiting: Waiting, head: Head) {
        let Waiting { link, arrived, .. } = waiting;
        let socket = link.transport.socket();
        let body_timeout = self.limits.body_timeout;
        if socket.set_nonblocking(false).is_err()
            || socket.set_write_timeout(Some(body_timeout)).is_err()
        {
            return;
        }
        let secure = link.transport.secure();
        let peer = link.peer;
        let shared = Arc::new(Mutex::new(link));
        let source = Source::from_link(arrived, shared.clone(), Instant::now() + body_timeout);
        let body = match head.framing {
            Framing::Empty => Body::Empty(source),
            Framing::Length(left) => Body::Length { source, left },
            Framing::Chunked => Body::Chunked {
                decoder: Decoder::new(source),
                ended: false,
            },
        };
        let writer = BufWriter::with_capacity(8 * 1024, LinkWriter(shared.clone()));
        let completion = Completion {
            link: shared,
            returner: self.returner.clone(),
            max_drain: self.limits.max_drain_bytes,
        };
        let request = new_request(secure, head, peer, body, Box::new(writer), Some(completion));
        self.shared.messages.push(Message::NewRequest(request));
    }

    fn take_returned(&mut self) {
        while let Ok((link, rest)) = self.returned.try_recv() {
            if link.transport.socket().set_nonblocking(true).is_err() {
                continue;
            }
            match (rest.closing, rest.to_drain) {
                (true, _) => {
                    let mut link = link;
                    link.transport.write_before_closing(&[]);
                    let _ = link.transport.socket().shutdown(Shutdown::Write);
                    let budget = self.limits.max_body_bytes;
                    self.hold(link, Phase::Closing(budget), CLOSING_WAIT, Vec::new());
                }
                (false, 0) => self.hold(link, Phase::Idle, self.limits.idle_timeout, rest.arrived),
                (false, left) => self.hold(
                    link,
                    Phase::Drain(left),
                    self.limits.body_timeout,
                    Vec::new(),
                ),
            }
        }
    }

    /// Closes the connection that has waited longest for a request, one
    /// in the middle of a head only when none waits idle.
    fn evict_one(&mut self) -> bool {
        let oldest = |idle: bool| {
            self.waiting
                .iter()
                .filter(|(_, w)| matches!(w.phase, Phase::Idle | Phase::Closing(_)) == idle)
                .min_by_key(|(_, w)| w.since)
                .map(|(token, _)| *token)
        };
        match oldest(true).or_else(|| oldest(false)) {
            Some(token) => {
                drop(self.release(token));
                true
            }
            None => false,
        }
    }

    /// Closes the connections past their deadline; when the next one is.
    fn expire(&mut self) -> Instant {
        let now = Instant::now();
        let mut next = now + TICK;
        let mut expired = Vec::new();
        for (token, waiting) in &self.waiting {
            match waiting.deadline <= now {
                true => expired.push(*token),
                false => next = next.min(waiting.deadline),
            }
        }
        for token in expired {
            if let Some(mut waiting) = self.release(token) {
                let late = match waiting.phase {
                    Phase::Head => "the request's head did not arrive in time",
                    Phase::Body(_) => "the request's body did not arrive in time",
                    _ => continue,
                };
                waiting
                    .link
                    .transport
                    .write_before_closing(&problem(408, late));
            }
        }
        next
    }
}

/// Reads what has arrived on a connection, up to a complete head.
fn read_head(waiting: &mut Waiting, limits: &Limits) -> Progress {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(progress) = scan(waiting, limits) {
            return progress;
        }
        if waiting.phase == Phase::Closing(0) {
            return Progress::Close;
        }
        match waiting.link.transport.read_arrived(&mut chunk) {
            Ok(0) => return Progress::Close,
            Ok(read) => take(waiting, &chunk[..read], limits),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Progress::Wait,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Progress::Close,
        }
    }
}

/// Takes bytes that arrived: discards what remains of an unread body, and
/// keeps the rest as a head; a head's first byte starts its deadline.
fn take(waiting: &mut Waiting, mut bytes: &[u8], limits: &Limits) {
    if let Phase::Closing(left) = waiting.phase {
        waiting.phase = Phase::Closing(left.saturating_sub(bytes.len() as u64));
        return;
    }
    if let Phase::Drain(left) = waiting.phase {
        let skip = left.min(bytes.len() as u64);
        bytes = &bytes[skip as usize..];
        waiting.phase = match left - skip {
            0 => Phase::Idle,
            left => Phase::Drain(left),
        };
        if waiting.phase == Phase::Idle {
            waiting.deadline = Instant::now() + limits.idle_timeout;
        }
    }
    if bytes.is_empty() {
        return;
    }
    if waiting.phase == Phase::Idle {
        waiting.phase = Phase::Head;
        waiting.deadline = Instant::now() + limits.head_timeout;
    }
    waiting.arrived.extend_from_slice(bytes);
}

/// Looks through the new bytes of a head for its end, refusing a head, a
/// line or a count of lines over the limits as soon as it is crossed.
fn scan(waiting: &mut Waiting, limits: &Limits) -> Option<Progress> {
    if let Phase::Body(length) = waiting.phase {
        return match waiting.arrived.len() as u64 >= length {
            true => waiting.head.take().map(Progress::Dispatch),
            false => None,
        };
    }
    if waiting.phase != Phase::Head {
        return None;
    }
    let too_long = |lines: usize| match lines {
        0 => Refusal {
            status: 414,
            detail: "the request line is longer than the server accepts",
        },
        _ => Refusal {
            status: 431,
            detail: "a header line is longer than the server accepts",
        },
    };
    while waiting.scanned < waiting.arrived.len() {
        let byte = waiting.arrived[waiting.scanned];
        waiting.scanned += 1;
        if byte != b'\n' {
            continue;
        }
        let line = &waiting.arrived[waiting.line_start..waiting.scanned - 1];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > limits.max_line_bytes {
            return Some(Progress::Refuse(too_long(waiting.lines)));
        }
        match (line.is_empty(), waiting.lines) {
            // Empty lines before a request line are ignored (RFC 9112, 2.2).
            (true, 0) => {
                waiting.arrived.drain(..waiting.scanned);
                waiting.scanned = 0;
            }
            (true, _) => {
                let end = waiting.scanned;
                let parsed = head::parse(&waiting.arrived[..end], limits);
                waiting.arrived.drain(..end);
                waiting.scanned = 0;
                waiting.line_start = 0;
                waiting.lines = 0;
                return match parsed {
                    Ok(head) => match head.framing {
                        // A small body that has not all arrived is read
                        // here first (a client waiting for 100 Continue
                        // sends it only once answered).
                        Framing::Length(length)
                            if length <= limits.max_drain_bytes
                                && !head.expects_continue
                                && (waiting.arrived.len() as u64) < length =>
                        {
                            waiting.phase = Phase::Body(length);
                            waiting.deadline = Instant::now() + limits.body_timeout;
                            waiting.head = Some(head);
                            None
                        }
                        _ => Some(Progress::Dispatch(head)),
                    },
                    Err(refusal) => Some(Progress::Refuse(refusal)),
                };
            }
            (false, lines) => {
                waiting.lines = lines + 1;
                if waiting.lines > limits.max_headers + 1 {
                    return Some(Progress::Refuse(Refusal {
                        status: 431,
                        detail: "the request has too many headers",
                    }));
                }
            }
        }
        waiting.line_start = waiting.scanned;
    }
    if waiting.arrived.len() - waiting.line_start > limits.max_line_bytes {
        return Some(Progress::Refuse(too_long(waiting.lines)));
    }
    if waiting.arrived.len() > limits.max_head_bytes {
        return Some(Progress::Refuse(Refusal {
            status: 431,
            detail: "the request's head is larger than the server accepts",
        }));
    }
    None
}

/// What is discarded of a refused connection before it is closed: a body
/// too large to take (413) is one a client may be uploading, which must
/// not reset the connection before the answer is read; a bad head is
/// answered within what a drain may take, so a peer streaming an endless
/// header costs no more than that per connection.
fn closing_budget(status: u16, limits: &Limits) -> u64 {
    match status {
        413 => limits.max_body_bytes,
        _ => limits.max_drain_bytes,
    }
}

/// An answer the server gives by itself, as RFC 7807 problem details,
/// before it closes the connection.
fn problem(status: u16, detail: &str) -> Vec<u8> {
    let title = StatusCode(status).default_reason_phrase();
    let body = format!(
        "{{\"type\":\"https://tools.ietf.org/html/rfc9110#section-15\",\
         \"title\":\"{title}\",\"status\":{status},\"detail\":\"{detail}\"}}"
    );
    format!(
        "HTTP/1.1 {status} {title}\r\nContent-Type: application/problem+json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting_on(limits: &Limits) -> (Waiting, std::os::unix::net::UnixStream) {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let now = Instant::now();
        let waiting = Waiting {
            link: Link {
                transport: Transport::Plain(Connection::from(ours)),
                peer: None,
                _open: OpenSlot::take(&Arc::new(AtomicUsize::new(0))),
            },
            arrived: Vec::new(),
            scanned: 0,
            line_start: 0,
            lines: 0,
            phase: Phase::Idle,
            since: now,
            deadline: now + limits.head_timeout,
            head: None,
        };
        (waiting, theirs)
    }

    fn feed(waiting: &mut Waiting, bytes: &[u8], limits: &Limits) -> Option<Progress> {
        take(waiting, bytes, limits);
        scan(waiting, limits)
    }

    fn refused_with(progress: Option<Progress>) -> u16 {
        match progress {
            Some(Progress::Refuse(refusal)) => refusal.status,
            Some(Progress::Dispatch(_)) => panic!("dispatched"),
            _ => panic!("not refused"),
        }
    }

    #[test]
    fn an_endless_header_line_is_refused_once_it_crosses_the_line_limit() {
        let limits = Limits::default();
        let (mut waiting, _peer) = waiting_on(&limits);
        assert!(feed(&mut waiting, b"GET / HTTP/1.1\r\nX-Long: ", &limits).is_none());
        let mut progress = None;
        let chunk = [b'a'; 1024];
        for _ in 0..64 {
            progress = feed(&mut waiting, &chunk, &limits);
            if progress.is_some() {
                break;
            }
        }
        assert_eq!(refused_with(progress), 431);
        assert!(waiting.arrived.len() <= limits.max_line_bytes + chunk.len() + 32);
    }

    #[test]
    fn a_head_of_short_lines_is_refused_past_the_head_limit() {
        let limits = Limits {
            max_headers: 10_000,
            ..Limits::default()
        };
        let (mut waiting, _peer) = waiting_on(&limits);
        let mut progress = feed(&mut waiting, b"GET / HTTP/1.1\r\n", &limits);
        while progress.is_none() {
            progress = feed(&mut waiting, b"X-A: b\r\n", &limits);
        }
        assert_eq!(refused_with(progress), 431);
        assert!(waiting.arrived.len() <= limits.max_head_bytes + 8);
    }

    #[test]
    fn a_long_request_line_is_414() {
        let limits = Limits::default();
        let (mut waiting, _peer) = waiting_on(&limits);
        let line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(limits.max_line_bytes));
        assert_eq!(
            refused_with(feed(&mut waiting, line.as_bytes(), &limits)),
            414
        );
    }

    #[test]
    fn a_head_split_anywhere_is_found_whole_and_the_body_stays() {
        let limits = Limits::default();
        let text = b"\r\nPOST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET";
        for split in 0..text.len() {
            let (mut waiting, _peer) = waiting_on(&limits);
            let progress = match feed(&mut waiting, &text[..split], &limits) {
                Some(found) => {
                    take(&mut waiting, &text[split..], &limits);
                    Some(found)
                }
                None => feed(&mut waiting, &text[split..], &limits),
            };
            match progress {
                Some(Progress::Dispatch(head)) => {
                    assert_eq!(head.path, "/x");
                    assert_eq!(head.framing, Framing::Length(3));
                }
                _ => panic!("split at {split}: no head"),
            }
            assert_eq!(waiting.arrived, b"abcGET");
        }
    }

    #[test]
    fn an_unread_body_is_discarded_before_the_next_head() {
        let limits = Limits::default();
        let (mut waiting, _peer) = waiting_on(&limits);
        waiting.phase = Phase::Drain(5);
        assert!(feed(&mut waiting, b"abc", &limits).is_none());
        assert_eq!(waiting.phase, Phase::Drain(2));
        match feed(&mut waiting, b"deGET / HTTP/1.1\r\n\r\n", &limits) {
            Some(Progress::Dispatch(head)) => assert_eq!(head.path, "/"),
            _ => panic!("no head after the drained body"),
        }
    }

    #[test]
    fn a_small_body_is_read_here_before_its_request_goes_to_a_worker() {
        let limits = Limits::default();
        let (mut waiting, _peer) = waiting_on(&limits);
        let head = b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab";
        assert!(feed(&mut waiting, head, &limits).is_none());
        assert_eq!(waiting.phase, Phase::Body(5));
        match feed(&mut waiting, b"cde", &limits) {
            Some(Progress::Dispatch(head)) => assert_eq!(head.path, "/x"),
            _ => panic!("not dispatched once the body arrived"),
        }
        assert_eq!(waiting.arrived, b"abcde");
        // A large body, or one its client sends only after 100 Continue,
        // goes to a worker at once.
        for head in [
            format!(
                "POST /y HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                limits.max_drain_bytes + 1
            ),
            "POST /y HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n".to_string(),
        ] {
            let (mut waiting, _peer) = waiting_on(&limits);
            assert!(matches!(
                feed(&mut waiting, head.as_bytes(), &limits),
                Some(Progress::Dispatch(_))
            ));
        }
    }

    #[test]
    fn a_refused_head_is_discarded_only_as_far_as_a_drain_and_a_refused_body_whole() {
        let limits = Limits {
            max_body_bytes: 1 << 24,
            ..Limits::default()
        };
        assert_eq!(closing_budget(431, &limits), limits.max_drain_bytes);
        assert_eq!(closing_budget(400, &limits), limits.max_drain_bytes);
        assert_eq!(closing_budget(413, &limits), 1 << 24);
    }

    #[test]
    fn refusals_are_problem_details_that_close() {
        let text = String::from_utf8(problem(431, "too big")).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 "));
        assert!(text.contains("Connection: close\r\n"));
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        assert!(body.contains("\"status\":431") && body.contains("too big"));
    }
}
