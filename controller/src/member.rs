//! What we know about our objects in each member cluster, for one federated type: a compact index fed by
//! one watch per cluster, filtered by `kubefed.io/managed=true` so nothing else is listed or cached.
//!
//! # Why an index and not a reflector
//! A reflector would keep every member object in full — at 10,000 federated Deployments over 2 members
//! that is 20,000 Deployments with their managed fields, hundreds of megabytes. The controller only needs,
//! per member object: its uid and resourceVersion, whether *our* fields are still as we applied them, and
//! (for workloads, or when status collection is on) its `status`. That is what [`MemberState`] holds.
//!
//! # Drift without comparing objects
//! Server-side apply records which fields each manager owns. When anyone else changes a field we applied
//! (kubectl edit, another controller), ownership of that field moves to them, so the `fieldsV1` of our
//! `kubefed-controller` / `Apply` entry in `managedFields` changes. [`MemberState::owned`] is a hash of it:
//! if it differs from what it was right after our last apply, our fields drifted and the object is
//! re-applied. Changes to fields we do not own (an HPA's replicas, injected annotations, status) leave it
//! alone, so they cost no write. What we last applied is remembered as a hash of the desired object, so an
//! unchanged federated object is not re-applied either.
//!
//! # After a restart
//! That memory is lost with the process. [`MemberState::intent`] recovers it from the member object:
//! the hash of the object cut down to the fields our apply entry owns (`kubefed_core::intent`), which
//! equals the desired object's hash exactly when the member holds the desired object and every field of
//! it is still ours. So a restarted controller writes only to members that differ. Objects whose fields
//! we do not own through an apply (created by KubeFed, or with a plain create) are applied once, then
//! known.
//!
//! # Triggers
//! A member change that needs a reconcile (drift, deletion, a status change worth reporting, an object of
//! ours appearing) sends the federated object's reference to the controller. A re-list after a lost
//! watch (`Init` … `InitDone`) compares with what was known before, so changes missed while disconnected
//! are caught.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
#[cfg(test)]
use kubefed_core::api::constants::RETAINED_REPLICAS_FIELD_MANAGER;
use kubefed_core::api::constants::{CONTROLLER_FIELD_MANAGER, MANAGED_LABEL, MANAGED_LABEL_VALUE};
use kubefed_core::intent::{intent_hash, owned_projection};
use kubefed_core::{Scope, TargetType};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::cached::CachedFederated;

/// A member object's namespace (`None` for cluster-scoped types) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberKey {
    /// Namespace, for namespaced types.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

/// What we last applied to a member object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Hash of the desired object we applied.
    pub desired: u64,
    /// [`MemberState::owned`] of the object the apply returned.
    pub owned: u64,
}

/// One member object of ours, as last seen.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberState {
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// Hash of our `managedFields` entry (see the module docs).
    pub owned: u64,
    /// [`intent_hash`] of the object cut down to the fields we own (see `kubefed_core::intent`): equal to
    /// the desired object's when the member holds it — known after a restart, without a write.
    pub intent: u64,
    /// Whether the object is being deleted.
    pub deleting: bool,
    /// The object's `status` as JSON text, when kept (text: a `Value` would cost ten times the memory).
    pub status: Option<Box<str>>,
    /// What we last applied, if we did since this process started.
    pub applied: Option<Applied>,
    /// `spec.replicas` when our apply is its only owner (see [`sole_replicas_owner`]).
    pub sole_replicas: Option<i64>,
}

impl MemberState {
    /// The state of `obj`; `status` is kept only when `keep_status`.
    pub fn of(obj: &DynamicObject, keep_status: bool) -> Self {
        MemberState {
            uid: obj.metadata.uid.clone().unwrap_or_default(),
            resource_version: obj.metadata.resource_version.clone().unwrap_or_default(),
            owned: owned_fingerprint(obj),
            intent: owned_intent(obj),
            deleting: obj.metadata.deletion_timestamp.is_some(),
            status: if keep_status {
                obj.data.get("status").map(|s| s.to_string().into_boxed_str())
            } else {
                None
            },
            applied: None,
            sole_replicas: sole_replicas_owner(obj),
        }
    }

    /// The kept `status`, decoded.
    pub fn status_value(&self) -> Option<Value> {
        self.status.as_deref().and_then(|s| serde_json::from_str(s).ok())
    }

    /// Whether the object holds the desired object whose [`desired_hash`] is `desired_hash`: we applied
    /// it and our fields are unchanged since, or (after a restart) the fields we own hold exactly it.
    pub fn is_current(&self, desired_hash: u64) -> bool {
        !self.deleting
            && (self
                .applied
                .is_some_and(|a| a.desired == desired_hash && a.owned == self.owned)
                || self.intent == desired_hash)
    }
}

/// A hash of the `fieldsV1` of our server-side-apply entry in `managedFields` (0 when there is none).
pub fn owned_fingerprint(obj: &DynamicObject) -> u64 {
    let Some(entry) = our_entry(obj) else { return 0 };
    let mut h = DefaultHasher::new();
    serde_json::to_string(&entry.fields_v1)
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

/// `spec.replicas` of `obj` when our apply entry owns it and no other entry does: an apply of ours that
/// omits it (`retainReplicas`) would then remove it, so the controller pins it first
/// (`kubefed_core::propagation::replicas_pin`).
pub fn sole_replicas_owner(obj: &DynamicObject) -> Option<i64> {
    let owns = |entry: &ManagedFieldsEntry| {
        entry
            .fields_v1
            .as_ref()
            .and_then(|f| f.0.get("f:spec"))
            .is_some_and(|spec| spec.get("f:replicas").is_some())
    };
    let entries = obj.metadata.managed_fields.as_deref().unwrap_or_default();
    let ours = our_entry(obj)?;
    if !owns(ours) || entries.iter().any(|e| !std::ptr::eq(e, ours) && owns(e)) {
        return None;
    }
    obj.data.get("spec")?.get("replicas")?.as_i64()
}

/// Our server-side-apply entry in `managedFields`.
fn our_entry(obj: &DynamicObject) -> Option<&ManagedFieldsEntry> {
    obj.metadata.managed_fields.iter().flatten().find(|entry| {
        entry.manager.as_deref() == Some(CONTROLLER_FIELD_MANAGER)
            && entry.operation.as_deref() == Some("Apply")
            && entry.subresource.as_deref().is_none_or(str::is_empty)
    })
}

/// [`intent_hash`] of `obj` cut down to the fields of our apply entry (0 when there is none).
pub fn owned_intent(obj: &DynamicObject) -> u64 {
    owned_view(obj).map_or(0, |v| intent_hash(&v))
}

/// `obj` cut down to the fields of our apply entry (see `kubefed_core::intent`); `None` when we have no
/// apply entry. What `kubectl fed diff` compares with the desired object, as the controller does.
pub fn owned_view(obj: &DynamicObject) -> Option<Value> {
    let fields = our_entry(obj).and_then(|e| e.fields_v1.as_ref())?;
    // The metadata fields an apply can own; the rest of the object is `data`.
    let meta = serde_json::json!({
        "labels": obj.metadata.labels,
        "annotations": obj.metadata.annotations,
        "finalizers": obj.metadata.finalizers,
        "ownerReferences": obj.metadata.owner_references,
    });
    let Value::Object(top) = &fields.0 else {
        return None;
    };
    let mut projected = serde_json::Map::new();
    for (k, sub) in top {
        let Some(name) = k.strip_prefix("f:") else {
            continue;
        };
        let live = if name == "metadata" {
            Some(&meta)
        } else {
            obj.data.get(name)
        };
        if let Some(p) = live.and_then(|l| owned_projection(l, sub)) {
            projected.insert(name.to_string(), p);
        }
    }
    Some(Value::Object(projected))
}

/// A hash of a desired member object, to know whether it changed since we applied it (see
/// [`MemberState::is_current`]).
pub fn desired_hash(desired: &Value) -> u64 {
    intent_hash(desired)
}

#[derive(Debug, Default)]
struct ClusterIndex {
    generation: u64,
    synced: bool,
    objects: HashMap<MemberKey, MemberState>,
    /// Writes in flight: the desired hash each is writing. The watch may show a new object before the
    /// write's response is recorded; an object that holds exactly what is being written is then our own
    /// write's echo, not a change to reconcile (which would cost a second status write per new object).
    expected: HashMap<MemberKey, u64>,
}

/// Our member objects of one type, per cluster.
#[derive(Debug, Default)]
pub struct MemberIndex {
    clusters: RwLock<HashMap<String, ClusterIndex>>,
}

impl MemberIndex {
    /// The state of `key` in `cluster`.
    pub fn get(&self, cluster: &str, key: &MemberKey) -> Option<MemberState> {
        let all = self.clusters.read().unwrap_or_else(|p| p.into_inner());
        all.get(cluster).and_then(|c| c.objects.get(key)).cloned()
    }

    /// Whether `cluster`'s watch has listed its objects since it (re)started.
    pub fn synced(&self, cluster: &str) -> bool {
        let all = self.clusters.read().unwrap_or_else(|p| p.into_inner());
        all.get(cluster).is_some_and(|c| c.synced)
    }

    /// Records an object we just wrote (the object the API server returned).
    pub fn record_applied(
        &self,
        cluster: &str,
        key: MemberKey,
        obj: &DynamicObject,
        desired: u64,
        keep_status: bool,
    ) {
        let mut state = MemberState::of(obj, keep_status);
        state.applied = Some(Applied {
            desired,
            owned: state.owned,
        });
        let mut all = self.clusters.write().unwrap_or_else(|p| p.into_inner());
        let c = all.entry(cluster.to_string()).or_default();
        c.expected.remove(&key);
        match c.objects.get_mut(&key) {
            // A newer version was already seen on the watch: keep its state, remember what we applied.
            Some(existing) if newer(&existing.resource_version, &state.resource_version) => {
                existing.applied = state.applied;
            }
            _ => {
                c.objects.insert(key, state);
            }
        }
    }

    /// Forgets an object we deleted or orphaned.
    pub fn forget(&self, cluster: &str, key: &MemberKey) {
        let mut all = self.clusters.write().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = all.get_mut(cluster) {
            c.objects.remove(key);
            c.expected.remove(key);
        }
    }

    /// Notes that a write of the desired object hashing to `desired` is about to be sent (see
    /// `ClusterIndex::expected`); [`MemberIndex::record_applied`] or [`MemberIndex::settle`] ends it.
    pub fn expect(&self, cluster: &str, key: &MemberKey, desired: u64) {
        let mut all = self.clusters.write().unwrap_or_else(|p| p.into_inner());
        all.entry(cluster.to_string())
            .or_default()
            .expected
            .insert(key.clone(), desired);
    }

    /// Ends the expectation of a write that failed.
    pub fn settle(&self, cluster: &str, key: &MemberKey) {
        let mut all = self.clusters.write().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = all.get_mut(cluster) {
            c.expected.remove(key);
        }
    }

    /// The keys of every object of ours in `cluster`.
    pub fn keys(&self, cluster: &str) -> Vec<MemberKey> {
        let all = self.clusters.read().unwrap_or_else(|p| p.into_inner());
        all.get(cluster)
            .map(|c| c.objects.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Drops everything about `cluster` (it left, or its client changed).
    pub fn remove_cluster(&self, cluster: &str) {
        let mut all = self.clusters.write().unwrap_or_else(|p| p.into_inner());
        all.remove(cluster);
    }

    /// Starts a new generation of `cluster` (a new watch), keeping known objects until the re-list.
    fn begin(&self, cluster: &str, generation: u64) {
        let mut all = self.clusters.write().unwrap_or_else(|p| p.into_inner());
        let c = all.entry(cluster.to_string()).or_default();
        if c.generation != generation {
            c.generation = generation;
            c.synced = false;
        }
    }

    /// Applies one watch event; returns the keys whose federated objects need a reconcile.
    fn apply(&self, cluster: &str, generation: u64, event: Change) -> Vec<MemberKey> {
        let mut all = self.clusters.write().unwrap_or_else(|p| p.into_inner());
        let c = all.entry(cluster.to_string()).or_default();
        if c.generation != generation {
            return Vec::new();
        }
        match event {
            Change::Upsert(key, state) => {
                let trigger = match c.objects.get(&key) {
                    // New to us: a change, unless it is the echo of our write in flight.
                    None => c.expected.get(&key) != Some(&state.intent) || state.deleting,
                    Some(prev) => needs_reconcile(prev, &state),
                };
                let applied = c.objects.get(&key).and_then(|p| p.applied);
                c.objects.insert(key.clone(), MemberState { applied, ..state });
                if trigger { vec![key] } else { Vec::new() }
            }
            Change::Remove(key) => {
                c.objects.remove(&key);
                vec![key]
            }
            Change::Relisted(seen) => {
                let gone: Vec<MemberKey> = c.objects.keys().filter(|k| !seen.contains(*k)).cloned().collect();
                for k in &gone {
                    c.objects.remove(k);
                }
                let first = !c.synced;
                c.synced = true;
                if first {
                    // After the first list every object of ours gets one reconcile: objects in clusters that
                    // left an object's placement while we were not watching are found this way.
                    c.objects.keys().cloned().chain(gone).collect()
                } else {
                    gone
                }
            }
        }
    }
}

/// Whether resourceVersion `a` is newer than `b` (they are opaque, but etcd's are integers; when they do
/// not parse, different counts as newer).
fn newer(a: &str, b: &str) -> bool {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(a), Ok(b)) => a > b,
        _ => a != b,
    }
}

/// Whether a member object changing from `prev` to `next` needs its federated object reconciled.
fn needs_reconcile(prev: &MemberState, next: &MemberState) -> bool {
    if prev.uid != next.uid || prev.deleting != next.deleting {
        return true;
    }
    let expected_owned = prev.applied.map_or(prev.owned, |a| a.owned);
    next.owned != expected_owned || prev.status != next.status
}

enum Change {
    Upsert(MemberKey, MemberState),
    Remove(MemberKey),
    Relisted(HashSet<MemberKey>),
}

/// The [`ApiResource`] of a target type.
pub fn target_api_resource(target: &TargetType) -> ApiResource {
    ApiResource {
        group: target.group.clone(),
        version: target.version.clone(),
        api_version: target.api_version(),
        kind: target.kind.clone(),
        plural: target.plural.clone(),
    }
}

/// The key of the member object of `fed` (a FederatedNamespace `ns/ns` federates Namespace `ns`).
pub fn member_key(target: &TargetType, fed_namespace: Option<&str>, fed_name: &str) -> MemberKey {
    let namespace = if target.is_namespace() || target.scope == Scope::Cluster {
        None
    } else {
        fed_namespace.map(str::to_string)
    };
    MemberKey {
        namespace,
        name: fed_name.to_string(),
    }
}

/// The federated object that a member object with `key` belongs to.
pub fn federated_ref(
    target: &TargetType,
    fed_ar: &ApiResource,
    key: &MemberKey,
) -> ObjectRef<CachedFederated> {
    let r = ObjectRef::new_with(&key.name, fed_ar.clone());
    if target.is_namespace() {
        r.within(&key.name)
    } else if let Some(ns) = &key.namespace {
        r.within(ns)
    } else {
        r
    }
}

/// Everything one member watch needs.
pub struct MemberWatch {
    /// The KubeFedCluster name.
    pub cluster: String,
    /// The cluster's client generation (see [`crate::cluster::MemberCluster::generation`]).
    pub generation: u64,
    /// The member client.
    pub client: kube::Client,
    /// The target type.
    pub target: TargetType,
    /// The federated type's resource.
    pub fed_ar: ApiResource,
    /// Whether to keep members' status.
    pub keep_status: bool,
    /// The index to feed.
    pub index: Arc<MemberIndex>,
    /// Where reconcile requests go.
    pub triggers: mpsc::Sender<ObjectRef<CachedFederated>>,
}

impl MemberWatch {
    /// Watches the member's objects of the type labelled `kubefed.io/managed=true`, until dropped.
    pub async fn run(self) {
        self.index.begin(&self.cluster, self.generation);
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &target_api_resource(&self.target));
        let cfg = watcher::Config::default().labels(&format!("{MANAGED_LABEL}={MANAGED_LABEL_VALUE}"));
        let mut stream = watcher(api, cfg).default_backoff().boxed();
        let mut listing: Option<HashSet<MemberKey>> = None;
        while let Some(ev) = stream.next().await {
            let change = match ev {
                Ok(watcher::Event::Init) => {
                    listing = Some(HashSet::new());
                    continue;
                }
                Ok(watcher::Event::InitApply(obj)) => {
                    let key = key_of(&obj);
                    if let Some(l) = listing.as_mut() {
                        l.insert(key.clone());
                    }
                    Change::Upsert(key, MemberState::of(&obj, self.keep_status))
                }
                Ok(watcher::Event::InitDone) => Change::Relisted(listing.take().unwrap_or_default()),
                Ok(watcher::Event::Apply(obj)) => {
                    Change::Upsert(key_of(&obj), MemberState::of(&obj, self.keep_status))
                }
                Ok(watcher::Event::Delete(obj)) => Change::Remove(key_of(&obj)),
                Err(e) => {
                    tracing::debug!(cluster = self.cluster, kind = self.target.kind, error = %e, "member watch");
                    continue;
                }
            };
            let initial = matches!(change, Change::Upsert(..)) && listing.is_some();
            let keys = self.index.apply(&self.cluster, self.generation, change);
            if initial {
                // During a list, reconciles wait for InitDone, which reports what changed.
                continue;
            }
            for key in keys {
                if self
                    .triggers
                    .send(federated_ref(&self.target, &self.fed_ar, &key))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

fn key_of(obj: &DynamicObject) -> MemberKey {
    MemberKey {
        namespace: obj.metadata.namespace.clone(),
        name: obj.metadata.name.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(rv: &str, fields: Value, status: Option<Value>) -> DynamicObject {
        let mut v = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": rv,
                         "managedFields": [{"manager": "kubefed-controller", "operation": "Apply",
                                            "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": fields}]}
        });
        if let Some(s) = status {
            v["status"] = s;
        }
        serde_json::from_value(v).expect("valid object")
    }

    fn key() -> MemberKey {
        MemberKey {
            namespace: Some("ns".into()),
            name: "a".into(),
        }
    }

    #[test]
    fn replicas_need_a_pin_only_while_our_apply_alone_owns_them() {
        let with = |entries: Value| -> DynamicObject {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "a", "namespace": "ns", "managedFields": entries},
                "spec": {"replicas": 4}
            }))
            .expect("valid object")
        };
        let entry = |manager: &str, operation: &str, fields: Value| {
            serde_json::json!({"manager": manager, "operation": operation, "apiVersion": "apps/v1",
                               "fieldsType": "FieldsV1", "fieldsV1": fields})
        };
        let replicas = serde_json::json!({"f:spec": {"f:replicas": {}, "f:paused": {}}});
        let other = serde_json::json!({"f:spec": {"f:paused": {}}});
        let ours = entry(CONTROLLER_FIELD_MANAGER, "Apply", replicas.clone());

        assert_eq!(
            sole_replicas_owner(&with(serde_json::json!([ours.clone()]))),
            Some(4)
        );
        let unrelated = entry("someone", "Update", other.clone());
        assert_eq!(
            sole_replicas_owner(&with(serde_json::json!([ours.clone(), unrelated]))),
            Some(4),
            "another manager owning other fields does not keep replicas"
        );
        for co_owner in [
            entry(RETAINED_REPLICAS_FIELD_MANAGER, "Apply", replicas.clone()),
            entry("kube-controller-manager", "Update", replicas.clone()),
            // Our own Update entry (a member created by a plain create) keeps them too.
            entry(CONTROLLER_FIELD_MANAGER, "Update", replicas.clone()),
        ] {
            assert_eq!(
                sole_replicas_owner(&with(serde_json::json!([ours.clone(), co_owner.clone()]))),
                None,
                "{co_owner}"
            );
        }
        let ours_without = entry(CONTROLLER_FIELD_MANAGER, "Apply", other);
        assert_eq!(
            sole_replicas_owner(&with(serde_json::json!([ours_without]))),
            None
        );
        assert_eq!(sole_replicas_owner(&with(serde_json::json!([]))), None);
    }

    #[test]
    fn the_echo_of_a_write_in_flight_does_not_trigger() {
        let idx = MemberIndex::default();
        idx.begin("c", 1);
        idx.apply("c", 1, Change::Relisted(HashSet::new()));
        let fields = serde_json::json!({"f:data": {"f:x": {}}});
        let created = obj("5", fields.clone(), None);
        let holds = owned_intent(&created);
        assert_ne!(holds, 0, "the test object carries fields of ours");
        // A create in flight: the watch shows the new object before the response is recorded.
        idx.expect("c", &key(), holds);
        let echo = idx.apply("c", 1, Change::Upsert(key(), MemberState::of(&created, false)));
        assert!(echo.is_empty(), "our own write's echo triggered {echo:?}");
        idx.record_applied("c", key(), &created, holds, false);
        assert!(idx.get("c", &key()).is_some_and(|s| s.is_current(holds)));

        // An object that holds something else than the write in flight is a change.
        let other = MemberKey {
            namespace: Some("ns".into()),
            name: "b".into(),
        };
        idx.expect("c", &other, holds.wrapping_add(1));
        assert_eq!(
            idx.apply(
                "c",
                1,
                Change::Upsert(other.clone(), MemberState::of(&created, false))
            ),
            vec![other.clone()]
        );
        // A failed write's expectation is gone: a new object then triggers as before.
        idx.forget("c", &other);
        idx.expect("c", &other, holds);
        idx.settle("c", &other);
        assert_eq!(
            idx.apply(
                "c",
                1,
                Change::Upsert(other.clone(), MemberState::of(&created, false))
            ),
            vec![other]
        );
    }

    #[test]
    fn own_writes_and_foreign_fields_do_not_trigger_but_drift_does() {
        let idx = MemberIndex::default();
        idx.begin("c", 1);
        let fields = serde_json::json!({"f:data": {"f:x": {}}});
        // First list: every object triggers once.
        assert!(
            idx.apply(
                "c",
                1,
                Change::Upsert(key(), MemberState::of(&obj("1", fields.clone(), None), false))
            )
            .len()
                == 1
        );
        assert_eq!(
            idx.apply("c", 1, Change::Relisted(HashSet::from([key()]))),
            vec![key()]
        );
        // We apply; the watch then shows our own write.
        idx.record_applied("c", key(), &obj("2", fields.clone(), None), 42, false);
        assert!(idx.get("c", &key()).is_some_and(|s| s.is_current(42)));
        assert!(
            idx.apply(
                "c",
                1,
                Change::Upsert(key(), MemberState::of(&obj("2", fields.clone(), None), false))
            )
            .is_empty()
        );
        // Someone changes a field we do not own: our entry is unchanged.
        assert!(
            idx.apply(
                "c",
                1,
                Change::Upsert(key(), MemberState::of(&obj("3", fields.clone(), None), false))
            )
            .is_empty()
        );
        assert!(idx.get("c", &key()).is_some_and(|s| s.is_current(42)));
        // Someone takes over one of our fields: drift.
        let drifted = serde_json::json!({"f:data": {}});
        assert_eq!(
            idx.apply(
                "c",
                1,
                Change::Upsert(key(), MemberState::of(&obj("4", drifted, None), false))
            ),
            vec![key()]
        );
        assert!(idx.get("c", &key()).is_some_and(|s| !s.is_current(42)));
        // Deleted: triggers and is forgotten.
        assert_eq!(idx.apply("c", 1, Change::Remove(key())), vec![key()]);
        assert!(idx.get("c", &key()).is_none());
    }

    #[test]
    fn after_a_restart_the_owned_fields_tell_whether_a_member_is_current() {
        // A member that holds `data.x: "1"` through our apply entry.
        let live: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                         "labels": {"kubefed.io/managed": "true"},
                         "managedFields": [{"manager": "kubefed-controller", "operation": "Apply",
                                            "apiVersion": "v1", "fieldsType": "FieldsV1",
                                            "fieldsV1": {"f:data": {"f:x": {}},
                                                         "f:metadata": {"f:labels": {"f:kubefed.io/managed": {}}}}},
                                           {"manager": "other", "operation": "Update",
                                            "apiVersion": "v1", "fieldsType": "FieldsV1",
                                            "fieldsV1": {"f:data": {"f:y": {}}}}]},
            "data": {"x": "1", "y": "theirs"}
        }))
        .expect("valid object");
        let state = MemberState::of(&live, false);
        assert!(state.applied.is_none());
        let desired = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "ns", "labels": {"kubefed.io/managed": "true"}},
            "data": {"x": "1"}});
        assert!(state.is_current(desired_hash(&desired)));
        let mut changed = desired.clone();
        changed["data"]["x"] = "2".into();
        assert!(!state.is_current(desired_hash(&changed)));
        // Without an apply entry of ours (e.g. created by KubeFed), nothing is known.
        let mut foreign = live.clone();
        foreign.metadata.managed_fields = None;
        assert!(!MemberState::of(&foreign, false).is_current(desired_hash(&desired)));
    }

    #[test]
    fn status_changes_trigger_when_kept_and_stale_generations_are_ignored() {
        let idx = MemberIndex::default();
        idx.begin("c", 1);
        let f = serde_json::json!({});
        idx.apply("c", 1, Change::Relisted(HashSet::new()));
        idx.apply(
            "c",
            1,
            Change::Upsert(
                key(),
                MemberState::of(
                    &obj("1", f.clone(), Some(serde_json::json!({"replicas": 0}))),
                    true,
                ),
            ),
        );
        let k = idx.apply(
            "c",
            1,
            Change::Upsert(
                key(),
                MemberState::of(
                    &obj("2", f.clone(), Some(serde_json::json!({"replicas": 1}))),
                    true,
                ),
            ),
        );
        assert_eq!(k, vec![key()]);
        idx.begin("c", 2);
        assert!(!idx.synced("c"));
        assert!(
            idx.apply("c", 1, Change::Remove(key())).is_empty(),
            "old watch's events are ignored"
        );
        assert!(idx.get("c", &key()).is_some());
    }

    #[test]
    fn relist_reports_objects_that_disappeared() {
        let idx = MemberIndex::default();
        idx.begin("c", 1);
        idx.apply(
            "c",
            1,
            Change::Upsert(
                key(),
                MemberState::of(&obj("1", serde_json::json!({}), None), false),
            ),
        );
        idx.apply("c", 1, Change::Relisted(HashSet::from([key()])));
        assert_eq!(idx.apply("c", 1, Change::Relisted(HashSet::new())), vec![key()]);
        assert!(idx.keys("c").is_empty());
    }

    #[test]
    fn keys_map_to_federated_objects() {
        let ns = kubefed_core::find_default_type("namespaces").expect("default");
        let cm = kubefed_core::find_default_type("configmaps").expect("default");
        let cr = kubefed_core::find_default_type("clusterroles.rbac.authorization.k8s.io").expect("default");
        assert_eq!(
            member_key(&ns, Some("team"), "team"),
            MemberKey {
                namespace: None,
                name: "team".into()
            }
        );
        assert_eq!(
            member_key(&cm, Some("team"), "x").namespace.as_deref(),
            Some("team")
        );
        assert_eq!(member_key(&cr, None, "admin").namespace, None);
        let ar = kubefed_core::federated_api_resource(&ns);
        let r = federated_ref(
            &ns,
            &ar,
            &MemberKey {
                namespace: None,
                name: "team".into(),
            },
        );
        assert_eq!((r.name.as_str(), r.namespace.as_deref()), ("team", Some("team")));
    }
}
