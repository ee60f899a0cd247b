//! SmartFace's GraphQL API, on its own port as SmartFace serves it
//! (`[graphql] listen`, 8097): queries by `POST /graphql` (and `GET` with
//! the query in the URL), subscriptions over a WebSocket at the same path
//! in either protocol clients speak (`graphql-transport-ws` and the older
//! `graphql-ws`). The API key and the origin rules are the REST API's; a
//! WebSocket may also carry the key in its `connection_init` payload.
//!
//! Queries run on blocking threads (they read the store), subscriptions
//! as tasks; every connection, body, query and socket is bounded.

mod filter;
mod nodes;
mod queries;
mod schema;
mod subscriptions;

pub use nodes::Door;
pub use schema::Limits;

use crate::core::access::ApiKey;
use crate::core::origin::{check_acting_request, HostNames, Refusal};
use crate::core::running::Running;
use crate::core::tls::Identity;
use crate::core::Core;
use async_graphql::dynamic::Schema;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request, WebSocketUpgrade};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};

/// A request's headers and body arrive within this, or the connection
/// is closed; a query runs within it too.
const REQUEST_TIME: Duration = Duration::from_secs(10);

/// Connections at once beyond the WebSocket subscribers.
const MAX_QUERY_CONNECTIONS: usize = 256;

/// What `[graphql]` and `[server]` set for the GraphQL server.
pub struct Settings {
    pub listen: SocketAddr,
    pub key: ApiKey,
    pub hosts: HostNames,
    pub tls: Option<Identity>,
    pub limits: Limits,
    pub max_query_bytes: usize,
    /// WebSockets at once (each may hold subscriptions, which the bus caps).
    pub max_sockets: usize,
}

/// A running server; `stop` ends it.
pub struct GraphqlServer {
    pub addr: SocketAddr,
    running: Running,
}

struct Front {
    schema: Schema,
    key: ApiKey,
    hosts: HostNames,
    secure: bool,
    max_query_bytes: usize,
    sockets: Arc<Semaphore>,
}

/// Builds the schema and binds `listen` now (a bad schema or a taken port
/// fails the start), then serves on a thread of its own.
pub fn start(settings: Settings, core: Arc<Core>, door: Door) -> Result<GraphqlServer, String> {
    let schema = schema::build(core, door, settings.limits)?;
    let tls = settings
        .tls
        .as_ref()
        .map(|identity| identity.server_config(&[b"http/1.1"]))
        .transpose()?
        .map(tokio_rustls::TlsAcceptor::from);
    let listener = std::net::TcpListener::bind(settings.listen)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|e| format!("cannot listen for GraphQL on {}: {e}", settings.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the GraphQL address: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
        .map_err(|e| format!("cannot start the GraphQL runtime: {e}"))?;
    let front = Arc::new(Front {
        schema,
        key: settings.key,
        hosts: settings.hosts,
        secure: tls.is_some(),
        max_query_bytes: settings.max_query_bytes,
        sockets: Arc::new(Semaphore::new(settings.max_sockets)),
    });
    let (running, stopping) = Running::new();
    std::thread::Builder::new()
        .name("graphql".into())
        .spawn(move || {
            let _token = stopping.token;
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => accept(listener, front, tls, stopping.signal).await,
                    Err(e) => log::error!("the GraphQL server failed: {e}"),
                }
            })
        })
        .map_err(|e| format!("cannot start the GraphQL thread: {e}"))?;
    Ok(GraphqlServer { addr, running })
}

impl GraphqlServer {
    /// Stops accepting and waits up to `limit` for the server's thread to
    /// end (subscriptions end once the core's buses are closed).
    pub fn stop(self, limit: Duration) -> bool {
        self.running.stop(limit)
    }
}

async fn accept(
    listener: tokio::net::TcpListener,
    front: Arc<Front>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stopping: oneshot::Receiver<()>,
) {
    let connections = Arc::new(Semaphore::new(
        MAX_QUERY_CONNECTIONS + front.sockets.available_permits(),
    ));
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stopping => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    log::warn!("GraphQL: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Beyond the cap a connection is closed at once.
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let front = front.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                Some(acceptor) => {
                    let accepted =
                        tokio::time::timeout(REQUEST_TIME, acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = accepted {
                        serve_connection(TokioIo::new(stream), front).await
                    }
                }
                None => serve_connection(TokioIo::new(stream), front).await,
            }
        });
    }
}

async fn serve_connection<I>(io: I, front: Arc<Front>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let front = front.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(front, request.map(Body::new)).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(REQUEST_TIME)
        .serve_connection(io, service)
        .with_upgrades()
        .await;
}

/// An error as GraphQL clients read it, with its HTTP status.
fn refusal(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message }] });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn header_of<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn origin_refusal(refused: Refusal) -> Response {
    match refused {
        Refusal::ForeignHost(message) => refusal(StatusCode::MISDIRECTED_REQUEST, &message),
        Refusal::CrossOrigin(message) => refusal(StatusCode::FORBIDDEN, &message),
        Refusal::SimpleContentType(message) => {
            refusal(StatusCode::UNSUPPORTED_MEDIA_TYPE, &message)
        }
    }
}

const KEY_REQUIRED: &str =
    "an API key is required: send `Authorization: Bearer KEY` or `X-Api-Key: KEY`";

async fn handle(front: Arc<Front>, request: Request) -> Response {
    let headers = request.headers();
    let host = header_of(headers, "host");
    let upgrading =
        header_of(headers, "upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    // A page may open a WebSocket to any site, and it carries no CORS:
    // subscribing is screened as an action is.
    let method = match upgrading {
        true => "POST",
        false => request.method().as_str(),
    };
    let screened = front.hosts.check_host(host).and_then(|()| {
        check_acting_request(
            method,
            host,
            header_of(headers, "origin"),
            header_of(headers, "sec-fetch-site"),
            (!upgrading)
                .then(|| header_of(headers, "content-type"))
                .flatten(),
            front.secure,
        )
    });
    if let Err(refused) = screened {
        return origin_refusal(refused);
    }
    if request.uri().path() != "/graphql" {
        return refusal(StatusCode::NOT_FOUND, "GraphQL is served at /graphql");
    }
    let keyed = front.key.admits(
        header_of(headers, "authorization"),
        header_of(headers, "x-api-key"),
    );
    if upgrading {
        return subscribe(front, request, keyed).await;
    }
    if !keyed {
        return refusal(StatusCode::UNAUTHORIZED, KEY_REQUIRED);
    }
    let graphql_request = match *request.method() {
        Method::GET => query_in_url(request.uri().query().unwrap_or("")),
        Method::POST => query_in_body(&front, request).await,
        _ => Err(Refused(
            StatusCode::METHOD_NOT_ALLOWED,
            "GraphQL takes GET and POST".into(),
        )),
    };
    match graphql_request {
        Ok(graphql_request) => execute(front, graphql_request).await,
        Err(Refused(status, message)) => refusal(status, &message),
    }
}

/// A request that cannot be run, and why.
struct Refused(StatusCode, String);

fn query_in_url(query: &str) -> Result<async_graphql::Request, Refused> {
    async_graphql::http::parse_query_string(query).map_err(|e| {
        Refused(
            StatusCode::BAD_REQUEST,
            format!("invalid query string: {e}"),
        )
    })
}

async fn query_in_body(front: &Front, request: Request) -> Result<async_graphql::Request, Refused> {
    let limit = front.max_query_bytes;
    let body = tokio::time::timeout(
        REQUEST_TIME,
        axum::body::to_bytes(request.into_body(), limit),
    )
    .await
    .map_err(|_| {
        Refused(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time".into(),
        )
    })?
    .map_err(|_| {
        Refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a GraphQL request is at most {limit} bytes (graphql.max_query_bytes)"),
        )
    })?;
    parse_body(&body)
}

fn parse_body(body: &Bytes) -> Result<async_graphql::Request, Refused> {
    serde_json::from_slice::<async_graphql::Request>(body).map_err(|e| {
        Refused(
            StatusCode::BAD_REQUEST,
            format!("the body is not a GraphQL request (JSON with `query`): {e}"),
        )
    })
}

/// Runs a query on a blocking thread, within the request time.
async fn execute(front: Arc<Front>, request: async_graphql::Request) -> Response {
    let schema = front.schema.clone();
    let request = request.data(schema::Deadline(std::time::Instant::now() + REQUEST_TIME));
    let runtime = tokio::runtime::Handle::current();
    let running = tokio::task::spawn_blocking(move || runtime.block_on(schema.execute(request)));
    let response = match tokio::time::timeout(REQUEST_TIME, running).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, "the query failed"),
        Err(_) => {
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "the query took too long: ask for fewer records (take, where)",
            )
        }
    };
    // A request that could not run at all (a syntax or validation error)
    // is the client's; errors beside data are in the 200 answer.
    let status = match response.data == async_graphql::Value::Null && response.is_err() {
        true => StatusCode::BAD_REQUEST,
        false => StatusCode::OK,
    };
    let body = serde_json::to_vec(&response).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Whether a `connection_init` payload carries the key, as headers
/// (`{"Authorization": "Bearer KEY"}`, `{"X-Api-Key": "KEY"}`) at its top
/// or under `headers`, as clients send it.
fn payload_admits(key: &ApiKey, payload: &serde_json::Value) -> bool {
    let find = |object: &serde_json::Value, name: &str| {
        object.as_object().and_then(|fields| {
            fields
                .iter()
                .find(|(field, _)| field.eq_ignore_ascii_case(name))
                .and_then(|(_, value)| value.as_str().map(str::to_string))
        })
    };
    [
        payload,
        payload.get("headers").unwrap_or(&serde_json::Value::Null),
    ]
    .iter()
    .any(|object| {
        key.admits(
            find(object, "authorization").as_deref(),
            find(object, "x-api-key").as_deref(),
        )
    })
}

/// A WebSocket for subscriptions, within the socket cap.
async fn subscribe(front: Arc<Front>, request: Request, keyed: bool) -> Response {
    let (mut parts, _) = request.into_parts();
    let Ok(protocol) = GraphQLProtocol::from_request_parts(&mut parts, &()).await else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "ask for the graphql-transport-ws or graphql-ws protocol (Sec-WebSocket-Protocol)",
        );
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(permit) = front.sockets.clone().try_acquire_owned() else {
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many GraphQL WebSockets at once (graphql.max_subscribers)",
        );
    };
    let limit = front.max_query_bytes;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| async move {
            let _permit = permit;
            let key = front.key.clone();
            let (initialised, init_seen) = oneshot::channel::<()>();
            let serving = GraphQLWebSocket::new(socket, front.schema.clone(), protocol)
                .on_connection_init(move |payload| async move {
                    match keyed || payload_admits(&key, &payload) {
                        true => {
                            let _ = initialised.send(());
                            Ok(async_graphql::Data::default())
                        }
                        false => Err(async_graphql::Error::new(KEY_REQUIRED)),
                    }
                })
                // No keep-alive timeout: async-graphql's closes a socket
                // its client has not written to within it, and a
                // subscriber only listens.
                .serve();
            tokio::pin!(serving);
            // A socket that does not open its connection in time is
            // closed (graphql-transport-ws's initialisation timeout), so
            // sockets nobody uses cannot hold every place.
            tokio::select! {
                () = &mut serving => {}
                seen = tokio::time::timeout(REQUEST_TIME, init_seen) => {
                    if seen.is_ok() {
                        serving.await
                    }
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_init_payload_carries_the_key_as_headers_do() {
        let key = ApiKey::new("secret");
        let admits = |payload: serde_json::Value| payload_admits(&key, &payload);
        assert!(admits(
            serde_json::json!({"Authorization": "Bearer secret"})
        ));
        assert!(admits(serde_json::json!({"x-api-key": "secret"})));
        assert!(admits(
            serde_json::json!({"headers": {"X-Api-Key": "secret"}})
        ));
        assert!(!admits(
            serde_json::json!({"Authorization": "Bearer wrong"})
        ));
        assert!(!admits(serde_json::json!({})));
        assert!(!admits(serde_json::Value::Null));
    }
}
