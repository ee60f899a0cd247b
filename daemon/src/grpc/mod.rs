//! SmartFace's access-notification gRPC stream: every door decision, as
//! the access-control connectors (door controllers, intercoms, elevators)
//! subscribe to it, on HTTP/2 at `[grpc] listen`, over TLS when the config
//! names a certificate.
//!
//! A subscriber is a task reading its own bus mailbox: one that does not
//! read loses its oldest notifications (counted in the status), and the
//! door never waits for any.

use crate::core::access::ApiKey;
use crate::core::bus::{Delivery, Subscription};
use crate::core::event::DoorEvent;
use crate::core::notification::proto::access_notification_service_server::{
    AccessNotificationService, AccessNotificationServiceServer,
};
use crate::core::notification::proto::{AccessNotification, AccessNotificationRequest};
use crate::core::notification::{ping, PING};
use crate::core::running::Running;
use crate::core::tls::Identity;
use crate::core::Core;
use futures_util::stream::{self, Stream};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::server::TcpIncoming;
use tonic::transport::ServerTlsConfig;
use tonic::{Request, Response, Status};

/// Connectors reconnect when nothing arrives for about 10 s.
const PING_INTERVAL: Duration = Duration::from_secs(5);

/// A running server; `stop` ends it.
pub struct GrpcServer {
    pub addr: SocketAddr,
    running: Running,
}

/// Binds `listen` now (so a taken port fails the start) and serves on a
/// thread of its own with its own runtime.
pub fn start(
    listen: SocketAddr,
    core: Arc<Core>,
    key: ApiKey,
    tls: Option<Identity>,
) -> Result<GrpcServer, String> {
    let mut builder = tonic::transport::Server::builder();
    if let Some(identity) = tls {
        let identity = tonic::transport::Identity::from_pem(identity.cert_pem, identity.key_pem);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| format!("cannot serve gRPC over TLS: {e}"))?;
    }
    let listener = std::net::TcpListener::bind(listen)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|e| format!("cannot listen for gRPC on {listen}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the gRPC address: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the gRPC runtime: {e}"))?;
    let (running, stopping) = Running::new();
    let service = AccessNotificationServiceServer::with_interceptor(
        Notifier { core },
        move |request: Request<()>| authorize(&key, request),
    );
    std::thread::Builder::new()
        .name("grpc".into())
        .spawn(move || {
            let _token = stopping.token;
            runtime.block_on(async move {
                let served = async {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                    builder
                        .add_service(service)
                        .serve_with_incoming_shutdown(incoming, async {
                            let _ = stopping.signal.await;
                        })
                        .await
                        .map_err(std::io::Error::other)
                };
                if let Err(e) = served.await {
                    log::error!("the gRPC server failed: {e}");
                }
            })
        })
        .map_err(|e| format!("cannot start the gRPC thread: {e}"))?;
    Ok(GrpcServer { addr, running })
}

impl GrpcServer {
    /// Stops accepting and waits up to `limit` for the open calls to end
    /// (streams end once the core's subscriptions are closed); whether
    /// they did. A subscriber that does not read cannot be sent the end of
    /// its stream, so the wait is bounded.
    pub fn stop(self, limit: Duration) -> bool {
        self.running.stop(limit)
    }
}

/// The API key rule of the REST API, on the call's metadata.
fn authorize(key: &ApiKey, request: Request<()>) -> Result<Request<()>, Status> {
    let header = |name| request.metadata().get(name).and_then(|v| v.to_str().ok());
    match key.admits(header("authorization"), header("x-api-key")) {
        true => Ok(request),
        false => Err(Status::unauthenticated(
            "an API key is required: send `authorization: Bearer KEY` or `x-api-key: KEY`",
        )),
    }
}

struct Notifier {
    core: Arc<Core>,
}

type NotificationStream = Pin<Box<dyn Stream<Item = Result<AccessNotification, Status>> + Send>>;

#[tonic::async_trait]
impl AccessNotificationService for Notifier {
    type GetAccessNotificationsStream = NotificationStream;

    async fn get_access_notifications(
        &self,
        request: Request<AccessNotificationRequest>,
    ) -> Result<Response<NotificationStream>, Status> {
        let peer = request
            .remote_addr()
            .map_or_else(|| "unknown".to_string(), |addr| addr.to_string());
        let wanted = request.into_inner();
        let subscription = self
            .core
            .notifications
            .subscribe(format!("grpc {peer}"))
            .ok_or_else(|| {
                Status::resource_exhausted(format!(
                    "at most {} access-notification subscribers (grpc.max_subscribers)",
                    self.core.notifications.max_subscribers()
                ))
            })?;
        log::info!("access notifications: {peer} subscribed");
        let subscriber = Subscriber {
            subscription,
            mask: match wanted.type_of_access_notification {
                0 => u32::MAX,
                mask => mask,
            },
            with_image: wanted.send_image_data,
            pending: VecDeque::new(),
            next_ping: tokio::time::Instant::now() + PING_INTERVAL,
        };
        Ok(Response::new(Box::pin(stream::unfold(
            subscriber,
            |mut subscriber| async move {
                let notification = subscriber.next().await?;
                Some((Ok(notification), subscriber))
            },
        ))))
    }
}

/// One stream's state: its mailbox, what it asked for, and what is due.
struct Subscriber {
    subscription: Subscription<DoorEvent>,
    /// The types it wants, a bit each.
    mask: u32,
    with_image: bool,
    pending: VecDeque<AccessNotification>,
    next_ping: tokio::time::Instant,
}

impl Subscriber {
    /// The next notification to send; `None` ends the stream (shutdown).
    async fn next(&mut self) -> Option<AccessNotification> {
        loop {
            if let Some(notification) = self.pending.pop_front() {
                return Some(notification);
            }
            let now = tokio::time::Instant::now();
            if now >= self.next_ping {
                self.next_ping = now + PING_INTERVAL;
                if self.mask & PING != 0 {
                    return Some(ping());
                }
            }
            let wait = self.next_ping.saturating_duration_since(now);
            match self.subscription.next_async(wait).await {
                Delivery::Events { events, .. } => self.pending.extend(
                    events
                        .iter()
                        .filter(|event| self.mask & event.notification_type() != 0)
                        .map(|event| event.notification(self.with_image)),
                ),
                Delivery::Idle => {}
                Delivery::Closed => return None,
            }
        }
    }
}
