//! The HTTPS accept loop: TLS with rustls, then HTTP/1.1 or HTTP/2 by ALPN, with graceful shutdown.
//!
//! Built directly on tokio-rustls and hyper-util (both already in the dependency graph through kube) rather
//! than axum-server: the loop is short, and every limit a webhook needs is explicit here — the handshake
//! timeout (a client that opens a socket and says nothing holds one task for at most that long), the HTTP/1
//! header-read timeout, and the drain on shutdown through hyper-util's `GracefulShutdown`, which lets
//! in-flight requests finish, closes idle keep-alive connections and sends HTTP/2 GOAWAY.
//!
//! Each connection is its own task: a failed handshake or a broken connection is logged at debug level
//! and affects nothing else.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::readiness::Readiness;

/// Connection-level timeouts and the shutdown sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    /// Longest TLS handshake.
    pub handshake_timeout: Duration,
    /// Longest wait for an HTTP/1 request head. hyper starts it as soon as a connection is idle, so it is
    /// also how long an idle keep-alive connection is kept; clients (Go's included) reconnect as needed.
    pub header_read_timeout: Duration,
    /// After shutdown is requested: keep accepting (while `/readyz` fails) this long.
    pub shutdown_delay: Duration,
    /// Then: longest wait for in-flight requests to finish.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            shutdown_delay: Duration::ZERO,
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then drains.
///
/// On shutdown: `/readyz` starts failing, connections are still accepted for `shutdown_delay`, then the
/// listener closes and in-flight requests get up to `shutdown_grace` to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: Router,
    readiness: Readiness,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();

    tokio::pin!(shutdown);
    let mut stop_accepting_at: Option<tokio::time::Instant> = None;
    loop {
        let stop_accepting = async {
            match stop_accepting_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut shutdown, if stop_accepting_at.is_none() => {
                tracing::info!(delay = ?options.shutdown_delay, "shutdown requested; no longer ready");
                readiness.set_draining();
                stop_accepting_at = Some(tokio::time::Instant::now() + options.shutdown_delay);
            }
            () = stop_accepting => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    let (acceptor, builder, app, watcher) =
                        (acceptor.clone(), builder.clone(), app.clone(), graceful.watcher());
                    tokio::spawn(connection(tcp, peer, acceptor, builder, app, options, watcher));
                }
                Err(err) => {
                    // Out of file descriptors and the like: do not spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    tracing::info!(connections = graceful.count(), grace = ?options.shutdown_grace, "draining");
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period ended with requests still in flight");
    }
}

/// The life of one connection: handshake with a deadline, then HTTP until the client or a shutdown ends it.
async fn connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: Router,
    options: ServeOptions,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let tls = match tokio::time::timeout(options.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(err)) => {
            tracing::debug!(%peer, error = %err, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let service = TowerToHyperService::new(app);
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    if let Err(err) = watcher.watch(conn).await {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}
