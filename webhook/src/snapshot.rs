//! The host state the decisions read, kept current by informers and handed to each request as an
//! `Arc<Snapshot>`.
//!
//! Five reflectors watch what [`kubefed_core::admission::Snapshot`] holds:
//!
//! | resource | scope | why |
//! | --- | --- | --- |
//! | KubeFedCluster | system namespace | the joined clusters and their labels (placement, policies) |
//! | FederatedTypeConfig | system namespace | which federated kind wraps which target type |
//! | FederatedNamespace | every namespace | namespace consistency (the namespace's own placement) |
//! | Namespace (metadata only) | cluster | labels for policies' `namespaceSelector` |
//! | FederationPolicy | cluster | the policies |
//!
//! Every watch event bumps a generation counter. A request takes the current snapshot when its generation
//! is current (an atomic load and an `Arc` clone); the first request after a change rebuilds it, once, from
//! the stores. Requests therefore never copy the caches, and a burst of events costs one rebuild.
//!
//! Until every store has listed its resource once, [`SnapshotSource::synced`] is false and `/readyz` says
//! so: a decision made on half a cache could deny a valid object (a FederatedNamespace not seen yet) or
//! allow an invalid one (a policy not seen yet).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use kubefed_core::admission::{Settings, Snapshot, TypeEntry};
use kubefed_core::api::{FederatedObject, FederatedTypeConfig, FederationPolicy, KubeFedCluster};
use kubefed_core::placement::ClusterInfo;
use kubefed_core::typeinfo::{FEDERATED_GROUP, FEDERATED_VERSION};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use crate::readiness::Readiness;

/// Where the decisions get the host state from.
pub trait SnapshotSource: Send + Sync + 'static {
    /// The current snapshot.
    fn snapshot(&self) -> Arc<Snapshot>;

    /// Whether the snapshot reflects the API server (every cache listed once).
    fn synced(&self) -> bool {
        true
    }
}

/// A fixed snapshot (benchmarks, tests, `kubectl fed check`-like uses).
#[derive(Clone, Debug)]
pub struct StaticSnapshot(pub Arc<Snapshot>);

impl SnapshotSource for StaticSnapshot {
    fn snapshot(&self) -> Arc<Snapshot> {
        self.0.clone()
    }
}

/// The readers of the five caches.
#[derive(Clone)]
struct Stores {
    clusters: Store<KubeFedCluster>,
    type_configs: Store<FederatedTypeConfig>,
    federated_namespaces: Store<FederatedObject>,
    namespaces: Store<PartialObjectMeta<Namespace>>,
    policies: Store<FederationPolicy>,
}

/// A snapshot kept current by informers (see the module docs).
pub struct WatchedSnapshot {
    stores: Stores,
    settings: Settings,
    generation: Arc<AtomicU64>,
    current: RwLock<(u64, Arc<Snapshot>)>,
    rebuild: Mutex<()>,
    synced: Arc<AtomicBool>,
}

impl WatchedSnapshot {
    /// Starts the five watches on `client` and a task that marks `readiness` (and [`SnapshotSource::synced`])
    /// once all have listed. Returns the source and the tasks (abort them to stop watching).
    pub fn start(
        client: Client,
        settings: Settings,
        readiness: Readiness,
    ) -> (Arc<Self>, Vec<JoinHandle<()>>) {
        let generation = Arc::new(AtomicU64::new(1));
        let system_namespace = settings.system_namespace.clone();
        let mut tasks = Vec::new();

        let (clusters, writer) = reflector::store();
        tasks.push(watch(
            watcher(
                Api::<KubeFedCluster>::namespaced(client.clone(), &system_namespace),
                watcher::Config::default(),
            ),
            writer,
            generation.clone(),
            "KubeFedClusters",
        ));
        let (type_configs, writer) = reflector::store();
        tasks.push(watch(
            watcher(
                Api::<FederatedTypeConfig>::namespaced(client.clone(), &system_namespace),
                watcher::Config::default(),
            ),
            writer,
            generation.clone(),
            "FederatedTypeConfigs",
        ));
        let ar = federated_namespace_resource();
        let writer = Writer::new(ar.clone());
        let federated_namespaces = writer.as_reader();
        tasks.push(watch(
            watcher(
                Api::<FederatedObject>::all_with(client.clone(), &ar),
                watcher::Config::default(),
            ),
            writer,
            generation.clone(),
            "FederatedNamespaces",
        ));
        let (namespaces, writer) = reflector::store();
        tasks.push(watch(
            watcher(
                Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
                watcher::Config::default(),
            ),
            writer,
            generation.clone(),
            "Namespaces",
        ));
        let (policies, writer) = reflector::store();
        tasks.push(watch(
            watcher(Api::<FederationPolicy>::all(client), watcher::Config::default()),
            writer,
            generation.clone(),
            "FederationPolicies",
        ));

        let stores = Stores {
            clusters,
            type_configs,
            federated_namespaces,
            namespaces,
            policies,
        };
        let synced = Arc::new(AtomicBool::new(false));
        let this = Arc::new(Self {
            stores: stores.clone(),
            settings,
            generation,
            current: RwLock::new((0, Arc::new(Snapshot::default()))),
            rebuild: Mutex::new(()),
            synced: synced.clone(),
        });
        tasks.push(tokio::spawn(async move {
            let ready = futures::future::try_join5(
                stores.clusters.wait_until_ready(),
                stores.type_configs.wait_until_ready(),
                stores.federated_namespaces.wait_until_ready(),
                stores.namespaces.wait_until_ready(),
                stores.policies.wait_until_ready(),
            )
            .await;
            if ready.is_ok() {
                synced.store(true, Ordering::Release);
                readiness.set_caches_synced(true);
                tracing::info!(
                    "caches synced: clusters, type configs, federated namespaces, namespaces, policies"
                );
            }
        }));
        (this, tasks)
    }

    fn build(&self) -> Snapshot {
        build(&self.stores, self.settings.clone())
    }
}

impl SnapshotSource for WatchedSnapshot {
    fn snapshot(&self) -> Arc<Snapshot> {
        let generation = self.generation.load(Ordering::Acquire);
        {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if current.0 == generation {
                return current.1.clone();
            }
        }
        let _one_rebuild = self.rebuild.lock().unwrap_or_else(|p| p.into_inner());
        let generation = self.generation.load(Ordering::Acquire);
        {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if current.0 == generation {
                return current.1.clone();
            }
        }
        let snapshot = Arc::new(self.build());
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (generation, snapshot.clone());
        snapshot
    }

    fn synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }
}

/// The `ApiResource` of FederatedNamespace (`types.kubefed.io/v1beta1`, `federatednamespaces`).
fn federated_namespace_resource() -> kube::core::ApiResource {
    kube::core::ApiResource {
        group: FEDERATED_GROUP.to_string(),
        version: FEDERATED_VERSION.to_string(),
        api_version: format!("{FEDERATED_GROUP}/{FEDERATED_VERSION}"),
        kind: "FederatedNamespace".to_string(),
        plural: "federatednamespaces".to_string(),
    }
}

/// Runs one reflector until its stream ends, bumping `generation` on every event.
fn watch<K, S>(stream: S, writer: Writer<K>, generation: Arc<AtomicU64>, what: &'static str) -> JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        let events = stream.default_backoff().reflect(writer);
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(_) => {
                    generation.fetch_add(1, Ordering::AcqRel);
                }
                Err(err) => tracing::warn!(
                    error = %err,
                    "cannot watch {what} (is its CRD installed and may the webhook list and watch it?); retrying"
                ),
            }
        }
    })
}

/// The snapshot of the stores' current contents.
fn build(stores: &Stores, settings: Settings) -> Snapshot {
    let clusters = stores
        .clusters
        .state()
        .iter()
        .map(|c| ClusterInfo::from_cluster(c))
        .collect();
    let mut federated_namespaces = BTreeMap::new();
    for fns in stores.federated_namespaces.state() {
        let (Some(name), Some(namespace)) = (&fns.metadata.name, &fns.metadata.namespace) else {
            continue;
        };
        // Only a FederatedNamespace named after its namespace federates it; one being deleted no longer does.
        if name == namespace && fns.metadata.deletion_timestamp.is_none() {
            federated_namespaces.insert(namespace.clone(), fns.spec.placement.clone());
        }
    }
    let namespace_labels = stores
        .namespaces
        .state()
        .iter()
        .filter_map(|ns| {
            let name = ns.metadata.name.clone()?;
            Some((name, ns.metadata.labels.clone().unwrap_or_default()))
        })
        .collect();
    let policies = stores
        .policies
        .state()
        .iter()
        .map(|p| FederationPolicy::clone(p))
        .collect();
    let types = stores
        .type_configs
        .state()
        .iter()
        .map(|t| TypeEntry::from_config(t))
        .collect();
    Snapshot::new(
        clusters,
        federated_namespaces,
        namespace_labels,
        policies,
        types,
        settings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubefed_core::api::federated_api_resource;
    use kubefed_core::typeinfo::find_default_type;
    use serde_json::json;

    fn apply<K>(writer: &mut Writer<K>, objects: Vec<K>)
    where
        K: Resource + Clone,
        K::DynamicType: Eq + Hash + Clone,
    {
        writer.apply_watcher_event(&watcher::Event::Init);
        for o in objects {
            writer.apply_watcher_event(&watcher::Event::InitApply(o));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
    }

    fn de<K: DeserializeOwned>(v: serde_json::Value) -> K {
        serde_json::from_value(v).expect("test object decodes")
    }

    #[test]
    fn builds_the_snapshot_from_the_stores() {
        let (clusters, mut w1) = reflector::store::<KubeFedCluster>();
        apply(
            &mut w1,
            vec![de(
                json!({"apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedCluster",
                "metadata": {"name": "m2", "namespace": "kube-federation-system", "labels": {"region": "us"}},
                "spec": {"apiEndpoint": "https://m2", "secretRef": {"name": "s"}}}),
            )],
        );
        let (type_configs, mut w2) = reflector::store::<FederatedTypeConfig>();
        let deploy = find_default_type("deployments").expect("default type");
        apply(
            &mut w2,
            vec![FederatedTypeConfig::for_target(&deploy, "kube-federation-system")],
        );
        let ns_type = find_default_type("namespaces").expect("default type");
        let ar = federated_api_resource(&ns_type);
        assert_eq!(ar, federated_namespace_resource());
        let mut w3 = Writer::<FederatedObject>::new(ar);
        let federated_namespaces = w3.as_reader();
        let fns = |name: &str, ns: &str| -> FederatedObject {
            de(
                json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace",
                "metadata": {"name": name, "namespace": ns}, "spec": {"placement": {"clusters": [{"name": "m2"}]}}}),
            )
        };
        apply(&mut w3, vec![fns("shop", "shop"), fns("stray", "shop")]);
        let (namespaces, mut w4) = reflector::store::<PartialObjectMeta<Namespace>>();
        apply(
            &mut w4,
            vec![de(json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "shop", "labels": {"team": "shop"}}}))],
        );
        let (policies, mut w5) = reflector::store::<FederationPolicy>();
        apply(
            &mut w5,
            vec![
                de(
                    json!({"apiVersion": "policy.kubefed.io/v1alpha1", "kind": "FederationPolicy",
                    "metadata": {"name": "b"}, "spec": {}}),
                ),
                de(
                    json!({"apiVersion": "policy.kubefed.io/v1alpha1", "kind": "FederationPolicy",
                    "metadata": {"name": "a"}, "spec": {"minClusters": 1}}),
                ),
            ],
        );
        let stores = Stores {
            clusters,
            type_configs,
            federated_namespaces,
            namespaces,
            policies,
        };
        let snap = build(&stores, Settings::default());
        assert_eq!(snap.clusters.len(), 1);
        assert_eq!(
            snap.cluster("m2")
                .and_then(|c| c.labels.get("region"))
                .map(String::as_str),
            Some("us")
        );
        assert_eq!(snap.federated_namespaces.keys().collect::<Vec<_>>(), ["shop"]);
        assert_eq!(
            snap.namespace_labels
                .get("shop")
                .and_then(|l| l.get("team"))
                .map(String::as_str),
            Some("shop")
        );
        let names: Vec<_> = snap
            .policies
            .iter()
            .filter_map(|p| p.metadata.name.as_deref())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert!(
            snap.type_for_federated("types.kubefed.io", "FederatedDeployment")
                .is_some()
        );
    }
}
