//! kubefed-controller: makes federation real. Within moments of a federated object being stored on the
//! host cluster, every member cluster its placement selects has the right object — template plus
//! overrides — and the federated object says, per cluster, what happened.
//!
//! # What runs
//! ```text
//! run ─┬─ metrics server (/metrics, /healthz)
//!      └─ leader election (optional) ─► start ─┬─ KubeFedConfig watch          (kubefedconfig)
//!                                               ├─ Event publisher              (events)
//!                                               ├─ cluster registry ─► one health prober per cluster (cluster)
//!                                               ├─ FederatedNamespace index     (namespaces)
//!                                               ├─ FederatedTypeConfig watch ─► one propagation controller
//!                                               │    per enabled type ─► one member watch per cluster (typeconfig,
//!                                               │    propagation, member, deletion)
//!                                               ├─ ReplicaSchedulingPreference controller (scheduling)
//!                                               └─ Multi-Cluster Services, five watches per member (mcs)
//! ```
//! Every decision (placement, overrides, the member object, retention, status) is made by `kubefed-core`;
//! this crate watches, calls those functions and talks to API servers. Tasks are owned by their parents
//! ([`task::Task`]), so stopping a type or removing a cluster stops everything under it.
//!
//! # Starting it in-process
//! [`start`] runs everything on the current runtime and returns a [`Running`] handle; dropping it stops
//! the controller. The end-to-end tests use it; [`run`] adds flags, the metrics server, leader election
//! and signal handling for the binary.

pub mod cached;
pub mod cluster;
pub mod config;
pub mod context;
pub mod deletion;
pub mod error;
pub mod events;
pub mod kubefedconfig;
pub mod leader;
pub mod mcs;
pub mod member;
pub mod metrics;
pub mod namespaces;
pub mod orphans;
pub mod propagation;
pub mod scheduling;
pub mod server;
pub mod task;
pub mod typeconfig;

use std::sync::Arc;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::events::Reporter;
use kubefed_core::api::constants::{CONTROLLER_FIELD_MANAGER, KUBEFED_CONFIG_NAME};
use kubefed_core::api::{KubeFedConfig, parse_duration};

pub use cluster::{ClusterRegistry, ClusterSet, MemberCluster};
pub use config::{Args, DEFAULT_LOG_FILTER, LogFormat, MetricsAddr, Settings};
pub use context::Context;
pub use error::{Error, Result};
pub use metrics::Metrics;
pub use task::Task;

/// A running controller. Dropping it (or calling [`Running::stop`]) stops every task it started.
pub struct Running {
    /// The shared context (cluster registry, metrics, …), e.g. for tests to wait on clusters.
    pub context: Arc<Context>,
    tasks: Vec<Task>,
}

impl Running {
    /// Stops the controller.
    pub fn stop(self) {
        drop(self);
    }

    /// Whether any of the top-level tasks ended (they only end on a bug or a closed channel).
    pub fn any_task_finished(&self) -> bool {
        self.tasks.iter().any(Task::is_finished)
    }
}

/// Starts every controller on the current runtime, talking to the host cluster with `client`.
pub fn start(client: kube::Client, settings: Settings, metrics: Arc<Metrics>) -> Running {
    let mut tasks = Vec::new();
    let (config, config_fut) = kubefedconfig::watch_config(client.clone(), &settings.namespace);
    tasks.push(Task::spawn(config_fut));
    let reporter = Reporter {
        controller: CONTROLLER_FIELD_MANAGER.to_string(),
        instance: Some(settings.identity.clone()),
    };
    let (events, events_fut) = events::EventSink::new(client.clone(), reporter, metrics.clone());
    tasks.push(Task::spawn(events_fut));
    let (clusters, registry_fut) = cluster::start_registry(cluster::RegistryConfig {
        client: client.clone(),
        namespace: settings.namespace.clone(),
        member_qps: settings.member_qps,
        member_burst: settings.member_burst,
        config: config.clone(),
        events: events.clone(),
        metrics: metrics.clone(),
    });
    tasks.push(Task::spawn(registry_fut));
    let (namespaces, namespaces_fut) = namespaces::NamespaceIndex::start(client.clone());
    tasks.push(Task::spawn(namespaces_fut));
    let context = Arc::new(Context {
        client,
        settings,
        clusters,
        stalls: cluster::Stalls::default(),
        config,
        namespaces,
        events,
        metrics,
    });
    tasks.push(Task::spawn(typeconfig::run(context.clone())));
    tasks.push(Task::spawn(scheduling::run(context.clone())));
    if context.settings.mcs {
        tasks.push(Task::spawn(mcs::run(context.clone())));
    }
    Running { context, tasks }
}

/// The binary's main loop: host client, metrics server, optional leader election, controllers, and a
/// clean stop on SIGTERM / Ctrl-C.
pub async fn run(args: Args) -> Result<()> {
    let settings = Settings::from_args(&args)?;
    let client = host_client(&args).await?;
    let metrics = Arc::new(Metrics::new());
    let _server = match args.metrics_addr {
        MetricsAddr::On(addr) => {
            let (bound, fut) = server::bind(addr, metrics.clone()).await?;
            tracing::info!(%bound, "serving /metrics and /healthz");
            Some(Task::spawn(fut))
        }
        MetricsAddr::Off => None,
    };
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    if !args.leader_elect {
        let running = start(client, settings, metrics);
        shutdown.await;
        running.stop();
        return Ok(());
    }
    let timing = leader_timing(&client, &settings.namespace).await;
    let mut elector = leader::LeaderElector::new(
        client.clone(),
        &settings.namespace,
        &args.leader_elect_lease,
        &settings.identity,
        timing,
    );
    tokio::select! {
        () = elector.acquire() => {}
        () = &mut shutdown => return Ok(()),
    }
    metrics.set_leader(true);
    let running = start(client, settings, metrics.clone());
    tokio::select! {
        err = elector.hold() => {
            running.stop();
            metrics.set_leader(false);
            Err(err)
        }
        () = &mut shutdown => {
            running.stop();
            elector.release().await;
            metrics.set_leader(false);
            Ok(())
        }
    }
}

/// The host client: `--kubeconfig` (and `--context`), else the usual inference (KUBECONFIG,
/// ~/.kube/config, in-cluster).
async fn host_client(args: &Args) -> Result<kube::Client> {
    let opts = KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let cfg = match (&args.kubeconfig, &args.context) {
        (Some(path), _) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| Error::HostConfig(format!("reading {}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| Error::HostConfig(e.to_string()))?
        }
        (None, Some(_)) => kube::Config::from_kubeconfig(&opts)
            .await
            .map_err(|e| Error::HostConfig(e.to_string()))?,
        (None, None) => kube::Config::infer()
            .await
            .map_err(|e| Error::HostConfig(e.to_string()))?,
    };
    kube::Client::try_from(cfg).map_err(|e| Error::HostConfig(e.to_string()))
}

/// Leader-election timing from the KubeFedConfig, if it can be read; the defaults otherwise.
async fn leader_timing(client: &kube::Client, namespace: &str) -> leader::Timing {
    let mut timing = leader::Timing::default();
    let api: kube::Api<KubeFedConfig> = kube::Api::namespaced(client.clone(), namespace);
    let Ok(Some(cfg)) = api.get_opt(KUBEFED_CONFIG_NAME).await else {
        return timing;
    };
    let Some(le) = cfg.spec.leader_elect else {
        return timing;
    };
    let parse = |v: Option<String>, d: Duration| {
        v.and_then(|s| parse_duration(&s).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(d)
    };
    timing.lease_duration = parse(le.lease_duration, timing.lease_duration);
    timing.renew_deadline = parse(le.renew_deadline, timing.renew_deadline);
    timing.retry_period = parse(le.retry_period, timing.retry_period);
    timing
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}
