//! The propagation controller of one federated type: for every `Federated<Kind>` object, make each member
//! cluster its placement selects hold the member object (template → overrides → retention, built by
//! `kubefed-core`), remove it from clusters that left the placement, and report per cluster on the
//! federated object's status. Deletion is in [`crate::deletion`].
//!
//! # Watches and triggers
//! - The federated objects, through a reflector whose objects have `managedFields` stripped (they are
//!   most of an object's size and never read). Status-only changes — our own status writes — are filtered
//!   out before they reach the controller.
//! - Our member objects in every cluster, through [`crate::member`]: drift of our fields, deletions, and
//!   status changes trigger a reconcile of the federated object they belong to.
//! - The cluster registry: a cluster joining, leaving, changing labels or readiness re-reconciles everything.
//! - FederatedNamespaces: a change re-reconciles the objects of that namespace.
//!
//! # Writing to members
//! Server-side apply with field manager `kubefed-controller` and `force`, so our fields are ours and
//! drift is corrected, while fields owned by others (an HPA's replicas, injected sidecar annotations) are
//! left alone (design §4.1). An apply is skipped when the member index shows the member holds the desired
//! object — also right after a restart, from the fields we own (`kubefed_core::intent`), so a restart with
//! nothing changed writes nothing.
//!
//! One request per change: a member object that is not in the index of a cluster whose watch has listed
//! is almost surely absent (the index holds every object labelled as ours), so it is written at once —
//! with an *unforced* apply — and read only when that finds an object (409: a
//! field conflict, or AlreadyExists). The read decides as before: labelled `kubefed.io/managed: "false"`
//! the object is never touched; unlabelled it is adopted or reported `AlreadyExists`, per the
//! KubeFedConfig's `adoptResources`. An unforced apply does take over an unlabelled object whose fields do
//! not conflict with ours, so it is used only with `adoptResources` on (the default); with it off, and
//! while a cluster's index is still listing, an unknown object is read first (two requests). The first
//! write is an apply and not a create because fields set by a create belong to an `Update` entry, which
//! a later apply never removes (measured: create `{a, b}`, then apply `{a}`, leaves `b`). With
//! `retainReplicas`, a new member object costs a second write: the pin that keeps its `spec.replicas` once
//! our applies omit it (see `kubefed_core::propagation`).
//!
//! Clusters are handled concurrently and every member call has a timeout (`--member-timeout`), so a slow
//! or unreachable member never stalls the others; a cluster that is not ready is not called at all and is
//! reported `ClusterNotReady`.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{DeleteOptions, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy};
use kube::core::ApiResource;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::utils::PredicateConfig;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use kubefed_core::api::constants::{
    CONTROLLER_FIELD_MANAGER, CORE_API_VERSION, RETAINED_REPLICAS_FIELD_MANAGER, SYNC_CONTROLLER_FINALIZER,
};
use kubefed_core::api::{FederatedObject, FederatedStatus, FederatedTypeConfig, PropagationStatus};
use kubefed_core::placement::{ClusterInfo, PlacementDecision, place};
use kubefed_core::propagation::{
    Managed, MemberOptions, delete_options, desired_member_object_with, is_managed, orphan_patch,
    orphan_requested, replicas_pin,
};
use kubefed_core::status::{
    ClusterOutcome, ObjectFailure, compute_status, is_permanent_write_failure, is_undeclared_field_error,
    kubefed_shaped, status_changed,
};
use kubefed_core::{Scope, TargetType};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::cached::{CachedFederated, expand};
use crate::cluster::{ClusterSet, MemberCluster};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::events::{CLUSTERS, PendingEvent, fold_actions};
use crate::member::{MemberIndex, MemberKey, MemberWatch, desired_hash, member_key, target_api_resource};
use crate::task::Task;

/// Reconcile requests from member watches waiting for the controller.
const TRIGGER_QUEUE: usize = 4096;
/// How long a type controller waits at start for member watches to list, per cluster, before it starts
/// anyway (an unreachable member must not hold up the others).
const MEMBER_SYNC_WAIT: Duration = Duration::from_secs(15);
/// Requeue after a failure: doubling from this…
const RETRY_MIN: Duration = Duration::from_millis(500);
/// …up to this.
const RETRY_MAX: Duration = Duration::from_secs(60);
/// How long status stays KubeFed-shaped after the CRD refused ours, before our shape is tried again (so an
/// upgrade of the CRDs takes effect without a restart, at the cost of one refused write per type per period).
const KUBEFED_STATUS_RECHECK: Duration = Duration::from_secs(600);
/// Periodic re-check of objects that are fine (drift is caught by member watches long before).
const RESYNC: Duration = Duration::from_secs(3600);

/// One type's propagation controller, built from its FederatedTypeConfig.
pub struct TypeController {
    tc: Arc<TypeContext>,
}

/// Everything a reconcile of one type needs.
pub struct TypeContext {
    /// Process-wide context.
    pub ctx: Arc<Context>,
    /// The FederatedTypeConfig's name (a metrics label).
    pub ftc_name: String,
    /// The target type.
    pub target: TargetType,
    /// The federated type's resource.
    pub fed_ar: ApiResource,
    /// The target type's resource.
    pub target_ar: ApiResource,
    /// Whether members' status goes into `clusters[].remoteStatus` (`statusCollection: Enabled`).
    pub collect_remote: bool,
    /// Our member objects, per cluster.
    pub index: Arc<MemberIndex>,
    failures: Mutex<HashMap<ObjectRef<CachedFederated>, u32>>,
    /// When a status write was last refused for fields the federated CRD (KubeFed v0.10's) does not declare;
    /// for [`KUBEFED_STATUS_RECHECK`] after that, status is written in KubeFed's shape ([`kubefed_shaped`]).
    kubefed_status_since: Mutex<Option<Instant>>,
    /// Whether the user was told (once per type) that the CRD is KubeFed's.
    kubefed_status_reported: AtomicBool,
}

/// The [`ApiResource`] of the federated type a FederatedTypeConfig names.
pub fn federated_resource(ftc: &FederatedTypeConfig) -> ApiResource {
    let f = &ftc.spec.federated_type;
    let target = ftc.target();
    let plural = if f.plural_name.is_empty() {
        target.federated_plural()
    } else {
        f.plural_name.clone()
    };
    ApiResource {
        group: f.group.clone(),
        version: f.version.clone(),
        api_version: f.api_version(),
        kind: f.kind.clone(),
        plural,
    }
}

impl TypeController {
    /// The controller for `ftc`'s type.
    pub fn new(ctx: Arc<Context>, ftc: &FederatedTypeConfig) -> Self {
        let target = ftc.target();
        let tc = TypeContext {
            ftc_name: ftc.name_any(),
            fed_ar: federated_resource(ftc),
            target_ar: target_api_resource(&target),
            collect_remote: ftc.spec.status_collection.is_some_and(|s| s.is_enabled()),
            target,
            index: Arc::new(MemberIndex::default()),
            failures: Mutex::default(),
            kubefed_status_since: Mutex::new(None),
            kubefed_status_reported: AtomicBool::new(false),
            ctx,
        };
        TypeController { tc: Arc::new(tc) }
    }

    /// Runs until dropped.
    pub async fn run(self) {
        let tc = self.tc;
        let (trigger_tx, trigger_rx) = mpsc::channel(TRIGGER_QUEUE);
        let _watches = Task::spawn(manage_member_watches(tc.clone(), trigger_tx));

        // Start from a complete picture where it can be had quickly: the clusters, the FederatedNamespaces
        // and our objects in each reachable member.
        tc.ctx.clusters.synced().await;
        if tc.target.scope == Scope::Namespaced && !tc.target.is_namespace() {
            tc.ctx.namespaces.ready(Duration::from_secs(10)).await;
        }
        wait_for_member_indexes(&tc).await;

        let api: Api<CachedFederated> = Api::all_with(tc.ctx.client.clone(), &tc.fed_ar);
        let writer = reflector::store::Writer::<CachedFederated>::new(tc.fed_ar.clone());
        let store = writer.as_reader();
        let objects_gauge = tc.ctx.metrics.objects(&tc.ftc_name);
        // Listed once = the cache is complete enough for the orphan sweep to trust an absence.
        let (listed_tx, listed) = tokio::sync::watch::channel(false);
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .modify(|o| o.managed_fields_mut().clear())
            .reflect(writer)
            .inspect(move |e| {
                if matches!(e, Ok(watcher::Event::InitDone)) {
                    listed_tx.send_replace(true);
                }
            })
            .applied_objects()
            .predicate_filter(reconcile_relevant, PredicateConfig::default());

        let pending = tc.ctx.metrics.member_triggers(&tc.ftc_name);
        let member_triggers = futures::stream::unfold(trigger_rx, move |mut rx| {
            let pending = pending.clone();
            async move {
                let next = rx.recv().await;
                pending.set(i64::try_from(rx.len()).unwrap_or(i64::MAX));
                next.map(|r| (r, rx))
            }
        });
        let cluster_changes = futures::stream::unfold(tc.ctx.clusters.subscribe(), |mut rx| async move {
            rx.changed().await.ok()?;
            Some(((), rx))
        });
        let namespace_changes = namespace_triggers(&tc, store.clone());
        let _orphans = Task::spawn(crate::orphans::run(tc.clone(), store.clone(), listed));

        let config = ControllerConfig::default().concurrency(tc.ctx.settings.concurrency);
        let gauge_store = store.clone();
        Controller::for_stream_with(stream, store, tc.fed_ar.clone())
            .with_config(config)
            .reconcile_on(member_triggers)
            .reconcile_on(namespace_changes)
            .reconcile_all_on(cluster_changes)
            .run(reconcile, error_policy, tc.clone())
            .for_each(|res| {
                objects_gauge.set(i64::try_from(gauge_store.len()).unwrap_or(i64::MAX));
                if let Err(e) = res {
                    tracing::debug!(kind = tc.target.kind, error = %e, "propagation controller");
                }
                futures::future::ready(())
            })
            .await;
    }
}

/// Hash of what a reconcile depends on: spec (generation), deletion, annotations (orphan, delete
/// options) — not status, so our own status writes do not trigger reconciles.
fn reconcile_relevant(obj: &CachedFederated) -> Option<u64> {
    let mut h = DefaultHasher::new();
    obj.metadata.generation.hash(&mut h);
    obj.metadata.deletion_timestamp.is_some().hash(&mut h);
    obj.metadata.annotations.hash(&mut h);
    obj.metadata.uid.hash(&mut h);
    Some(h.finish())
}

/// Reconcile requests for the objects of namespaces whose FederatedNamespace changed.
fn namespace_triggers(
    tc: &Arc<TypeContext>,
    store: Store<CachedFederated>,
) -> futures::stream::BoxStream<'static, ObjectRef<CachedFederated>> {
    if tc.target.scope != Scope::Namespaced || tc.target.is_namespace() {
        return futures::stream::empty().boxed();
    }
    let rx = tc.ctx.namespaces.subscribe();
    let ar = tc.fed_ar.clone();
    futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(ns) => Some((Some(ns), rx)),
            // Missed some: re-reconcile everything rather than guess.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Some((None, rx)),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
        }
    })
    .flat_map(move |ns| {
        let refs: Vec<ObjectRef<CachedFederated>> = store
            .state()
            .into_iter()
            .filter(|o| ns.is_none() || o.metadata.namespace == ns)
            .map(|o| ObjectRef::from_obj_with(o.as_ref(), ar.clone()))
            .collect();
        futures::stream::iter(refs)
    })
    .boxed()
}

/// Keeps one member watch per cluster with a client, restarting it when the client changes.
async fn manage_member_watches(tc: Arc<TypeContext>, triggers: mpsc::Sender<ObjectRef<CachedFederated>>) {
    let mut rx = tc.ctx.clusters.subscribe();
    let mut watches: HashMap<String, (u64, Task)> = HashMap::new();
    loop {
        let set = rx.borrow_and_update().clone();
        watches.retain(|name, (generation, _)| {
            let keep = set
                .get(name)
                .is_some_and(|c| c.client.is_ok() && c.generation == *generation);
            if !keep {
                tc.index.remove_cluster(name);
            }
            keep
        });
        for (name, cluster) in &set.clusters {
            let Ok(client) = &cluster.client else { continue };
            if watches.contains_key(name) {
                continue;
            }
            let watch = MemberWatch {
                cluster: name.clone(),
                generation: cluster.generation,
                client: client.clone(),
                target: tc.target.clone(),
                fed_ar: tc.fed_ar.clone(),
                keep_status: true,
                index: tc.index.clone(),
                triggers: triggers.clone(),
            };
            watches.insert(name.clone(), (cluster.generation, Task::spawn(watch.run())));
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Waits until every ready cluster's member index listed, each for at most [`MEMBER_SYNC_WAIT`] in total.
async fn wait_for_member_indexes(tc: &TypeContext) {
    let deadline = Instant::now() + MEMBER_SYNC_WAIT;
    let set = tc.ctx.clusters.current();
    for c in set.clusters.values().filter(|c| c.ready_client().is_some()) {
        while !tc.index.synced(&c.name) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn reconcile(cached: Arc<CachedFederated>, tc: Arc<TypeContext>) -> Result<Action> {
    let started = Instant::now();
    let key = ObjectRef::from_obj_with(cached.as_ref(), tc.fed_ar.clone());
    let fed = expand(&cached)?;
    let in_flight = tc.ctx.metrics.in_flight(&tc.ftc_name);
    in_flight.inc();
    let result = if fed.metadata.deletion_timestamp.is_some() {
        crate::deletion::finalize(&fed, &tc).await
    } else {
        tc.propagate(&fed, started).await
    };
    in_flight.dec();
    tc.ctx
        .metrics
        .reconciled(&tc.ftc_name, result.is_ok(), started.elapsed());
    match result {
        Ok(Outcome::Done) => {
            tc.reset_retries(&key);
            Ok(Action::requeue(RESYNC))
        }
        Ok(Outcome::Retry) => Ok(Action::requeue(tc.next_retry(&key))),
        Ok(Outcome::After(d)) => Ok(Action::requeue(d)),
        Err(e) => Err(e),
    }
}

fn error_policy(fed: Arc<CachedFederated>, err: &Error, tc: Arc<TypeContext>) -> Action {
    tracing::warn!(
        kind = tc.fed_ar.kind,
        object = fed.name_any(),
        namespace = fed.namespace().unwrap_or_default(),
        error = %err,
        "reconcile failed"
    );
    let key = ObjectRef::from_obj_with(fed.as_ref(), tc.fed_ar.clone());
    Action::requeue(tc.next_retry(&key))
}

/// How a reconcile ended.
pub enum Outcome {
    /// Everything as desired (or nothing more to do until something changes).
    Done,
    /// Something failed and should be retried with backoff.
    Retry,
    /// Check again after this long (e.g. waiting for member deletions).
    After(Duration),
}

/// What happened in one cluster, for status and Events.
struct ClusterResult {
    cluster: String,
    outcome: Option<ClusterOutcome>,
    action: Option<(&'static str, String)>,
    /// The failure in `outcome` will repeat until the federated object changes: not retried on a timer.
    permanent: bool,
}

impl TypeContext {
    fn next_retry(&self, key: &ObjectRef<CachedFederated>) -> Duration {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = f.entry(key.clone()).or_insert(0);
        let delay = RETRY_MIN.saturating_mul(1u32 << (*n).min(10)).min(RETRY_MAX);
        *n = n.saturating_add(1);
        delay
    }

    fn reset_retries(&self, key: &ObjectRef<CachedFederated>) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.remove(key);
    }

    /// The member key of `fed`.
    pub fn key_of(&self, fed: &FederatedObject) -> MemberKey {
        member_key(&self.target, fed.metadata.namespace.as_deref(), &fed.name_any())
    }

    /// The Api for member objects of this type in `client`, scoped to `key`'s namespace.
    pub fn member_api(&self, client: &kube::Client, key: &MemberKey) -> Api<DynamicObject> {
        match &key.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &self.target_ar),
            None => Api::all_with(client.clone(), &self.target_ar),
        }
    }

    /// Runs `fut` against `cluster` with the per-cluster timeout; skips it while the cluster is stalled
    /// (see [`crate::cluster::Stalls`]).
    pub async fn member_call<T>(
        &self,
        cluster: &str,
        fut: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<Result<T, kube::Error>, Unanswered> {
        let timeout = self.ctx.settings.member_timeout;
        if self.ctx.stalls.is_stalled(cluster) {
            return Err(Unanswered {
                skipped: true,
                timeout,
            });
        }
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => Ok(r),
            Err(_) => {
                self.ctx.stalls.timed_out(cluster, timeout);
                Err(Unanswered {
                    skipped: false,
                    timeout,
                })
            }
        }
    }

    /// Adds our finalizer when missing (JSON patch with a test, so concurrent writers are not clobbered).
    async fn ensure_finalizer(&self, fed: &FederatedObject) -> Result<()> {
        if fed.finalizers().iter().any(|f| f == SYNC_CONTROLLER_FINALIZER) {
            return Ok(());
        }
        let ops = if fed.finalizers().is_empty() {
            serde_json::json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": [SYNC_CONTROLLER_FINALIZER]},
            ])
        } else {
            serde_json::json!([
                {"op": "test", "path": "/metadata/finalizers", "value": fed.finalizers()},
                {"op": "add", "path": "/metadata/finalizers/-", "value": SYNC_CONTROLLER_FINALIZER},
            ])
        };
        let patch: json_patch::Patch = serde_json::from_value(ops).map_err(Error::json("finalizer patch"))?;
        let api = self.fed_api(fed);
        let added = api
            .patch(
                &fed.name_any(),
                &PatchParams::default(),
                &Patch::<()>::Json(patch),
            )
            .await;
        match added {
            Ok(_) => Ok(()),
            // The test failed: our cached copy is older than the object (often: we added the finalizer a
            // moment ago and the watch has not caught up). Look at the current object.
            Err(kube::Error::Api(s)) if s.code == 422 || s.code == 409 => {
                let current = api
                    .get_opt(&fed.name_any())
                    .await
                    .map_err(Error::host(format!("reading {}", self.describe(fed))))?;
                if current.is_some_and(|c| c.finalizers().iter().any(|f| f == SYNC_CONTROLLER_FINALIZER)) {
                    Ok(())
                } else {
                    Err(
                        Error::host(format!("adding finalizer to {}", self.describe(fed)))(kube::Error::Api(
                            s,
                        )),
                    )
                }
            }
            Err(e) => Err(Error::host(format!("adding finalizer to {}", self.describe(fed)))(e)),
        }
    }

    /// The Api of `fed`'s federated type in its namespace.
    pub fn fed_api(&self, fed: &FederatedObject) -> Api<FederatedObject> {
        match fed.metadata.namespace.as_deref() {
            Some(ns) => Api::namespaced_with(self.ctx.client.clone(), ns, &self.fed_ar),
            None => Api::all_with(self.ctx.client.clone(), &self.fed_ar),
        }
    }

    /// `FederatedDeployment ns/name`, for messages.
    pub fn describe(&self, fed: &FederatedObject) -> String {
        match fed.metadata.namespace.as_deref() {
            Some(ns) => format!("{} {ns}/{}", self.fed_ar.kind, fed.name_any()),
            None => format!("{} {}", self.fed_ar.kind, fed.name_any()),
        }
    }

    /// `Deployment ns/name`, for messages about member objects.
    pub fn describe_member(&self, key: &MemberKey) -> String {
        match &key.namespace {
            Some(ns) => format!("{} {ns}/{}", self.target.kind, key.name),
            None => format!("{} {}", self.target.kind, key.name),
        }
    }

    async fn propagate(&self, fed: &FederatedObject, started: Instant) -> Result<Outcome> {
        self.ensure_finalizer(fed).await?;
        let clusters = self.ctx.clusters.current();
        let infos = cluster_infos(&clusters);
        let ns_placement = match (&fed.metadata.namespace, self.target.scope) {
            (Some(ns), Scope::Namespaced) if !self.target.is_namespace() => {
                self.ctx.namespaces.get(ns).map(|f| f.spec.placement.clone())
            }
            _ => None,
        };
        let (selected, failure, touch_members) = match place(
            fed,
            &self.target,
            &infos,
            ns_placement.as_ref(),
            &self.ctx.settings.namespace,
        ) {
            Ok(PlacementDecision::Clusters(c)) => (c, None, true),
            Ok(PlacementDecision::NamespaceNotFederated { namespace }) => (
                Default::default(),
                Some(ObjectFailure::namespace_not_federated(&namespace)),
                true,
            ),
            Ok(PlacementDecision::ReservedNamespace { .. }) => (Default::default(), None, false),
            Err(e) => (Default::default(), Some(ObjectFailure::from(&e)), false),
        };

        let mut results = Vec::new();
        if touch_members {
            let work = clusters.clusters.values().map(|c| {
                let selected = selected.contains(&c.name);
                async move {
                    if selected {
                        self.sync_member(fed, c).await
                    } else {
                        self.remove_member(fed, c).await
                    }
                }
            });
            results = futures::future::join_all(work).await;
        }

        let outcomes: BTreeMap<String, ClusterOutcome> = results
            .iter()
            .filter_map(|r| Some((r.cluster.clone(), r.outcome.clone()?)))
            .collect();
        self.write_status(fed, &outcomes, failure.as_ref()).await?;
        let wrote = self.publish_events(fed, &results, failure.as_ref());
        if wrote {
            self.ctx.metrics.propagated(&self.ftc_name, started.elapsed());
        }
        let retry = results.iter().any(|r| {
            !r.permanent
                && r.outcome
                    .as_ref()
                    .is_some_and(|o| !o.status.is_ok() && o.status != PropagationStatus::ClusterNotReady)
        });
        Ok(if retry { Outcome::Retry } else { Outcome::Done })
    }

    /// Writes the status computed from `outcomes` when it differs from the stored one.
    pub async fn write_status(
        &self,
        fed: &FederatedObject,
        outcomes: &BTreeMap<String, ClusterOutcome>,
        failure: Option<&ObjectFailure>,
    ) -> Result<()> {
        let now = Time(Timestamp::now());
        let mut status = compute_status(
            fed.metadata.generation,
            outcomes,
            failure,
            fed.status.as_ref(),
            &now,
        );
        if self.collect_remote {
            for c in &mut status.clusters {
                c.remote_status = outcomes.get(&c.name).and_then(|o| o.member_status.clone());
            }
        }
        let mut kubefed_shape = self.kubefed_status_mode();
        loop {
            // Compared in the shape the CRD stores, or a KubeFed-shaped status would always differ.
            let shaped = if kubefed_shape {
                kubefed_shaped(&status)
            } else {
                status.clone()
            };
            if !status_changed(fed.status.as_ref(), &shaped) {
                return Ok(());
            }
            match self.apply_status(fed, &shaped).await {
                Ok(()) => return Ok(()),
                // Deleted meanwhile: nothing to report on.
                Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
                Err(kube::Error::Api(s)) if !kubefed_shape && is_undeclared_field_error(&s.message) => {
                    kubefed_shape = true;
                    self.kubefed_crd_detected(&s.message);
                }
                Err(e) => {
                    return Err(Error::host(format!("writing status of {}", self.describe(fed)))(
                        e,
                    ));
                }
            }
        }
    }

    /// Server-side applies `status` on `fed`'s status subresource.
    async fn apply_status(&self, fed: &FederatedObject, status: &FederatedStatus) -> kube::Result<()> {
        let mut meta = serde_json::json!({"name": fed.name_any()});
        if let Some(ns) = &fed.metadata.namespace {
            meta["namespace"] = Value::String(ns.clone());
        }
        let body = serde_json::json!({
            "apiVersion": self.fed_ar.api_version,
            "kind": self.fed_ar.kind,
            "metadata": meta,
            "status": status,
        });
        let pp = PatchParams::apply(CONTROLLER_FIELD_MANAGER).force();
        self.fed_api(fed)
            .patch_status(&fed.name_any(), &pp, &Patch::Apply(&body))
            .await
            .map(|_| ())
    }

    /// Whether status is currently written in KubeFed's shape (see `kubefed_status_since`).
    fn kubefed_status_mode(&self) -> bool {
        self.kubefed_status_since
            .lock()
            .ok()
            .and_then(|s| *s)
            .is_some_and(|t| t.elapsed() < KUBEFED_STATUS_RECHECK)
    }

    /// Switches the type to KubeFed-shaped status, saying once per type (log line and an Event on the
    /// FederatedTypeConfig) what is degraded and how to upgrade the CRDs.
    fn kubefed_crd_detected(&self, api_message: &str) {
        if let Ok(mut since) = self.kubefed_status_since.lock() {
            *since = Some(Instant::now());
        }
        if self.kubefed_status_reported.swap(true, Ordering::Relaxed) {
            return;
        }
        let crd = format!("{}.{}", self.fed_ar.plural, self.fed_ar.group);
        let note = format!(
            "CRD {crd} is KubeFed's (its status schema lacks fields kubefed-rs writes: {api_message}); writing \
             KubeFed-shaped status (no status.aggregated, no condition message) until the CRDs are upgraded \
             (checked every 10 minutes) with `kubectl apply --server-side -f charts/kubefed/crds/` (see docs/migration.md)"
        );
        tracing::warn!(kind = self.fed_ar.kind, crd, "{note}");
        let regarding = ObjectReference {
            api_version: Some(CORE_API_VERSION.to_string()),
            kind: Some("FederatedTypeConfig".to_string()),
            name: Some(self.ftc_name.clone()),
            namespace: Some(self.ctx.settings.namespace.clone()),
            ..Default::default()
        };
        self.event(&regarding, None, EventType::Warning, "OutdatedCRD", note);
    }

    /// Publishes the Events of a reconcile: one per kind of member action (the same action in several
    /// clusters is one Event naming them all, so a change costs one Event whatever the number of members),
    /// one per member failure and one for an object failure. Says whether any member was written.
    fn publish_events(
        &self,
        fed: &FederatedObject,
        results: &[ClusterResult],
        failure: Option<&ObjectFailure>,
    ) -> bool {
        let regarding = fed.object_ref(&self.fed_ar);
        let actions = results.iter().filter_map(|r| {
            r.action
                .as_ref()
                .map(|(reason, note)| (r.cluster.as_str(), *reason, note.as_str()))
        });
        let wrote = self.publish_actions(&regarding, actions);
        for r in results {
            if let Some(o) = &r.outcome
                && !o.status.is_ok()
                && o.status != PropagationStatus::ClusterNotReady
            {
                let note = format!(
                    "cluster {}: {}",
                    r.cluster,
                    o.message.clone().unwrap_or_else(|| o.status.to_string())
                );
                self.event(
                    &regarding,
                    Some(&r.cluster),
                    EventType::Warning,
                    o.status.as_str(),
                    note,
                );
            }
        }
        if let Some(f) = failure {
            self.event(
                &regarding,
                None,
                EventType::Warning,
                f.reason.as_str(),
                f.message.clone(),
            );
        }
        wrote
    }

    /// Queues Normal Events for member actions `(cluster, reason, note naming [`CLUSTERS`])`, folded by
    /// [`fold_actions`]; says whether there was any.
    pub fn publish_actions<'a>(
        &self,
        regarding: &ObjectReference,
        actions: impl IntoIterator<Item = (&'a str, &'static str, &'a str)>,
    ) -> bool {
        let folded = fold_actions(actions);
        for (reason, note, single) in &folded {
            self.event(regarding, *single, EventType::Normal, reason, note.clone());
        }
        !folded.is_empty()
    }

    /// Queues one Event about `regarding`, related to `cluster`'s KubeFedCluster.
    pub fn event(
        &self,
        regarding: &ObjectReference,
        cluster: Option<&str>,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let related = cluster.map(|c| ObjectReference {
            api_version: Some(CORE_API_VERSION.to_string()),
            kind: Some("KubeFedCluster".to_string()),
            name: Some(c.to_string()),
            namespace: Some(self.ctx.settings.namespace.clone()),
            ..Default::default()
        });
        self.ctx.events.publish(PendingEvent {
            regarding: regarding.clone(),
            related,
            type_,
            reason: reason.to_string(),
            action: "Propagate".to_string(),
            note,
        });
    }

    /// Makes `cluster` hold `fed`'s member object, with one member request per change where it can:
    /// an object of ours that holds the desired state costs nothing, a change one apply, a new object one
    /// write (see the module docs).
    async fn sync_member(&self, fed: &FederatedObject, cluster: &MemberCluster) -> ClusterResult {
        let result = |outcome: ClusterOutcome, action: Option<(&'static str, String)>| ClusterResult {
            cluster: cluster.name.clone(),
            outcome: Some(outcome),
            action,
            permanent: false,
        };
        let Some(client) = cluster.ready_client() else {
            return result(
                ClusterOutcome::failed(PropagationStatus::ClusterNotReady, "the cluster is not ready"),
                None,
            );
        };
        let key = self.key_of(fed);
        let api = self.member_api(client, &key);
        let what = self.describe_member(&key);
        let entry = self.index.get(&cluster.name, &key);

        let mut exists = entry.is_some();
        let mut adopting = false;
        // Not in an index that has listed: the index holds every object labelled as ours, so the object is
        // almost surely absent — write at once and look only when the write finds one (a new object costs
        // one request). Not in an index still listing: look first.
        // Only where an object found that way may be written: with `adoptResources` (an unforced apply
        // takes over an unlabelled object whose fields do not conflict).
        let retain_replicas = fed.spec.retain_replicas == Some(true);
        let mut optimistic =
            entry.is_none() && self.index.synced(&cluster.name) && self.ctx.config.borrow().adopt_resources;
        if entry.is_none() && !optimistic {
            match self.probe(&cluster.name, &api, &key.name, &what).await {
                Err(outcome) => return result(outcome, None),
                Ok(found) => {
                    exists = found.is_some();
                    adopting = found == Some(true);
                }
            }
        }

        let info = ClusterInfo::new(cluster.name.clone(), cluster.labels.clone(), cluster.ready);
        let options = MemberOptions {
            drop_template_annotations: !self.ctx.config.borrow().propagate_template_annotations,
        };
        loop {
            let desired = match desired_member_object_with(fed, &self.target, &info, exists, options) {
                Ok(d) => d,
                Err(e) => return result(ClusterOutcome::failed(e.status(), e.to_string()), None),
            };
            let hash = desired_hash(&desired);
            if let Some(e) = &entry
                && e.is_current(hash)
            {
                return result(ClusterOutcome::ok(e.status_value()), None);
            }

            let call = async {
                // Unforced while we have not looked: an object someone else made conflicts (409) on any field
                // it holds differently — our managed label at least when it is labelled
                // `kubefed.io/managed: "false"` — instead of being taken over.
                let mut pp = PatchParams::apply(CONTROLLER_FIELD_MANAGER);
                if !optimistic {
                    pp = pp.force();
                }
                api.patch(&key.name, &pp, &Patch::Apply(&desired)).await
            };
            let (failed, timed_out, verb) = if exists {
                (
                    PropagationStatus::UpdateFailed,
                    PropagationStatus::UpdateTimedOut,
                    "updating",
                )
            } else {
                (
                    PropagationStatus::CreationFailed,
                    PropagationStatus::CreationTimedOut,
                    "creating",
                )
            };
            // This apply omits `spec.replicas`: if only our apply owns it, the member would lose it.
            if retain_replicas
                && exists
                && let Some(n) = entry.as_ref().and_then(|e| e.sole_replicas)
                && let Err((unanswered, message)) =
                    self.pin_replicas(&cluster.name, &api, &desired, n, &what).await
            {
                let status = if unanswered { timed_out } else { failed };
                return result(ClusterOutcome::failed(status, message), None);
            }
            self.index.expect(&cluster.name, &key, hash);
            let write = self.member_call(&cluster.name, call).await;
            if !matches!(write, Ok(Ok(_))) {
                self.index.settle(&cluster.name, &key);
            }
            self.ctx.metrics.member_operation(
                &cluster.name,
                if exists { "update" } else { "create" },
                matches!(write, Ok(Ok(_))),
            );
            return match write {
                // The object exists after all (AlreadyExists from a create, a field conflict from an
                // unforced apply): look at it and decide as if we had looked first.
                Ok(Err(kube::Error::Api(s))) if optimistic && s.code == 409 => {
                    optimistic = false;
                    match self.probe(&cluster.name, &api, &key.name, &what).await {
                        Err(outcome) => return result(outcome, None),
                        Ok(found) => {
                            exists = found.is_some();
                            adopting = found == Some(true);
                        }
                    }
                    continue;
                }
                Err(u) => result(
                    ClusterOutcome::failed(timed_out, u.describe(&format!("{verb} {what}"))),
                    None,
                ),
                Ok(Err(kube::Error::Api(s))) if is_permanent_write_failure(s.code, &s.message) => {
                    // Logged here, once per attempt — and attempts happen only when the object changes.
                    tracing::warn!(
                        cluster = cluster.name,
                        object = what,
                        code = s.code,
                        reason = s.message,
                        "the member rejected the write; not retried until the federated object changes"
                    );
                    ClusterResult {
                        permanent: true,
                        ..result(
                            ClusterOutcome::failed(
                                failed,
                                format!(
                                    "{verb} {what}: cluster {} rejected it ({}): {} (not retried until the \
                                     federated object changes)",
                                    cluster.name, s.code, s.message
                                ),
                            ),
                            None,
                        )
                    }
                }
                Ok(Err(e)) => result(
                    ClusterOutcome::failed(failed, format!("{verb} {what}: {}", api_message(&e))),
                    None,
                ),
                Ok(Ok(mut obj)) => {
                    // Just created with `spec.replicas`: give it its second owner before any apply omits it.
                    if retain_replicas
                        && !exists
                        && let Some(n) = desired.pointer("/spec/replicas").and_then(Value::as_i64)
                    {
                        match self.pin_replicas(&cluster.name, &api, &desired, n, &what).await {
                            Ok(Some(pinned)) => obj = pinned,
                            Ok(None) => {}
                            Err((unanswered, message)) => {
                                self.index.record_applied(&cluster.name, key, &obj, hash, true);
                                let status = if unanswered { timed_out } else { failed };
                                return result(ClusterOutcome::failed(status, message), None);
                            }
                        }
                    }
                    let changed = entry
                        .as_ref()
                        .is_none_or(|e| Some(&e.resource_version) != obj.metadata.resource_version.as_ref());
                    // An unforced apply that met an object without conflicting fields took it over.
                    if optimistic && has_other_managers(&obj) {
                        adopting = true;
                    }
                    self.index.record_applied(&cluster.name, key, &obj, hash, true);
                    let status = obj.data.get("status").cloned();
                    let action = if adopting {
                        Some(("AdoptInCluster", format!("adopted existing {what} in {CLUSTERS}")))
                    } else if !exists {
                        Some(("CreateInCluster", format!("created {what} in {CLUSTERS}")))
                    } else if changed {
                        Some(("UpdateInCluster", format!("updated {what} in {CLUSTERS}")))
                    } else {
                        None
                    };
                    result(ClusterOutcome::ok(status), action)
                }
            };
        }
    }

    /// Applies [`replicas_pin`] (`spec.replicas` = `replicas`) to the member object `desired` under
    /// [`RETAINED_REPLICAS_FIELD_MANAGER`], so our applies may omit `spec.replicas` without removing it
    /// (`retainReplicas`, see `kubefed_core::propagation`). `Ok(Some(object))` pinned, `Ok(None)` nothing to
    /// pin or someone else (an HPA) owns the field now; `Err((unanswered, message))` otherwise.
    async fn pin_replicas(
        &self,
        cluster: &str,
        api: &Api<DynamicObject>,
        desired: &Value,
        replicas: i64,
        what: &str,
    ) -> std::result::Result<Option<DynamicObject>, (bool, String)> {
        let Some((name, body)) = desired
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .zip(replicas_pin(desired, replicas))
        else {
            return Ok(None);
        };
        // Unforced: a conflict means another manager holds a different value, so it owns the field already.
        let pp = PatchParams::apply(RETAINED_REPLICAS_FIELD_MANAGER);
        let write = self
            .member_call(cluster, api.patch(name, &pp, &Patch::Apply(&body)))
            .await;
        self.ctx
            .metrics
            .member_operation(cluster, "update", matches!(write, Ok(Ok(_))));
        let doing = format!("pinning spec.replicas of {what} (retainReplicas)");
        match write {
            Ok(Ok(obj)) => Ok(Some(obj)),
            Ok(Err(kube::Error::Api(s))) if s.code == 409 => Ok(None),
            Ok(Err(e)) => Err((false, format!("{doing}: {}", api_message(&e)))),
            Err(u) => Err((true, u.describe(&doing))),
        }
    }

    /// Reads a member object we do not know as ours and decides whether we may write it:
    /// `Ok(None)` absent, `Ok(Some(adopting))` present and ours to write, `Err` the outcome to report
    /// (labelled `kubefed.io/managed: "false"`, or unmanaged while `adoptResources` is off, or unreadable).
    async fn probe(
        &self,
        cluster: &str,
        api: &Api<DynamicObject>,
        name: &str,
        what: &str,
    ) -> std::result::Result<Option<bool>, ClusterOutcome> {
        let read = self.member_call(cluster, api.get_opt(name)).await;
        self.ctx
            .metrics
            .member_operation(cluster, "get", matches!(read, Ok(Ok(_))));
        let live = match read {
            Err(u) => {
                return Err(ClusterOutcome::failed(
                    PropagationStatus::RetrievalFailed,
                    u.describe(&format!("reading {what}")),
                ));
            }
            Ok(Err(e)) => {
                return Err(ClusterOutcome::failed(
                    PropagationStatus::RetrievalFailed,
                    format!("reading {what}: {e}"),
                ));
            }
            Ok(Ok(None)) => return Ok(None),
            Ok(Ok(Some(live))) => live,
        };
        let labels = serde_json::json!({"metadata": {"labels": live.metadata.labels}});
        match is_managed(&labels) {
            Managed::Yes => Ok(Some(false)),
            Managed::ExplicitlyUnmanaged => Err(ClusterOutcome::failed(
                PropagationStatus::ManagedLabelFalse,
                format!("{what} is labelled kubefed.io/managed=false and is left alone"),
            )),
            Managed::No if !self.ctx.config.borrow().adopt_resources => Err(ClusterOutcome::failed(
                PropagationStatus::AlreadyExists,
                format!(
                    "{what} already exists and is not managed by kubefed; delete it, label it \
                     kubefed.io/managed=true, or enable adoptResources in the KubeFedConfig"
                ),
            )),
            Managed::No => Ok(Some(true)),
        }
    }

    /// Removes `fed`'s member object from `cluster`, which is not (or no longer) in its placement. Only
    /// objects of ours (in the member index) are touched; with `kubefed.io/orphan: "true"` our label is
    /// removed instead of the object.
    async fn remove_member(&self, fed: &FederatedObject, cluster: &MemberCluster) -> ClusterResult {
        let key = self.key_of(fed);
        let Some(entry) = self.index.get(&cluster.name, &key) else {
            return ClusterResult {
                cluster: cluster.name.clone(),
                outcome: None,
                action: None,
                permanent: false,
            };
        };
        let removal = match cluster.ready_client() {
            None => Removal::NotReady,
            Some(client) => {
                self.remove(fed, &cluster.name, client, &key, &entry.uid, entry.deleting)
                    .await
            }
        };
        removal.into_result(&cluster.name, &self.describe_member(&key))
    }

    /// Deletes (or orphans) one member object of ours.
    pub async fn remove(
        &self,
        fed: &FederatedObject,
        cluster: &str,
        client: &kube::Client,
        key: &MemberKey,
        uid: &str,
        already_deleting: bool,
    ) -> Removal {
        let api = self.member_api(client, key);
        if orphan_requested(fed) {
            let patch = orphan_patch();
            let res = self
                .member_call(
                    cluster,
                    api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch)),
                )
                .await;
            self.ctx
                .metrics
                .member_operation(cluster, "orphan", matches!(res, Ok(Ok(_))));
            return match res {
                Err(_) => Removal::TimedOut(PropagationStatus::LabelRemovalTimedOut),
                Ok(Ok(_)) => {
                    self.index.forget(cluster, key);
                    Removal::Orphaned
                }
                Ok(Err(kube::Error::Api(s))) if s.code == 404 => {
                    self.index.forget(cluster, key);
                    Removal::Orphaned
                }
                Ok(Err(e)) => Removal::Failed(PropagationStatus::LabelRemovalFailed, api_message(&e)),
            };
        }
        if already_deleting {
            return Removal::Waiting;
        }
        let params = match delete_options(fed) {
            Ok(opts) => delete_params(opts.as_ref(), uid),
            Err(e) => return Removal::Failed(PropagationStatus::DeletionFailed, e.to_string()),
        };
        let res = self.member_call(cluster, api.delete(&key.name, &params)).await;
        self.ctx
            .metrics
            .member_operation(cluster, "delete", matches!(res, Ok(Ok(_))));
        match res {
            Err(_) => Removal::TimedOut(PropagationStatus::DeletionTimedOut),
            Ok(Ok(either)) => {
                if either.is_right() {
                    self.index.forget(cluster, key);
                    Removal::Deleted
                } else {
                    Removal::DeleteStarted
                }
            }
            // Gone already, or a different object of that name now (the uid precondition failed).
            Ok(Err(kube::Error::Api(s))) if s.code == 404 || s.code == 409 => {
                self.index.forget(cluster, key);
                Removal::Deleted
            }
            Ok(Err(e)) => Removal::Failed(PropagationStatus::DeletionFailed, api_message(&e)),
        }
    }
}

/// A member call that got no answer.
#[derive(Clone, Copy, Debug)]
pub struct Unanswered {
    /// Not attempted: the cluster timed out moments ago.
    pub skipped: bool,
    /// The per-cluster timeout.
    pub timeout: Duration,
}

impl Unanswered {
    /// What happened to `action` (e.g. `updating Deployment ns/web`).
    pub fn describe(&self, action: &str) -> String {
        if self.skipped {
            format!(
                "{action}: not attempted, the cluster did not answer within {:?} moments ago",
                self.timeout
            )
        } else {
            format!("{action} took longer than {:?}", self.timeout)
        }
    }
}

/// How removing one member object went.
#[derive(Debug)]
pub enum Removal {
    /// Deleted (gone).
    Deleted,
    /// Deletion accepted, the object still exists (finalizers, foreground deletion).
    DeleteStarted,
    /// Already being deleted; waiting for it to go.
    Waiting,
    /// Our label was removed; the object stays.
    Orphaned,
    /// The cluster is not ready; nothing was done.
    NotReady,
    /// The call failed.
    Failed(PropagationStatus, String),
    /// The call timed out.
    TimedOut(PropagationStatus),
}

impl Removal {
    /// Whether the member object is no longer ours to wait for.
    pub fn is_done(&self) -> bool {
        matches!(self, Removal::Deleted | Removal::Orphaned)
    }

    fn into_result(self, cluster: &str, what: &str) -> ClusterResult {
        let (outcome, action) = self.describe(what);
        ClusterResult {
            cluster: cluster.to_string(),
            outcome,
            action,
            permanent: false,
        }
    }

    /// The per-cluster outcome (none once removed) and the Event for the action taken (its note names
    /// the cluster as [`CLUSTERS`]).
    pub fn describe(&self, what: &str) -> (Option<ClusterOutcome>, Option<(&'static str, String)>) {
        match self {
            Removal::Deleted => (
                None,
                Some(("DeleteInCluster", format!("deleted {what} from {CLUSTERS}"))),
            ),
            Removal::Orphaned => (
                None,
                Some((
                    "OrphanInCluster",
                    format!("left {what} in {CLUSTERS} and removed its kubefed.io/managed label"),
                )),
            ),
            Removal::DeleteStarted => (
                Some(ClusterOutcome::failed(
                    PropagationStatus::WaitingForRemoval,
                    format!("{what} is being deleted"),
                )),
                Some(("DeleteInCluster", format!("deleting {what} from {CLUSTERS}"))),
            ),
            Removal::Waiting => (
                Some(ClusterOutcome::failed(
                    PropagationStatus::WaitingForRemoval,
                    format!("{what} is being deleted"),
                )),
                None,
            ),
            Removal::NotReady => (
                Some(ClusterOutcome::failed(
                    PropagationStatus::ClusterNotReady,
                    format!("{what} is to be removed once the cluster is ready"),
                )),
                None,
            ),
            Removal::Failed(status, msg) => (
                Some(ClusterOutcome::failed(*status, format!("{what}: {msg}"))),
                None,
            ),
            Removal::TimedOut(status) => (
                Some(ClusterOutcome::failed(
                    *status,
                    format!("removing {what} timed out"),
                )),
                None,
            ),
        }
    }
}

/// The placement view of every cluster.
pub fn cluster_infos(clusters: &ClusterSet) -> Vec<ClusterInfo> {
    clusters
        .clusters
        .values()
        .map(|c| ClusterInfo::new(c.name.clone(), c.labels.clone(), c.ready))
        .collect()
}

/// DeleteParams from the JSON DeleteOptions of `kubefed.io/deleteoption`, with a uid precondition so only
/// the object we know is deleted. `dryRun` is ignored (a dry-run delete would never finish).
pub fn delete_params(options: Option<&Value>, uid: &str) -> DeleteParams {
    let mut dp = DeleteParams::default();
    if let Some(o) = options.and_then(|o| serde_json::from_value::<DeleteOptions>(o.clone()).ok()) {
        dp.propagation_policy = match o.propagation_policy.as_deref() {
            Some("Orphan") => Some(PropagationPolicy::Orphan),
            Some("Background") => Some(PropagationPolicy::Background),
            Some("Foreground") => Some(PropagationPolicy::Foreground),
            _ => None,
        };
        dp.grace_period_seconds = o.grace_period_seconds.and_then(|g| u32::try_from(g).ok());
    }
    if !uid.is_empty() {
        dp.preconditions = Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        });
    }
    dp
}

/// Whether a member object has `managedFields` entries of managers other than us (it was not made by us).
fn has_other_managers(obj: &DynamicObject) -> bool {
    obj.metadata.managed_fields.iter().flatten().any(|e| {
        !matches!(
            e.manager.as_deref(),
            Some(CONTROLLER_FIELD_MANAGER | RETAINED_REPLICAS_FIELD_MANAGER)
        )
    })
}

/// The API server's message for an API error, else the error.
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_params_follow_the_annotation() {
        let dp = delete_params(
            Some(&serde_json::json!({"propagationPolicy": "Orphan", "gracePeriodSeconds": 5})),
            "u1",
        );
        assert_eq!(dp.propagation_policy, Some(PropagationPolicy::Orphan));
        assert_eq!(dp.grace_period_seconds, Some(5));
        assert_eq!(dp.preconditions.and_then(|p| p.uid).as_deref(), Some("u1"));
        let dp = delete_params(None, "");
        assert_eq!(dp, DeleteParams::default());
    }

    #[test]
    fn removal_outcomes() {
        let (o, a) = Removal::Deleted.describe("ConfigMap ns/a");
        assert!(o.is_none());
        assert_eq!(
            a,
            Some((
                "DeleteInCluster",
                "deleted ConfigMap ns/a from {clusters}".to_string()
            ))
        );
        let (o, _) = Removal::DeleteStarted.describe("x");
        assert_eq!(o.map(|o| o.status), Some(PropagationStatus::WaitingForRemoval));
        let (o, a) = Removal::NotReady.describe("x");
        assert_eq!(o.map(|o| o.status), Some(PropagationStatus::ClusterNotReady));
        assert!(a.is_none());
    }
}
