//! Multi-Cluster Services (KEP-1645): ServiceExports in member clusters become a ServiceImport and
//! mirrored EndpointSlices in every member that has the namespace.
//!
//! # What is watched
//! Per member cluster with a client, five watches feed reflector stores: ServiceExports, Services,
//! EndpointSlices of Services (`kubernetes.io/service-name` set, not ours), and our own EndpointSlices and
//! ServiceImports (by their managed-by labels, so deletions are found after a restart). Every event marks
//! its name (namespace + service name) dirty; one loop reconciles dirty names, every name after a cluster
//! change or a re-list, and everything every [`RESYNC`].
//!
//! # Reconciling one name
//! `kubefed_core::mcs::plan_service` decides the import, the mirrored slices and each export's conditions
//! from the exports of every cluster whose caches have listed. Then, in every ready member: slices and
//! the import are server-side applied when they differ, and our slices and import that are no longer
//! wanted are deleted. A member whose caches have not listed (unreachable, or without the MCS CRDs) is an
//! *unknown* source: slices mirrored from it are kept, not deleted on doubt. A cluster whose
//! KubeFedCluster is deleted is no source at all, so its slices go from every other member.
//!
//! A `ClusterSetIP` import's virtual IP is the cluster IP of its derived Service (`derived-<name>`,
//! selector-less, whose EndpointSlices are the mirrored ones), applied in each member before the import.
//!
//! Members without the namespace are skipped (the API server answers NotFound for the namespace).
//!
//! With `--dns-domain`, the same loop also keeps external-dns DNSEndpoints for federated Services ([`dns`]).

mod dns;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use kubefed_core::mcs::{
    ClusterExport, LABEL_KUBERNETES_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME,
    LABEL_SLICE_MANAGED_BY, LABEL_SOURCE_CLUSTER, MCS_CONTROLLER, ServiceExport, ServiceImport, ServicePlan,
    conditions_equal, derived_service_name, is_source_slice, is_subset, plan_service,
};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::Notify;

use crate::cluster::MemberCluster;
use crate::context::Context;
use crate::task::Task;

/// Field manager of our writes in members.
pub const FIELD_MANAGER: &str = "kubefed-mcs";
/// Every name is reconciled this often even without events (catches writes that failed quietly).
pub const RESYNC: Duration = Duration::from_secs(60);
/// A name whose reconcile failed is tried again this soon.
const RETRY: Duration = Duration::from_secs(5);
/// Events arriving within this long are reconciled together.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// An exported name: namespace and Service name.
type Key = (String, String);

/// Names waiting for a reconcile.
#[derive(Default)]
struct Dirty {
    keys: Mutex<BTreeSet<Key>>,
    all: AtomicBool,
    notify: Notify,
}

impl Dirty {
    fn mark(&self, key: Key) {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).insert(key);
        self.notify.notify_one();
    }

    fn mark_all(&self) {
        self.all.store(true, Ordering::Relaxed);
        self.notify.notify_one();
    }

    fn take(&self) -> (bool, BTreeSet<Key>) {
        let all = self.all.swap(false, Ordering::Relaxed);
        let keys = std::mem::take(&mut *self.keys.lock().unwrap_or_else(|p| p.into_inner()));
        (all, keys)
    }
}

/// One watch of a member: a store, whether it has listed, and the task feeding it.
struct Watched<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    synced: Arc<AtomicBool>,
    _task: Task,
}

impl<K> Watched<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    fn start(
        api: Api<K>,
        labels: Option<&str>,
        cluster: &str,
        key_of: fn(&K) -> Option<Key>,
        dirty: Arc<Dirty>,
    ) -> Self {
        let (store, writer) = reflector::store();
        let mut cfg = watcher::Config::default();
        if let Some(l) = labels {
            cfg = cfg.labels(l);
        }
        let synced = Arc::new(AtomicBool::new(false));
        let flag = synced.clone();
        let cluster = cluster.to_string();
        let stream = watcher(api, cfg).default_backoff().reflect(writer);
        let task = Task::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            let mut logged = false;
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o)) => {
                        if let Some(k) = key_of(&o) {
                            dirty.mark(k);
                        }
                    }
                    Ok(watcher::Event::InitDone) => {
                        flag.store(true, Ordering::Relaxed);
                        dirty.mark_all();
                    }
                    Ok(_) => {}
                    Err(e) => {
                        // Most often the MCS CRDs are not installed in that member: say so once, then quietly.
                        if logged {
                            tracing::debug!(cluster, kind = K::kind(&()).as_ref(), error = %e, "MCS watch");
                        } else {
                            logged = true;
                            tracing::warn!(
                                cluster,
                                kind = K::kind(&()).as_ref(),
                                error = %e,
                                "cannot watch for Multi-Cluster Services in this member (are the multicluster.x-k8s.io CRDs installed there, and does the member identity have the MCS rules?); retrying"
                            );
                        }
                    }
                }
            }
        });
        Watched {
            store,
            synced,
            _task: task,
        }
    }

    fn synced(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
    }
}

/// The watches of one member.
struct Member {
    generation: u64,
    client: kube::Client,
    exports: Watched<ServiceExport>,
    services: Watched<Service>,
    sources: Watched<EndpointSlice>,
    slices: Watched<EndpointSlice>,
    imports: Watched<ServiceImport>,
}

fn name_key<K: Resource>(o: &K) -> Option<Key> {
    Some((o.meta().namespace.clone()?, o.meta().name.clone()?))
}

fn label_key(o: &EndpointSlice, label: &str) -> Option<Key> {
    Some((o.metadata.namespace.clone()?, o.labels().get(label)?.clone()))
}

impl Member {
    fn start(cluster: &str, generation: u64, client: kube::Client, dirty: &Arc<Dirty>) -> Self {
        let sources = format!("{LABEL_KUBERNETES_SERVICE_NAME},{LABEL_SLICE_MANAGED_BY}!={MCS_CONTROLLER}");
        let ours_slices = format!("{LABEL_SLICE_MANAGED_BY}={MCS_CONTROLLER}");
        let ours_imports = format!("{LABEL_MANAGED_BY}={MCS_CONTROLLER}");
        Member {
            generation,
            exports: Watched::start(Api::all(client.clone()), None, cluster, name_key, dirty.clone()),
            services: Watched::start(Api::all(client.clone()), None, cluster, name_key, dirty.clone()),
            sources: Watched::start(
                Api::all(client.clone()),
                Some(&sources),
                cluster,
                |s| label_key(s, LABEL_KUBERNETES_SERVICE_NAME),
                dirty.clone(),
            ),
            slices: Watched::start(
                Api::all(client.clone()),
                Some(&ours_slices),
                cluster,
                |s| label_key(s, LABEL_SERVICE_NAME),
                dirty.clone(),
            ),
            imports: Watched::start(
                Api::all(client.clone()),
                Some(&ours_imports),
                cluster,
                name_key,
                dirty.clone(),
            ),
            client,
        }
    }

    /// Whether what this member exports is known.
    fn sources_known(&self) -> bool {
        self.exports.synced() && self.services.synced() && self.sources.synced()
    }
}

/// Runs the Multi-Cluster Services controller until dropped.
pub async fn run(ctx: Arc<Context>) {
    ctx.clusters.synced().await;
    let dirty = Arc::new(Dirty::default());
    let mut changes = ctx.clusters.subscribe();
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    sync_members(&ctx, &mut members, &dirty);
    let mut dns = ctx
        .settings
        .dns_domain
        .clone()
        .map(|domain| dns::HostDns::start(ctx.client.clone(), domain, &dirty));
    let mut next_resync = Instant::now() + RESYNC;
    let mut retry_at: Option<Instant> = None;
    let mut failed: BTreeSet<Key> = BTreeSet::new();
    loop {
        let retry = retry_at.unwrap_or(next_resync);
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() { return; }
                sync_members(&ctx, &mut members, &dirty);
            }
            () = dirty.notify.notified() => {}
            () = tokio::time::sleep_until(next_resync.into()) => {
                next_resync = Instant::now() + RESYNC;
                dirty.mark_all();
            }
            () = tokio::time::sleep_until(retry.into()) => {
                retry_at = None;
                for k in std::mem::take(&mut failed) { dirty.mark(k); }
            }
        }
        tokio::time::sleep(DEBOUNCE).await;
        let (all, mut keys) = dirty.take();
        if all {
            keys.extend(known_keys(&members));
            keys.extend(dns.iter().flat_map(dns::HostDns::keys));
        }
        if keys.is_empty() {
            continue;
        }
        let mut reconciler = Reconciler::new(&ctx, &members);
        for key in keys {
            let mut ok = reconciler.reconcile(&key, all).await;
            if let Some(d) = dns.as_mut() {
                ok &= d.reconcile(&key, &members).await;
            }
            if !ok {
                failed.insert(key);
            }
        }
        if !failed.is_empty() && retry_at.is_none() {
            retry_at = Some(Instant::now() + RETRY);
        }
    }
}

/// Starts watches for new members (or members with a new client), stops those of removed ones.
fn sync_members(ctx: &Context, members: &mut BTreeMap<String, Member>, dirty: &Arc<Dirty>) {
    let set = ctx.clusters.current();
    members.retain(|name, m| {
        set.get(name)
            .is_some_and(|c| c.generation == m.generation && c.client.is_ok())
    });
    for (name, c) in &set.clusters {
        let MemberCluster {
            client: Ok(client),
            generation,
            ..
        } = c
        else {
            continue;
        };
        if !members.contains_key(name) {
            members.insert(
                name.clone(),
                Member::start(name, *generation, client.clone(), dirty),
            );
        }
    }
    // Removed members' sources are gone, and readiness changes decide where we write: look at everything.
    dirty.mark_all();
}

/// Every name any member exports or holds an import or mirrored slice of.
fn known_keys(members: &BTreeMap<String, Member>) -> BTreeSet<Key> {
    let mut keys = BTreeSet::new();
    for m in members.values() {
        keys.extend(
            m.exports
                .store
                .state()
                .iter()
                .filter_map(|o| name_key(o.as_ref())),
        );
        keys.extend(
            m.imports
                .store
                .state()
                .iter()
                .filter_map(|o| name_key(o.as_ref())),
        );
        keys.extend(
            m.slices
                .store
                .state()
                .iter()
                .filter_map(|s| label_key(s, LABEL_SERVICE_NAME)),
        );
    }
    keys
}

/// Reconciles names against one snapshot of the clusters; source slices are indexed once per batch.
struct Reconciler<'a> {
    ctx: &'a Context,
    members: &'a BTreeMap<String, Member>,
    ready: BTreeSet<String>,
    source_index: HashMap<String, HashMap<Key, Vec<EndpointSlice>>>,
    now: Time,
}

impl<'a> Reconciler<'a> {
    fn new(ctx: &'a Context, members: &'a BTreeMap<String, Member>) -> Self {
        let set = ctx.clusters.current();
        let ready = set
            .clusters
            .values()
            .filter(|c| c.ready_client().is_some())
            .map(|c| c.name.clone())
            .collect();
        Reconciler {
            ctx,
            members,
            ready,
            source_index: HashMap::new(),
            now: Time(k8s_openapi::jiff::Timestamp::now()),
        }
    }

    fn sources(&mut self, cluster: &str, m: &Member, key: &Key) -> Vec<EndpointSlice> {
        let index = self.source_index.entry(cluster.to_string()).or_insert_with(|| {
            let mut idx: HashMap<Key, Vec<EndpointSlice>> = HashMap::new();
            for s in m.sources.store.state() {
                if let Some(k) = label_key(&s, LABEL_KUBERNETES_SERVICE_NAME)
                    && is_source_slice(&s, &k.1)
                {
                    idx.entry(k).or_default().push(s.as_ref().clone());
                }
            }
            idx
        });
        index.get(key).cloned().unwrap_or_default()
    }

    /// Reconciles one name everywhere; false when something failed (it is retried). Unless `full`, a name
    /// nobody exports and nobody imports is skipped at once: most Service and EndpointSlice events are of
    /// Services that are not exported (resyncs are `full`, and catch strays such as a slice whose import
    /// was deleted by hand).
    async fn reconcile(&mut self, key: &Key, full: bool) -> bool {
        let (ns, name) = key;
        let mut exports = Vec::new();
        let mut unknown: BTreeSet<String> = BTreeSet::new();
        for (cluster, m) in self.members {
            if !m.sources_known() {
                unknown.insert(cluster.clone());
                continue;
            }
            let r = ObjectRef::new(name).within(ns);
            let Some(export) = m.exports.store.get(&r) else {
                continue;
            };
            let service = m.services.store.get(&ObjectRef::new(name).within(ns));
            exports.push(ClusterExport {
                cluster: cluster.clone(),
                export: export.as_ref().clone(),
                service: service.map(|s| s.as_ref().clone()),
                slices: self.sources(cluster, m, key),
            });
        }
        if !full && exports.is_empty() {
            let r = ObjectRef::new(name).within(ns);
            let imported = self.members.values().any(|m| {
                m.imports.store.get(&r).is_some()
                    || m.services
                        .store
                        .get(&ObjectRef::new(&derived_service_name(name)).within(ns))
                        .is_some()
            });
            if !imported {
                return true;
            }
        }
        let plan = plan_service(ns, name, &exports, &self.now);
        let mut ok = true;
        for e in &exports {
            ok &= self.write_export_status(e, &plan).await;
        }
        for (cluster, m) in self.members {
            if !self.ready.contains(cluster) {
                continue;
            }
            ok &= self.write_member(cluster, m, key, &plan, &unknown).await;
        }
        ok
    }

    async fn call<T>(
        &self,
        cluster: &str,
        op: &'static str,
        what: &str,
        fut: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, Failure> {
        if self.ctx.stalls.is_stalled(cluster) {
            return Err(Failure::Other);
        }
        let timeout = self.ctx.settings.member_timeout;
        let res = match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => {
                self.ctx.stalls.timed_out(cluster, timeout);
                tracing::debug!(cluster, what, "MCS: timed out");
                return Err(Failure::Other);
            }
        };
        self.ctx.metrics.member_operation(cluster, op, res.is_ok());
        res.map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => Failure::NotFound(s.message),
            e => {
                tracing::warn!(cluster, what, error = %e, "MCS: {op} failed; will retry");
                Failure::Other
            }
        })
    }

    async fn write_export_status(&self, e: &ClusterExport, plan: &ServicePlan) -> bool {
        let Some(desired) = plan.export_conditions.get(&e.cluster) else {
            return true;
        };
        let current = e
            .export
            .status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default();
        if conditions_equal(current, desired) {
            return true;
        }
        let Some(m) = self.members.get(&e.cluster) else {
            return true;
        };
        let (ns, name) = (e.export.namespace().unwrap_or_default(), e.export.name_any());
        let api: Api<ServiceExport> = Api::namespaced(m.client.clone(), &ns);
        let patch = json!({"status": {"conditions": desired}});
        let what = format!("status of ServiceExport {ns}/{name}");
        match self
            .call(
                &e.cluster,
                "update",
                &what,
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)),
            )
            .await
        {
            Ok(_) | Err(Failure::NotFound(_)) => true,
            Err(Failure::Other) => false,
        }
    }

    /// Makes `cluster` hold the plan's import and slices for `key`; false when something failed.
    async fn write_member(
        &self,
        cluster: &str,
        m: &Member,
        key: &Key,
        plan: &ServicePlan,
        unknown: &BTreeSet<String>,
    ) -> bool {
        let (ns, name) = key;
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let slices_api: Api<EndpointSlice> = Api::namespaced(m.client.clone(), ns);
        let mut ok = true;
        if m.slices.synced() {
            for desired in &plan.slices {
                let slice_name = desired.metadata.name.clone().unwrap_or_default();
                let live = m.slices.store.get(&ObjectRef::new(&slice_name).within(ns));
                if live.is_some_and(|l| same(desired, l.as_ref())) {
                    continue;
                }
                let what = format!("EndpointSlice {ns}/{slice_name}");
                match self
                    .call(
                        cluster,
                        "update",
                        &what,
                        slices_api.patch(&slice_name, &pp, &Patch::Apply(desired)),
                    )
                    .await
                {
                    Ok(_) => {}
                    // The namespace does not exist there: nothing to import into.
                    Err(Failure::NotFound(_)) => return true,
                    Err(Failure::Other) => ok = false,
                }
            }
            let wanted: BTreeSet<&str> = plan
                .slices
                .iter()
                .filter_map(|s| s.metadata.name.as_deref())
                .collect();
            for live in m.slices.store.state() {
                let labels = live.labels();
                if live.metadata.namespace.as_deref() != Some(ns.as_str())
                    || labels.get(LABEL_SERVICE_NAME) != Some(name)
                    || wanted.contains(live.name_any().as_str())
                    || labels
                        .get(LABEL_SOURCE_CLUSTER)
                        .is_some_and(|c| unknown.contains(c))
                {
                    continue;
                }
                ok &= self
                    .delete(
                        cluster,
                        &slices_api,
                        &live.name_any(),
                        live.uid(),
                        "EndpointSlice",
                        ns,
                    )
                    .await;
            }
        }
        let mut ips = Vec::new();
        if m.services.synced() {
            match self.write_derived_service(cluster, m, key, plan, unknown).await {
                Derived::Ips(found) => ips = found,
                Derived::NoNamespace => return ok,
                Derived::Failed => ok = false,
            }
        }
        if m.imports.synced() {
            let imports_api: Api<ServiceImport> = Api::namespaced(m.client.clone(), ns);
            let live = m.imports.store.get(&ObjectRef::new(name).within(ns));
            match &plan.import {
                Some(import) => {
                    let mut body = import.clone();
                    body.spec.ips = ips;
                    let status = body.status.take();
                    let what = format!("ServiceImport {ns}/{name}");
                    if !live.as_ref().is_some_and(|l| same(&body, l.as_ref())) {
                        match self
                            .call(
                                cluster,
                                "update",
                                &what,
                                imports_api.patch(name, &pp, &Patch::Apply(&body)),
                            )
                            .await
                        {
                            Ok(_) => {}
                            Err(Failure::NotFound(_)) => return ok,
                            Err(Failure::Other) => return false,
                        }
                    }
                    let live_status = live.as_ref().and_then(|l| l.status.clone());
                    if live.is_none() || live_status != status {
                        let patch = json!({"status": status});
                        ok &= self
                            .call(
                                cluster,
                                "update",
                                &format!("status of {what}"),
                                imports_api.patch_status(
                                    name,
                                    &PatchParams::default(),
                                    &Patch::Merge(&patch),
                                ),
                            )
                            .await
                            .is_ok();
                    }
                }
                // Keep the import while a cluster that may export it is unknown.
                None if !unknown.is_empty() => {}
                None => {
                    if let Some(l) = live {
                        ok &= self
                            .delete(cluster, &imports_api, name, l.uid(), "ServiceImport", ns)
                            .await;
                    }
                }
            }
        }
        ok
    }

    /// Makes the derived Service of a `ClusterSetIP` import exist in `cluster` (or go), and returns its
    /// cluster IPs for the import's `spec.ips`. A Service of that name that is not ours is left alone.
    async fn write_derived_service(
        &self,
        cluster: &str,
        m: &Member,
        key: &Key,
        plan: &ServicePlan,
        unknown: &BTreeSet<String>,
    ) -> Derived {
        let (ns, name) = key;
        let derived = derived_service_name(name);
        let api: Api<Service> = Api::namespaced(m.client.clone(), ns);
        let live = m.services.store.get(&ObjectRef::new(&derived).within(ns));
        let ours = |s: &Service| s.labels().get(LABEL_MANAGED_BY).map(String::as_str) == Some(MCS_CONTROLLER);
        let Some(desired) = &plan.derived_service else {
            // Headless now, or no import left (kept while a source is unknown, like the import).
            if let Some(l) = live.filter(|l| ours(l))
                && (plan.import.is_some() || unknown.is_empty())
                && !self.delete(cluster, &api, &derived, l.uid(), "Service", ns).await
            {
                return Derived::Failed;
            }
            return Derived::Ips(Vec::new());
        };
        match live {
            Some(l) if !ours(&l) => {
                tracing::warn!(
                    cluster,
                    service = format!("{ns}/{derived}"),
                    "a Service of the derived Service's name exists and is not ours; the import gets no clusterset IP"
                );
                Derived::Ips(Vec::new())
            }
            Some(l) if same(desired, l.as_ref()) => Derived::Ips(cluster_ips(&l)),
            _ => {
                let what = format!("Service {ns}/{derived}");
                let pp = PatchParams::apply(FIELD_MANAGER).force();
                match self
                    .call(
                        cluster,
                        "update",
                        &what,
                        api.patch(&derived, &pp, &Patch::Apply(desired)),
                    )
                    .await
                {
                    Ok(svc) => Derived::Ips(cluster_ips(&svc)),
                    Err(Failure::NotFound(_)) => Derived::NoNamespace,
                    Err(Failure::Other) => Derived::Failed,
                }
            }
        }
    }

    async fn delete<K>(
        &self,
        cluster: &str,
        api: &Api<K>,
        name: &str,
        uid: Option<String>,
        kind: &str,
        ns: &str,
    ) -> bool
    where
        K: Resource + Clone + DeserializeOwned + Debug,
    {
        let dp = DeleteParams {
            preconditions: uid.map(|uid| kube::api::Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let what = format!("{kind} {ns}/{name}");
        match self.call(cluster, "delete", &what, api.delete(name, &dp)).await {
            Ok(_) | Err(Failure::NotFound(_)) => {
                tracing::debug!(cluster, what, "MCS: deleted");
                true
            }
            Err(Failure::Other) => false,
        }
    }
}

/// What writing a derived Service gave.
enum Derived {
    /// Its cluster IPs (none when there is no derived Service or it has no IP yet).
    Ips(Vec<String>),
    /// The namespace does not exist in the member.
    NoNamespace,
    /// A call failed (retried).
    Failed,
}

/// A Service's cluster IPs (`clusterIPs`, else `clusterIP`), without `None`.
fn cluster_ips(svc: &Service) -> Vec<String> {
    let spec = svc.spec.as_ref();
    let ips = spec
        .and_then(|s| s.cluster_ips.clone())
        .filter(|v| !v.is_empty())
        .or_else(|| spec.and_then(|s| s.cluster_ip.clone()).map(|ip| vec![ip]))
        .unwrap_or_default();
    ips.into_iter()
        .filter(|ip| ip != "None" && !ip.is_empty())
        .collect()
}

/// Why a member call did not succeed.
enum Failure {
    /// 404: the object, or its namespace, does not exist.
    NotFound(#[allow(dead_code)] String),
    /// Anything else (logged where it happened).
    Other,
}

/// Whether `live` already holds everything `desired` sets.
fn same<T: serde::Serialize>(desired: &T, live: &T) -> bool {
    match (serde_json::to_value(desired), serde_json::to_value(live)) {
        (Ok(d), Ok(l)) => is_subset(&d, &l),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(labels: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": "s", "namespace": "ns", "labels": labels},
            "addressType": "IPv4", "endpoints": []
        }))
        .expect("valid EndpointSlice")
    }

    #[test]
    fn slices_map_to_the_service_they_belong_to() {
        let source = slice(json!({LABEL_KUBERNETES_SERVICE_NAME: "web"}));
        assert_eq!(
            label_key(&source, LABEL_KUBERNETES_SERVICE_NAME),
            Some(("ns".into(), "web".into()))
        );
        let mirrored = slice(json!({LABEL_SERVICE_NAME: "api", LABEL_SLICE_MANAGED_BY: MCS_CONTROLLER}));
        assert_eq!(
            label_key(&mirrored, LABEL_SERVICE_NAME),
            Some(("ns".into(), "api".into()))
        );
        assert_eq!(label_key(&mirrored, LABEL_KUBERNETES_SERVICE_NAME), None);
    }

    #[test]
    fn dirty_names_are_taken_once() {
        let d = Dirty::default();
        d.mark(("ns".into(), "a".into()));
        d.mark(("ns".into(), "a".into()));
        d.mark_all();
        let (all, keys) = d.take();
        assert!(all);
        assert_eq!(keys.len(), 1, "marked twice, reconciled once");
        let (all, keys) = d.take();
        assert!(!all && keys.is_empty());
    }

    #[test]
    fn unchanged_objects_are_recognised() {
        let desired = slice(json!({LABEL_SERVICE_NAME: "web"}));
        let mut live = desired.clone();
        live.metadata.uid = Some("u".into());
        live.metadata.resource_version = Some("7".into());
        assert!(same(&desired, &live), "server-set fields do not count");
        live.address_type = "IPv6".into();
        assert!(!same(&desired, &live));
    }
}
