use std::io::Error as IoError;
use std::io::{self, ErrorKind, Read, Write};

use std::fmt;
use std::net::SocketAddr;

use crate::head::{Framing, Head};
use crate::link::{Body, Rest, SharedLink, Source};
use crate::poller::Returner;
use crate::{HTTPVersion, Header, Method, Response, StatusCode};

/// Represents an HTTP request made by a client.
///
/// A `Request` object is what is produced by the server, and is your what
/// your code must analyse and answer.
///
/// This object implements the `Send` trait, therefore you can dispatch your requests to
/// worker threads.
///
/// # Pipelining
///
/// Facegate's patch: a connection carries one request at a time; a request
/// a client pipelined behind it is read once this one has been answered.
///
/// # Automatic cleanup
///
/// If a `Request` object is destroyed without `into_writer` or `respond` being called,
/// an empty response with a 500 status code (internal server error) will automatically be
/// sent back to the client.
/// This means that if your code fails during the handling of a request, this "internal server
/// error" response will automatically be sent during the stack unwinding.
///
/// # Testing
///
/// If you want to build fake requests to test your server, use [`TestRequest`](crate::test::TestRequest).
pub struct Request {
    // where to read the body from; taken by an upgrade
    body: Option<Body>,

    // if this writer is empty, then the request has been answered
    response_writer: Option<Box<dyn Write + Send + 'static>>,

    remote_addr: Option<SocketAddr>,

    // true if HTTPS, false if HTTP
    secure: bool,

    method: Method,

    path: String,

    http_version: HTTPVersion,

    headers: Vec<Header>,

    body_length: Option<usize>,

    // true if a `100 Continue` response must be sent when `as_reader()` is called
    must_send_continue: bool,

    // Facegate's patch: whether the connection carries another request
    // after this one, and how to give it back to the poller then.
    keep_alive: bool,
    completion: Option<Completion>,
}

/// Gives an answered request's connection back to the poller.
pub(crate) struct Completion {
    pub(crate) link: SharedLink,
    pub(crate) returner: Returner,
    pub(crate) max_drain: u64,
}

/// Builds a request from its parsed head; `completion` is `None` for a
/// request that is not on a connection (`TestRequest`).
pub(crate) fn new_request(
    secure: bool,
    head: Head,
    remote_addr: Option<SocketAddr>,
    body: Body,
    writer: Box<dyn Write + Send + 'static>,
    completion: Option<Completion>,
) -> Request {
    let body_length = match head.framing {
        Framing::Length(length) => usize::try_from(length).ok(),
        Framing::Empty => Some(0),
        Framing::Chunked => None,
    };
    Request {
        body: Some(body),
        response_writer: Some(writer),
        remote_addr,
        secure,
        method: head.method,
        path: head.path,
        http_version: head.version,
        headers: head.headers,
        body_length,
        must_send_continue: head.expects_continue,
        keep_alive: head.keep_alive,
        completion,
    }
}

impl Request {
    /// Returns true if the request was made through HTTPS.
    #[inline]
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Returns the method requested by the client (eg. `GET`, `POST`, etc.).
    #[inline]
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Returns the resource requested by the client.
    #[inline]
    pub fn url(&self) -> &str {
        &self.path
    }

    /// Returns a list of all headers sent by the client.
    #[inline]
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// Returns the HTTP version of the request.
    #[inline]
    pub fn http_version(&self) -> &HTTPVersion {
        &self.http_version
    }

    /// Returns the length of the body in bytes.
    ///
    /// Returns `None` if the length is unknown.
    #[inline]
    pub fn body_length(&self) -> Option<usize> {
        self.body_length
    }

    /// Returns the address of the client that sent this request.
    ///
    /// The address is always `Some` for TCP listeners, but always `None` for UNIX listeners
    /// (as the remote address of a UNIX client is almost always unnamed).
    ///
    /// Note that this is gathered from the socket. If you receive the request from a proxy,
    /// this function will return the address of the proxy and not the address of the actual
    /// user.
    #[inline]
    pub fn remote_addr(&self) -> Option<&SocketAddr> {
        self.remote_addr.as_ref()
    }

    /// Sends a response with a `Connection: upgrade` header, then turns the `Request` into a `Stream`.
    ///
    /// The main purpose of this function is to support websockets.
    /// If you detect that the request wants to use some kind of protocol upgrade, you can
    ///  call this function to obtain full control of the socket stream.
    ///
    /// The connection is not used for another request afterwards.
    pub fn upgrade<R: Read>(
        mut self,
        protocol: &str,
        response: Response<R>,
    ) -> Box<dyn ReadWrite + Send> {
        use crate::util::CustomStream;

        let mut writer = self.extract_writer_impl();
        response
            .raw_print(
                writer.by_ref(),
                self.http_version.clone(),
                &self.headers,
                false,
                Some(protocol),
            )
            .ok(); // TODO: unused result
        writer.flush().ok(); // TODO: unused result

        let reader = self.extract_reader_impl();
        Box::new(CustomStream::new(reader, writer))
    }

    /// Allows to read the body of the request.
    ///
    /// If the client sent a `Expect: 100-continue` header with the request, calling this
    ///  function will send back a `100 Continue` response.
    #[inline]
    pub fn as_reader(&mut self) -> &mut dyn Read {
        if self.must_send_continue {
            if let Some(writer) = self.response_writer.as_mut() {
                let msg = Response::new_empty(StatusCode(100));
                msg.raw_print(
                    writer.by_ref(),
                    self.http_version.clone(),
                    &self.headers,
                    true,
                    None,
                )
                .ok();
                writer.flush().ok();
            }
            self.must_send_continue = false;
        }

        self.body
            .get_or_insert_with(|| Body::Empty(Source::in_memory(Vec::new())))
    }

    /// Turns the `Request` into a writer.
    ///
    /// The writer has a raw access to the stream to the user.
    /// This function is useful for things like CGI. The connection is
    /// closed once the writer is dropped.
    #[inline]
    pub fn into_writer(mut self) -> Box<dyn Write + Send + 'static> {
        self.keep_alive = false;
        self.extract_writer_impl()
    }

    /// Extract the response `Writer` object from the Request.
    ///
    /// This may only be called once on a single request.
    fn extract_writer_impl(&mut self) -> Box<dyn Write + Send + 'static> {
        self.response_writer
            .take()
            .unwrap_or_else(|| Box::new(io::sink()))
    }

    /// Extract the body `Reader` object from the Request: the connection
    /// itself for an upgrade.
    fn extract_reader_impl(&mut self) -> Box<dyn Read + Send + 'static> {
        self.keep_alive = false;
        match self.body.take() {
            Some(body) => body.into_raw_reader(),
            None => Box::new(io::empty()),
        }
    }

    /// Sends a response to this request.
    #[inline]
    pub fn respond<R>(mut self, response: Response<R>) -> Result<(), IoError>
    where
        R: Read,
    {
        self.respond_impl(response)
    }

    fn respond_impl<R>(&mut self, mut response: Response<R>) -> Result<(), IoError>
    where
        R: Read,
    {
        let mut writer = self.extract_writer_impl();

        let do_not_send_body = self.method == Method::Head;

        // A connection whose request body is left unread past what can be
        // discarded cannot carry another request: say so.
        let max_drain = self.completion.as_ref().map_or(0, |c| c.max_drain);
        self.keep_alive &= self.body.as_ref().is_none_or(|b| b.reusable(max_drain));
        if !self.keep_alive && self.http_version == HTTPVersion(1, 1) {
            response.close_connection();
        }

        Self::ignore_client_closing_errors(response.raw_print(
            writer.by_ref(),
            self.http_version.clone(),
            &self.headers,
            do_not_send_body,
            None,
        ))?;

        Self::ignore_client_closing_errors(writer.flush())
    }

    fn ignore_client_closing_errors(result: io::Result<()>) -> io::Result<()> {
        result.or_else(|err| match err.kind() {
            ErrorKind::BrokenPipe => Ok(()),
            ErrorKind::ConnectionAborted => Ok(()),
            ErrorKind::ConnectionRefused => Ok(()),
            ErrorKind::ConnectionReset => Ok(()),
            _ => Err(err),
        })
    }

    /// Gives the connection back to the poller, once this request is
    /// answered and its reader and writer are gone: for its next request,
    /// or to be closed without resetting it while the client still sends.
    fn complete(&mut self) {
        let (Some(completion), Some(body)) = (self.completion.take(), self.body.take()) else {
            return;
        };
        // The body holds the link too: it goes before the link is taken.
        let rest = match self.keep_alive {
            true => body.into_rest().unwrap_or_else(Rest::closing),
            false => {
                drop(body);
                Rest::closing()
            }
        };
        if let Ok(link) = std::sync::Arc::try_unwrap(completion.link) {
            let link = link.into_inner().unwrap_or_else(|e| e.into_inner());
            completion.returner.give_back(link, rest);
        }
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> Result<(), fmt::Error> {
        write!(
            formatter,
            "Request({} {} from {:?})",
            self.method, self.path, self.remote_addr
        )
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if self.response_writer.is_some() {
            let response = Response::empty(500);
            let _ = self.respond_impl(response); // ignoring any potential error
        }
        self.complete();
    }
}

/// Dummy trait that regroups the `Read` and `Write` traits.
///
/// Automatically implemented on all types that implement both `Read` and `Write`.
pub trait ReadWrite: Read + Write {}
impl<T> ReadWrite for T where T: Read + Write {}

#[cfg(test)]
mod tests {
    use super::Request;

    #[test]
    fn must_be_send() {
        #![allow(dead_code)]
        fn f<T: Send>(_: &T) {}
        fn bar(rq: &Request) {
            f(rq);
        }
    }
}
