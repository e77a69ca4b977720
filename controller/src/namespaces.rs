//! FederatedNamespaces on the host, for the namespaced types.
//!
//! A namespaced federated object goes to (its placement ∩ its FederatedNamespace's placement), and with
//! no FederatedNamespace it goes nowhere (design §3). Every propagation controller needs that, whether or
//! not the `namespaces` type itself is enabled, so one reflector of FederatedNamespaces is shared by all
//! of them. When a FederatedNamespace appears, goes, or its placement changes, the namespace's name is
//! broadcast so each controller re-reconciles its objects in that namespace.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kubefed_core::api::{FederatedObject, federated_api_resource};
use kubefed_core::find_default_type;
use tokio::sync::broadcast;

/// The FederatedNamespaces, and news of changes to them.
#[derive(Clone)]
pub struct NamespaceIndex {
    store: Store<FederatedObject>,
    changes: broadcast::Sender<String>,
    ar: kube::core::ApiResource,
}

impl NamespaceIndex {
    /// Starts the reflector; returns the index and the future that feeds it (run it as a task).
    pub fn start(client: kube::Client) -> (NamespaceIndex, impl Future<Output = ()> + Send + 'static) {
        let ar = find_default_type("namespaces").map_or_else(
            || kube::core::ApiResource {
                group: "types.kubefed.io".into(),
                version: "v1beta1".into(),
                api_version: "types.kubefed.io/v1beta1".into(),
                kind: "FederatedNamespace".into(),
                plural: "federatednamespaces".into(),
            },
            |t| federated_api_resource(&t),
        );
        let writer = reflector::store::Writer::<FederatedObject>::new(ar.clone());
        let store = writer.as_reader();
        let (changes, _) = broadcast::channel(1024);
        let index = NamespaceIndex {
            store,
            changes: changes.clone(),
            ar: ar.clone(),
        };
        let api: Api<FederatedObject> = Api::all_with(client, &ar);
        let fut = async move {
            let mut placements: HashMap<String, u64> = HashMap::new();
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .modify(|o| o.managed_fields_mut().clear())
                .reflect(writer)
                .boxed();
            while let Some(ev) = stream.next().await {
                let (obj, deleted) = match ev {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => (o, false),
                    Ok(watcher::Event::Delete(o)) => (o, true),
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::debug!(error = %e, "watching FederatedNamespaces");
                        continue;
                    }
                };
                let ns = obj.namespace().unwrap_or_default();
                let key = placement_key(&obj);
                let changed = if deleted {
                    placements.remove(&ns).is_some()
                } else {
                    placements.insert(ns.clone(), key) != Some(key)
                };
                if changed {
                    let _ = changes.send(ns);
                }
            }
        };
        (index, fut)
    }

    /// The FederatedNamespace of `namespace` (named like it, inside it), if any.
    pub fn get(&self, namespace: &str) -> Option<Arc<FederatedObject>> {
        self.store
            .get(&ObjectRef::new_with(namespace, self.ar.clone()).within(namespace))
    }

    /// Waits until the FederatedNamespaces were listed, at most `timeout`; whether they were.
    pub async fn ready(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.store.wait_until_ready())
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Namespaces whose FederatedNamespace changed, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.changes.subscribe()
    }
}

/// What of a FederatedNamespace its namespace's objects depend on: the placement and whether it is
/// being deleted.
fn placement_key(obj: &FederatedObject) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_string(&obj.spec.placement)
        .unwrap_or_default()
        .hash(&mut h);
    obj.metadata.deletion_timestamp.is_some().hash(&mut h);
    h.finish()
}
