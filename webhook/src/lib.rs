//! kubefed-webhook: the admission webhook's serving infrastructure (design §5).
//!
//! Everything around the admission decisions — HTTPS, AdmissionReview in and out, TLS bootstrap and
//! reload, health, readiness and metrics — with the decisions behind one seam, [`Admit`]. The decisions are
//! pure functions in `kubefed-core`; this crate never decides anything about federation.
//!
//! - [`admission`] — the [`Admit`] seam, [`AllowAll`], AdmissionReview decoding and encoding.
//! - [`server`] — routes and handlers, with precise answers to bad input.
//! - [`listener`] — the accept loop (TLS or, for probes, plain; HTTP/1.1 and HTTP/2), connection limit,
//!   handshake, header and idle timeouts, graceful shutdown.
//! - [`tls`] — the swappable certificate resolver and its two sources: self-managed (a CA in a Secret,
//!   `caBundle` publishing, renewal) and files (cert-manager or your own); optional client-certificate
//!   authentication of the API server (`--client-ca`).
//! - [`decisions`] — the real [`Admit`]: kubefed-core's decisions, `propagate` checks ([`sar`]) and audit
//!   recording, over a [`snapshot`] of the host kept current by informers.
//! - [`metrics`], [`readiness`], [`config`] (the command line), [`error`].
//!
//! [`run`] is the binary: it serves [`Decisions`]; [`run_with`] serves any [`Admit`] (the benchmark's floor
//! is [`AllowAll`]).

pub mod admission;
pub mod config;
pub mod decisions;
pub mod error;
pub mod fuzzing;
pub mod listener;
pub mod metrics;
pub mod readiness;
pub mod sar;
pub mod server;
pub mod snapshot;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::net::TcpListener;

pub use admission::{Admit, AdmitFuture, AllowAll};
pub use config::{Args, Consistency, LogFormat, TlsMode};
pub use decisions::{AuditSink, AuditWriter, Decisions, audit_channel};
pub use error::{Error, Result};
pub use listener::{Endpoint, ServeOptions, serve, serve_endpoint};
pub use metrics::Metrics;
pub use readiness::Readiness;
pub use sar::{CacheTtl, KubeReviewer, PropagateAuthorizer};
pub use server::{AppState, Limits, probe_router, router};
pub use snapshot::{SnapshotSource, StaticSnapshot, WatchedSnapshot};
pub use tls::{CertResolver, TlsSlot};

/// Runs the webhook as configured by `args` until SIGTERM or Ctrl-C.
pub async fn run(args: Args) -> Result<()> {
    run_until(args, shutdown_signal()).await
}

/// Runs the webhook with kubefed's decisions ([`Decisions`]) until `shutdown` resolves: informers for the
/// snapshot, the `propagate` authorizer, the audit writer, then [`run_with`]. Ready once the caches synced.
pub async fn run_until(args: Args, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
    args.validate()?;
    let client = kube_client(&args).await?;
    let readiness = Readiness::default();
    let settings = kubefed_core::admission::Settings {
        system_namespace: args.kubefed_namespace.clone(),
        namespace_consistency: args.namespace_consistency.enforcement(),
        native_equivalence: args.native_equivalence,
    };
    let (snapshots, watch_tasks) = WatchedSnapshot::start(client.clone(), settings, readiness.clone());
    let reviewer = KubeReviewer::new(client.clone(), args.rbac_timeout);
    let schemas = Arc::new(decisions::schemas::KubeSchemas::new(
        client.clone(),
        args.rbac_timeout,
    ));
    let authorizer = Arc::new(PropagateAuthorizer::new(
        Arc::new(reviewer),
        CacheTtl {
            allowed: args.rbac_allowed_ttl,
            denied: args.rbac_denied_ttl,
        },
    ));
    let (sink, writer) = audit_channel(client, 4096, args.audit_interval);
    let audit_task = tokio::spawn(writer.run());
    let decisions = Decisions::new(snapshots, authorizer, Some(sink)).with_schemas(schemas);
    let result = run_with(args, Arc::new(decisions), readiness, shutdown).await;
    // The decisions (and with them the audit sink) are dropped: the writer flushes and ends.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), audit_task).await;
    for task in watch_tasks {
        task.abort();
    }
    result
}

/// Runs the webhook with the decisions in `admit` until `shutdown` resolves, then drains.
///
/// `readiness` is shared with the caller, who calls [`Readiness::set_caches_synced`] when the caches the
/// decisions read are ready; `/readyz` also waits for the serving certificate.
pub async fn run_with(
    args: Args,
    admit: Arc<dyn Admit>,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    args.validate()?;
    let metrics = Arc::new(Metrics::new());
    let resolver = Arc::new(CertResolver::new(readiness.clone(), metrics.clone()));

    let (stop_tls, stop_rx) = tokio::sync::watch::channel(false);
    let tls_stopped = async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let tls_task = match args.tls_mode {
        TlsMode::Files => {
            let source = tls::files::FileSource::new(&args.tls_dir, resolver.clone());
            tokio::spawn(source.run(args.tls_poll_interval, tls_stopped))
        }
        TlsMode::SelfManaged => {
            let client = kube_client(&args).await?;
            tokio::spawn(tls::self_managed::run(
                client,
                self_managed_settings(&args),
                resolver.clone(),
                tls_stopped,
            ))
        }
    };

    let listener = bind(args.listen).await?;
    let probe_listener = match args.probe_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let tls_slot = match &args.client_ca {
        Some(path) => {
            let source = tls::client_auth::ClientCaSource::load(
                path,
                args.client_allowed_names.clone(),
                resolver.clone(),
                metrics.clone(),
            )?;
            let slot = source.slot();
            let mut rx = stop_tls.subscribe();
            tokio::spawn(source.run(args.tls_poll_interval, async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }));
            slot
        }
        None => Arc::new(tls::TlsSlot::new(tls::server_config(resolver)?)),
    };
    tracing::info!(
        addr = %args.listen, tls_mode = ?args.tls_mode, client_auth = args.client_ca.is_some(),
        probe_addr = ?args.probe_listen, "serving admission webhook"
    );
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        request_timeout: args.request_timeout,
    };
    let state = AppState::new(admit, metrics.clone(), readiness.clone(), limits);
    let options = ServeOptions {
        handshake_timeout: args.handshake_timeout,
        header_read_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections,
        shutdown_delay: args.shutdown_delay,
        shutdown_grace: args.shutdown_grace,
    };
    // Probes keep answering (readyz failing) until the webhook listener has drained.
    let (stop_probes, probes_stopped) = tokio::sync::watch::channel(false);
    let probe_task = probe_listener.map(|listener| {
        let endpoint = listener::Endpoint {
            listener,
            tls: None,
            app: server::probe_router(state.clone()),
            metrics: metrics.clone(),
            name: "probe",
        };
        let mut rx = probes_stopped;
        tokio::spawn(listener::serve_endpoint(endpoint, None, options, async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }))
    });
    let endpoint = listener::Endpoint {
        listener,
        tls: Some(tls_slot),
        app: router(state),
        metrics,
        name: "webhook",
    };
    listener::serve_endpoint(endpoint, Some(readiness), options, shutdown).await;
    let _ = stop_probes.send(true);
    if let Some(task) = probe_task {
        let _ = task.await;
    }

    let _ = stop_tls.send(true);
    let _ = tls_task.await;
    tracing::info!("stopped");
    Ok(())
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

fn self_managed_settings(args: &Args) -> tls::self_managed::Settings {
    tls::self_managed::Settings {
        namespace: args.namespace.clone(),
        secret_name: args.secret_name.clone(),
        mutating_config: args.mutating_config().to_owned(),
        validating_config: args.validating_config().to_owned(),
        sans: tls::rotation::Sans {
            dns_names: args.dns_names(),
            ips: args.extra_ips.clone(),
        },
        policy: tls::rotation::RotationPolicy {
            ca_validity: args.ca_validity,
            leaf_validity: args.cert_validity,
        },
        resync_interval: args.resync_interval,
    }
}

/// A client from `--kubeconfig`/`--context`, else the usual inference (KUBECONFIG, ~/.kube/config,
/// in-cluster).
async fn kube_client(args: &Args) -> Result<kube::Client> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match (&args.kubeconfig, &args.context) {
        (Some(path), _) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| Error::KubeConfig(format!("reading {}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| Error::KubeConfig(e.to_string()))?
        }
        (None, Some(_)) => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| Error::KubeConfig(e.to_string()))?,
        (None, None) => kube::Config::infer()
            .await
            .map_err(|e| Error::KubeConfig(e.to_string()))?,
    };
    kube::Client::try_from(config).map_err(|e| Error::KubeConfig(e.to_string()))
}

/// Resolves on SIGTERM (how Kubernetes stops a pod) or Ctrl-C.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
