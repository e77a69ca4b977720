//! The member clusters: a registry of every KubeFedCluster in the system namespace, with a client for
//! each, its labels and whether it is ready, published as an immutable [`ClusterSet`] snapshot on a
//! `watch` channel.
//!
//! The registry watches KubeFedClusters and the Secrets of the system namespace. When a cluster's
//! connection settings or token change, it builds a new client and restarts that cluster's health
//! prober ([`health`]); labels and readiness changes only publish a new snapshot. Readiness is read from
//! the KubeFedCluster's `Ready` condition (written by the prober), so every replica and every controller
//! agrees on it.
//!
//! Consumers (the propagation controllers) take a snapshot with [`ClusterRegistry::current`] and never
//! hold a lock while talking to a cluster; they react to changes with [`ClusterRegistry::subscribe`].

pub mod client;
pub mod health;
pub mod tls;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use kubefed_core::api::KubeFedCluster;
use kubefed_core::api::constants::CLUSTER_SECRET_TOKEN_KEY;
use tokio::sync::watch;

use crate::events::EventSink;
use crate::kubefedconfig::ConfigReceiver;
use crate::metrics::Metrics;
use crate::task::Task;
use client::{Token, client_for};

/// One member cluster as the propagation controllers see it.
#[derive(Clone)]
pub struct MemberCluster {
    /// The KubeFedCluster's name.
    pub name: String,
    /// The KubeFedCluster's labels (for placement and overrides by cluster selector).
    pub labels: BTreeMap<String, String>,
    /// A client, or why none could be built (the `ConfigMalformed` message).
    pub client: Result<kube::Client, String>,
    /// Whether the cluster's `Ready` condition is `True`.
    pub ready: bool,
    /// Changes whenever a new client is built, so watchers of the member know to restart.
    pub generation: u64,
}

impl MemberCluster {
    /// The client, when the cluster is ready and has one.
    pub fn ready_client(&self) -> Option<&kube::Client> {
        if self.ready {
            self.client.as_ref().ok()
        } else {
            None
        }
    }
}

impl std::fmt::Debug for MemberCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberCluster")
            .field("name", &self.name)
            .field("labels", &self.labels)
            .field("client", &self.client.as_ref().map(|_| "…"))
            .field("ready", &self.ready)
            .field("generation", &self.generation)
            .finish()
    }
}

/// Every member cluster, by name.
#[derive(Clone, Debug, Default)]
pub struct ClusterSet {
    /// The clusters, by KubeFedCluster name.
    pub clusters: BTreeMap<String, MemberCluster>,
    /// Whether the KubeFedClusters have been listed at least once.
    pub synced: bool,
}

impl ClusterSet {
    /// The cluster named `name`.
    pub fn get(&self, name: &str) -> Option<&MemberCluster> {
        self.clusters.get(name)
    }

    /// A fingerprint of what placement depends on: names, labels, readiness and clients.
    pub fn placement_fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.synced.hash(&mut h);
        for (name, c) in &self.clusters {
            (name, &c.labels, c.ready, c.client.is_ok(), c.generation).hash(&mut h);
        }
        h.finish()
    }
}

/// Clusters that stopped answering: after a call to a member times out, further calls to it are not made
/// for one timeout period, so a hung member costs each reconcile nothing instead of a full timeout until
/// its health check catches up (3 failed probes, 30 s by default).
#[derive(Debug, Default)]
pub struct Stalls {
    until: Mutex<std::collections::HashMap<String, Instant>>,
}

impl Stalls {
    /// Whether calls to `cluster` should be skipped now.
    pub fn is_stalled(&self, cluster: &str) -> bool {
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        match until.get(cluster) {
            Some(t) if Instant::now() < *t => true,
            Some(_) => {
                until.remove(cluster);
                false
            }
            None => false,
        }
    }

    /// Records that a call to `cluster` timed out after `timeout`.
    pub fn timed_out(&self, cluster: &str, timeout: Duration) {
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        until.insert(cluster.to_string(), Instant::now() + timeout);
    }
}

/// Receives every new [`ClusterSet`].
#[derive(Clone)]
pub struct ClusterRegistry {
    rx: watch::Receiver<Arc<ClusterSet>>,
}

impl ClusterRegistry {
    /// The clusters now.
    pub fn current(&self) -> Arc<ClusterSet> {
        self.rx.borrow().clone()
    }

    /// A receiver that sees every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterSet>> {
        self.rx.clone()
    }

    /// Waits until the KubeFedClusters have been listed once.
    pub async fn synced(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|s| s.synced).await;
    }
}

/// What the registry needs.
pub struct RegistryConfig {
    /// The host client.
    pub client: kube::Client,
    /// The system namespace.
    pub namespace: String,
    /// `--member-qps`.
    pub member_qps: f64,
    /// `--member-burst`.
    pub member_burst: u32,
    /// Health-check settings.
    pub config: ConfigReceiver,
    /// Events.
    pub events: EventSink,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// Starts the registry; returns its handle and the future that maintains it (run it as a task; dropping
/// it stops every prober).
pub fn start_registry(cfg: RegistryConfig) -> (ClusterRegistry, impl Future<Output = ()> + Send + 'static) {
    let (tx, rx) = watch::channel(Arc::new(ClusterSet::default()));
    (ClusterRegistry { rx }, run_registry(cfg, tx))
}

/// A cluster's client and prober, kept while its connection settings stay the same.
struct Connection {
    key: u64,
    generation: u64,
    client: Result<kube::Client, String>,
    _prober: Task,
}

async fn run_registry(cfg: RegistryConfig, tx: watch::Sender<Arc<ClusterSet>>) {
    let kfc_api: Api<KubeFedCluster> = Api::namespaced(cfg.client.clone(), &cfg.namespace);
    let secret_api: Api<Secret> = Api::namespaced(cfg.client.clone(), &cfg.namespace);
    let mut kfcs_stream = watcher(kfc_api.clone(), watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut secrets_stream = watcher(secret_api, watcher::Config::default())
        .default_backoff()
        .boxed();

    let mut kfcs: HashMap<String, KubeFedCluster> = HashMap::new();
    let mut kfcs_listing: Option<HashSet<String>> = None;
    let mut kfcs_synced = false;
    let mut tokens: HashMap<String, Token> = HashMap::new();
    let mut secrets_listing: Option<HashSet<String>> = None;
    let mut secrets_synced = false;
    let mut connections: HashMap<String, Connection> = HashMap::new();
    let mut next_generation = 0u64;

    loop {
        tokio::select! {
            ev = kfcs_stream.next() => {
                let Some(ev) = ev else { return };
                match ev {
                    Ok(watcher::Event::Init) => kfcs_listing = Some(HashSet::new()),
                    Ok(watcher::Event::InitApply(k)) => {
                        if let Some(l) = kfcs_listing.as_mut() { l.insert(k.name_any()); }
                        kfcs.insert(k.name_any(), k);
                    }
                    Ok(watcher::Event::InitDone) => {
                        if let Some(seen) = kfcs_listing.take() { kfcs.retain(|n, _| seen.contains(n)); }
                        kfcs_synced = true;
                    }
                    Ok(watcher::Event::Apply(k)) => { kfcs.insert(k.name_any(), k); }
                    Ok(watcher::Event::Delete(k)) => { kfcs.remove(&k.name_any()); }
                    Err(e) => { tracing::warn!(error = %e, "watching KubeFedClusters"); continue; }
                }
            }
            ev = secrets_stream.next() => {
                let Some(ev) = ev else { return };
                match ev {
                    Ok(watcher::Event::Init) => secrets_listing = Some(HashSet::new()),
                    Ok(watcher::Event::InitApply(s)) => {
                        if let Some(l) = secrets_listing.as_mut() { l.insert(s.name_any()); }
                        tokens.insert(s.name_any(), token_of(&s));
                    }
                    Ok(watcher::Event::InitDone) => {
                        if let Some(seen) = secrets_listing.take() { tokens.retain(|n, _| seen.contains(n)); }
                        secrets_synced = true;
                    }
                    Ok(watcher::Event::Apply(s)) => { tokens.insert(s.name_any(), token_of(&s)); }
                    Ok(watcher::Event::Delete(s)) => { tokens.remove(&s.name_any()); }
                    Err(e) => { tracing::warn!(error = %e, "watching Secrets of the system namespace"); continue; }
                }
            }
        }
        if !(kfcs_synced && secrets_synced) {
            continue;
        }

        // Rebuild clients whose connection settings changed; stop probers of removed clusters.
        connections.retain(|name, _| {
            let keep = kfcs.contains_key(name);
            if !keep {
                cfg.metrics.cluster_removed(name);
            }
            keep
        });
        for (name, kfc) in &kfcs {
            let token = tokens
                .get(&kfc.spec.secret_ref.name)
                .cloned()
                .unwrap_or(Token::SecretMissing);
            let key = connection_key(kfc, &token);
            if connections.get(name).is_some_and(|c| c.key == key) {
                continue;
            }
            next_generation += 1;
            let client = client_for(kfc, &token, cfg.member_qps, cfg.member_burst).map_err(|m| m.0);
            if let Err(reason) = &client {
                tracing::warn!(cluster = name, reason, "KubeFedCluster is malformed");
            }
            let prober = health::Prober {
                cluster: name.clone(),
                api: kfc_api.clone(),
                client: client.clone(),
                status: kfc.status.clone(),
                reference: kfc.object_ref(&()),
                config: cfg.config.clone(),
                events: cfg.events.clone(),
                metrics: cfg.metrics.clone(),
            };
            connections.insert(
                name.clone(),
                Connection {
                    key,
                    generation: next_generation,
                    client,
                    _prober: Task::spawn(prober.run()),
                },
            );
        }

        let set = ClusterSet {
            clusters: kfcs
                .iter()
                .filter_map(|(name, kfc)| {
                    let conn = connections.get(name)?;
                    Some((
                        name.clone(),
                        MemberCluster {
                            name: name.clone(),
                            labels: kfc.labels().clone(),
                            client: conn.client.clone(),
                            ready: kfc.is_ready() && conn.client.is_ok(),
                            generation: conn.generation,
                        },
                    ))
                })
                .collect(),
            synced: true,
        };
        tx.send_if_modified(|cur| {
            let changed = !cur.synced || cur.placement_fingerprint() != set.placement_fingerprint();
            if changed {
                *cur = Arc::new(set);
            }
            changed
        });
    }
}

/// A hash of everything a cluster's client is built from.
fn connection_key(kfc: &KubeFedCluster, token: &Token) -> u64 {
    let mut h = DefaultHasher::new();
    let spec = &kfc.spec;
    spec.api_endpoint.hash(&mut h);
    spec.ca_bundle.as_ref().map(|b| &b.0).hash(&mut h);
    spec.secret_ref.name.hash(&mut h);
    spec.proxy_url.hash(&mut h);
    spec.disabled_tls_validations.hash(&mut h);
    token.hash(&mut h);
    kfc.uid().hash(&mut h);
    h.finish()
}

/// The `token` of a Secret.
fn token_of(secret: &Secret) -> Token {
    match secret.data.as_ref().and_then(|d| d.get(CLUSTER_SECRET_TOKEN_KEY)) {
        Some(b) => match String::from_utf8(b.0.clone()) {
            Ok(t) => Token::Present(t),
            Err(_) => Token::KeyMissing,
        },
        None => match secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(CLUSTER_SECRET_TOKEN_KEY))
        {
            Some(t) => Token::Present(t.clone()),
            None => Token::KeyMissing,
        },
    }
}
