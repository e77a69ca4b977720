//! The accept loop: TLS with rustls (or plain HTTP for the probe listener), then HTTP/1.1 or HTTP/2, with
//! connection limits, timeouts and graceful shutdown.
//!
//! Built directly on tokio-rustls and hyper-util (both already in the dependency graph through kube) rather
//! than axum-server, so that every limit a webhook needs is explicit here:
//!
//! - `--max-connections`: a semaphore; a connection accepted past it is closed at once and counted.
//! - `--handshake-timeout`: a client that opens a socket and says nothing holds one task that long at most.
//! - `--header-timeout`: an HTTP/1 request head must arrive within it (hyper's header-read timeout).
//! - `--idle-timeout`: a connection with no request in flight and none started for that long is closed —
//!   whether it sent one request or none after the handshake. hyper-util's version sniffing (the first
//!   bytes decide HTTP/1 or HTTP/2) has no timeout of its own, and HTTP/2 has no header timeout, so this
//!   watchdog is what bounds a silent TLS connection. Activity is counted per request rather than per
//!   byte, so HTTP/2 keep-alive PINGs do not keep an idle connection open.
//!
//! On shutdown every connection is told to finish (HTTP/1 closes after its current response, HTTP/2 sends
//! GOAWAY), in-flight requests get `shutdown_grace`, then whatever is left is dropped. Each connection is
//! its own task: a failed handshake or a broken connection is logged at debug level, counted, and affects
//! nothing else.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::metrics::{ConnectionDrop, HandshakeFailure, Metrics};
use crate::readiness::Readiness;
use crate::tls::TlsSlot;

/// Connection limits, timeouts and the shutdown sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    /// Longest TLS handshake.
    pub handshake_timeout: Duration,
    /// Longest wait for an HTTP/1 request head once its first byte is expected.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and none started for this long is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once (handshaking included); more are closed at accept.
    pub max_connections: usize,
    /// After shutdown is requested: keep accepting (while `/readyz` fails) this long.
    pub shutdown_delay: Duration,
    /// Then: longest wait for in-flight requests to finish.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            shutdown_delay: Duration::ZERO,
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// One listening socket and what to serve on it.
pub struct Endpoint {
    /// The bound socket.
    pub listener: TcpListener,
    /// TLS configuration read per connection; `None` serves plain HTTP (the probe listener).
    pub tls: Option<Arc<TlsSlot>>,
    /// The routes.
    pub app: Router,
    /// Where connection metrics go.
    pub metrics: Arc<Metrics>,
    /// The `listener` label of connection metrics (`webhook`, `probe`).
    pub name: &'static str,
}

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then drains (see [`serve_endpoint`]).
/// Connection metrics go to a private registry; [`serve_endpoint`] takes the server's.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: Router,
    readiness: Readiness,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let endpoint = Endpoint {
        listener,
        tls: Some(Arc::new(TlsSlot::new(tls))),
        app,
        metrics: Arc::new(Metrics::new()),
        name: "webhook",
    };
    serve_endpoint(endpoint, Some(readiness), options, shutdown).await;
}

/// What every connection of one endpoint shares.
struct Shared {
    tls: Option<Arc<TlsSlot>>,
    builder: auto::Builder<TokioExecutor>,
    app: Router,
    metrics: Arc<Metrics>,
    name: &'static str,
    options: ServeOptions,
}

/// Serves `endpoint` until `shutdown` resolves, then drains.
///
/// On shutdown: `readiness` (when given) starts failing, connections are still accepted for
/// `shutdown_delay`, then the listener closes and in-flight requests get up to `shutdown_grace` to finish.
pub async fn serve_endpoint(
    endpoint: Endpoint,
    readiness: Option<Readiness>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30));
    let Endpoint {
        listener,
        tls,
        app,
        metrics,
        name,
    } = endpoint;
    let shared = Arc::new(Shared {
        tls,
        builder,
        app,
        metrics,
        name,
        options,
    });
    // Semaphore permits are u32-counted when drained; no deployment needs more.
    let max = options.max_connections.clamp(1, u32::MAX as usize);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_connections, stopped) = watch::channel(false);

    tokio::pin!(shutdown);
    let mut stop_accepting_at: Option<Instant> = None;
    loop {
        let stop_accepting = async {
            match stop_accepting_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut shutdown, if stop_accepting_at.is_none() => {
                tracing::info!(listener = name, delay = ?options.shutdown_delay, "shutdown requested; no longer ready");
                if let Some(readiness) = &readiness {
                    readiness.set_draining();
                }
                stop_accepting_at = Some(Instant::now() + options.shutdown_delay);
            }
            () = stop_accepting => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        shared.metrics.observe_rejected(name, ConnectionDrop::Limit);
                        tracing::debug!(listener = name, %peer, max, "connection limit reached; closing");
                        drop(tcp);
                        continue;
                    };
                    let _ = tcp.set_nodelay(true);
                    let (shared, stopped) = (shared.clone(), stopped.clone());
                    tokio::spawn(async move {
                        let _open = shared.metrics.connection_opened(shared.name);
                        connection(tcp, peer, &shared, stopped).await;
                        drop(permit);
                    });
                }
                Err(err) => {
                    // Out of file descriptors and the like: do not spin.
                    tracing::warn!(listener = name, error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let open = max - slots.available_permits();
    tracing::info!(listener = name, connections = open, grace = ?options.shutdown_grace, "draining");
    let _ = stop_connections.send(true);
    // Every connection holds a permit until it ends: all permits back means all connections done.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(options.shutdown_grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            "shutdown grace period ended with requests still in flight"
        );
    }
}

/// The life of one connection: handshake with a deadline, then HTTP until the client, a timeout or a
/// shutdown ends it.
async fn connection(tcp: TcpStream, peer: SocketAddr, shared: &Shared, stopped: watch::Receiver<bool>) {
    let Some(slot) = &shared.tls else {
        serve_http(tcp, peer, shared, stopped).await;
        return;
    };
    let acceptor = TlsAcceptor::from(slot.current());
    let failure = match tokio::time::timeout(shared.options.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => {
            serve_http(tls, peer, shared, stopped).await;
            return;
        }
        Ok(Err(err)) => {
            let failure = handshake_failure(&err);
            tracing::debug!(listener = shared.name, %peer, error = %err, reason = failure.as_str(), "TLS handshake failed");
            failure
        }
        Err(_) => {
            tracing::debug!(listener = shared.name, %peer, "TLS handshake timed out");
            HandshakeFailure::Timeout
        }
    };
    shared.metrics.observe_handshake_failure(shared.name, failure);
}

/// Why a handshake failed, from tokio-rustls' error (which wraps rustls' own).
pub fn handshake_failure(err: &std::io::Error) -> HandshakeFailure {
    use rustls::{CertificateError, Error as TlsError};
    if let Some(tls) = err.get_ref().and_then(|e| e.downcast_ref::<TlsError>()) {
        return match tls {
            TlsError::NoCertificatesPresented => HandshakeFailure::NoClientCertificate,
            TlsError::InvalidCertificate(CertificateError::ApplicationVerificationFailure) => {
                HandshakeFailure::ClientNameNotAllowed
            }
            TlsError::InvalidCertificate(_) => HandshakeFailure::BadClientCertificate,
            _ => HandshakeFailure::Protocol,
        };
    }
    match err.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::ConnectionAborted
        | std::io::ErrorKind::BrokenPipe => HandshakeFailure::Closed,
        _ => HandshakeFailure::Protocol,
    }
}

/// When the connection last started or finished a request, and how many are in flight.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Release);
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(self.clone())
    }

    /// When the connection becomes idle if nothing happens; `None` while a request is in flight.
    fn idle_at(&self, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(self.start + Duration::from_millis(self.last_ms.load(Ordering::Acquire)) + idle)
    }
}

/// One request in flight on a connection.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// HTTP on an established connection, under the idle watchdog and the shutdown signal.
async fn serve_http<I>(io: I, peer: SocketAddr, shared: &Shared, mut stopped: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = {
        let (activity, app) = (activity.clone(), shared.app.clone());
        hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
            let in_flight = activity.begin();
            let app = app.clone();
            async move {
                let response = app.oneshot(request).await;
                drop(in_flight);
                response
            }
        })
    };
    let conn = shared.builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let options = shared.options;
    // Set once the connection was asked to finish: past it, it is dropped.
    let mut close_by: Option<Instant> = None;
    let mut shutdown_seen = *stopped.borrow();
    if shutdown_seen {
        conn.as_mut().graceful_shutdown();
        close_by = Some(Instant::now() + options.shutdown_grace);
    }
    loop {
        let idle_at = activity
            .idle_at(options.idle_timeout)
            .unwrap_or_else(|| Instant::now() + options.idle_timeout);
        let hard_stop = async {
            match close_by {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    let header_timeout = err
                        .downcast_ref::<hyper::Error>()
                        .is_some_and(hyper::Error::is_timeout);
                    if header_timeout {
                        shared.metrics.observe_closed(shared.name, ConnectionDrop::HeaderTimeout);
                    }
                    tracing::debug!(listener = shared.name, %peer, error = %err, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(idle_at), if close_by.is_none() => {
                if activity.idle_at(options.idle_timeout).is_some_and(|at| at <= Instant::now()) {
                    tracing::debug!(listener = shared.name, %peer, idle = ?options.idle_timeout, "closing idle connection");
                    shared.metrics.observe_closed(shared.name, ConnectionDrop::IdleTimeout);
                    conn.as_mut().graceful_shutdown();
                    close_by = Some(Instant::now() + options.header_read_timeout);
                }
            }
            changed = stopped.changed(), if !shutdown_seen => {
                shutdown_seen = true;
                if changed.is_ok() && close_by.is_none() {
                    conn.as_mut().graceful_shutdown();
                    close_by = Some(Instant::now() + options.shutdown_grace);
                }
            }
            () = hard_stop => {
                tracing::debug!(listener = shared.name, %peer, "connection did not finish in time; dropping it");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_failures_are_classified() {
        let wrap = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        assert_eq!(
            handshake_failure(&wrap(rustls::Error::NoCertificatesPresented)),
            HandshakeFailure::NoClientCertificate
        );
        assert_eq!(
            handshake_failure(&wrap(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))),
            HandshakeFailure::BadClientCertificate
        );
        assert_eq!(
            handshake_failure(&wrap(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure
            ))),
            HandshakeFailure::ClientNameNotAllowed
        );
        assert_eq!(
            handshake_failure(&wrap(rustls::Error::General("x".into()))),
            HandshakeFailure::Protocol
        );
        assert_eq!(
            handshake_failure(&std::io::ErrorKind::UnexpectedEof.into()),
            HandshakeFailure::Closed
        );
    }

    #[tokio::test]
    async fn idle_deadline_follows_requests() {
        let activity = Arc::new(Activity::new());
        let idle = Duration::from_secs(60);
        assert_eq!(activity.idle_at(idle), Some(activity.start + idle));
        tokio::time::sleep(Duration::from_millis(30)).await;
        let request = activity.begin();
        assert_eq!(
            activity.idle_at(idle),
            None,
            "never idle with a request in flight"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
        drop(request);
        let at = activity.idle_at(idle).expect("idle again");
        assert!(
            at >= activity.start + idle + Duration::from_millis(60),
            "counted from the request's end"
        );
        assert!(at <= Instant::now() + idle);
    }
}
