//! ReplicaSchedulingPreferences: spread a FederatedDeployment's or FederatedReplicaSet's replicas over the
//! ready member clusters with `kubefed-core`'s planner ([`kubefed_core::scheduling::plan`]), and write the
//! result into the federated object (same namespace and name) as its placement plus one `/spec/replicas`
//! override per cluster; the propagation controller then does the rest.
//!
//! Only ready clusters are candidates, so when a cluster stops being ready its replicas move to the
//! others — but the cluster keeps its place in the placement with its last replicas
//! ([`kubefed_core::scheduling::held_replicas`]): nothing is deleted because a cluster is unreachable, and
//! when it comes back the next plan scales it instead of the propagation controller deleting and
//! recreating it. `rebalance: true` then moves replicas back, while without `rebalance` replicas stay
//! where they run (the planner keeps current replicas in place). Cluster readiness changes re-plan every
//! RSP at once; otherwise each RSP is re-planned when it changes and every [`RECHECK`].
//!
//! Writes to the federated object are JSON merge patches carrying the `resourceVersion` that was read, so a
//! concurrent edit is never overwritten (the next attempt re-reads). Only `spec.placement.clusters` and the
//! `/spec/replicas` operations of by-name overrides are ours; a `clusterSelector` in the placement and every
//! other override are kept. The RSP's status records the plan (`replicas` per cluster) and a `Scheduled`
//! condition that says why when there is none.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::utils::PredicateConfig;
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Resource, ResourceExt};
use kubefed_core::api::constants::{CONTROLLER_FIELD_MANAGER, SCHEDULING_API_VERSION};
use kubefed_core::api::{
    FederatedObject, ReplicaSchedulingPreference, ReplicaSchedulingPreferenceStatus, RspTargetKind,
    federated_api_resource,
};
use kubefed_core::find_default_type;
use kubefed_core::scheduling::{candidate_clusters, held_replicas, plan, scheduled_spec};
use serde_json::json;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::member::target_api_resource;
use crate::propagation::cluster_infos;

/// How often an RSP is re-planned without any change.
pub const RECHECK: Duration = Duration::from_secs(60);

/// Runs the RSP controller until dropped.
pub async fn run(ctx: Arc<Context>) {
    let api: Api<ReplicaSchedulingPreference> = Api::all(ctx.client.clone());
    let cluster_changes = futures::stream::unfold(ctx.clusters.subscribe(), |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    });
    ctx.clusters.synced().await;
    // A federated workload appearing or changing its spec re-plans its RSP (same namespace and name);
    // changes of objects without an RSP are dropped by the controller (nothing in its cache to reconcile).
    let mut targets = futures::stream::SelectAll::new();
    for kind in [
        RspTargetKind::FederatedDeployment,
        RspTargetKind::FederatedReplicaSet,
    ] {
        let Some(target) = find_default_type(target_type_name(kind)) else {
            continue;
        };
        let fed_api: Api<PartialObjectMeta<DynamicObject>> =
            Api::all_with(ctx.client.clone(), &federated_api_resource(&target));
        let refs = watcher(fed_api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .predicate_filter(predicates::generation, PredicateConfig::default())
            .filter_map(|o| {
                futures::future::ready(o.ok().map(|o| {
                    ObjectRef::<ReplicaSchedulingPreference>::new(&o.name_any())
                        .within(o.namespace().as_deref().unwrap_or_default())
                }))
            });
        targets.push(refs.boxed());
    }
    Controller::new(api, watcher::Config::default())
        .reconcile_all_on(cluster_changes)
        .reconcile_on(targets)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| {
            if let Err(e) = res {
                tracing::debug!(error = %e, "ReplicaSchedulingPreference controller");
            }
            futures::future::ready(())
        })
        .await;
}

fn error_policy(rsp: Arc<ReplicaSchedulingPreference>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(rsp = rsp.name_any(), namespace = rsp.namespace().unwrap_or_default(), error = %err, "scheduling failed");
    Action::requeue(Duration::from_secs(5))
}

/// The target type name of an RSP's `targetKind`.
fn target_type_name(kind: RspTargetKind) -> &'static str {
    match kind {
        RspTargetKind::FederatedDeployment => "deployments.apps",
        RspTargetKind::FederatedReplicaSet => "replicasets.apps",
    }
}

async fn reconcile(rsp: Arc<ReplicaSchedulingPreference>, ctx: Arc<Context>) -> Result<Action> {
    let ns = rsp.namespace().unwrap_or_default();
    let name = rsp.name_any();
    let Some(target) = find_default_type(target_type_name(rsp.spec.target_kind)) else {
        return Ok(Action::await_change());
    };
    let fed_api: Api<FederatedObject> =
        Api::namespaced_with(ctx.client.clone(), &ns, &federated_api_resource(&target));
    let Some(fed) = fed_api.get_opt(&name).await.map_err(Error::host(format!(
        "reading {} {ns}/{name}",
        rsp.spec.target_kind.as_str()
    )))?
    else {
        let msg = format!("{} {ns}/{name} does not exist", rsp.spec.target_kind.as_str());
        write_status(&ctx, &rsp, BTreeMap::new(), false, "TargetNotFound", &msg).await?;
        return Ok(Action::requeue(RECHECK));
    };
    if fed.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }

    let clusters = ctx.clusters.current();
    let infos = cluster_infos(&clusters);
    let candidates = match candidate_clusters(&rsp, &fed.spec, &infos) {
        Ok(c) => c,
        Err(msg) => {
            write_status(&ctx, &rsp, BTreeMap::new(), false, "ComputePlacementFailed", &msg).await?;
            return Ok(Action::requeue(RECHECK));
        }
    };
    let current = if rsp.spec.rebalance {
        BTreeMap::new()
    } else {
        current_replicas(&ctx, &target, &ns, &name, &candidates).await
    };
    let planned = match plan(
        &rsp.spec.preferences(),
        &candidates,
        &current,
        &BTreeMap::new(),
        &format!("{ns}/{name}"),
    ) {
        Ok(p) => p,
        Err(e) => {
            write_status(&ctx, &rsp, BTreeMap::new(), false, "PlanFailed", &e.to_string()).await?;
            return Ok(Action::requeue(RECHECK));
        }
    };
    let replicas = planned.desired_replicas(&current);
    // Unready clusters keep their place and replicas (see `held_replicas`): their return is scaled by
    // the next plan, never deleted-then-recreated by the propagation controller in between.
    let held = held_replicas(&fed.spec, &infos);
    let mut written = replicas.clone();
    written.extend(held.iter().map(|(c, n)| (c.clone(), *n)));
    let (placement, overrides) = scheduled_spec(&fed.spec, &written);
    if placement != fed.spec.placement || overrides != fed.spec.overrides {
        let patch = json!({
            "metadata": {"resourceVersion": fed.resource_version()},
            "spec": {"placement": placement, "overrides": overrides},
        });
        let pp = PatchParams {
            field_manager: Some(CONTROLLER_FIELD_MANAGER.to_string()),
            ..Default::default()
        };
        match fed_api.patch(&name, &pp, &Patch::Merge(&patch)).await {
            Ok(_) => {}
            // Changed since we read it (the propagation controller adds its finalizer, a user edits it):
            // plan again from the new version.
            Err(kube::Error::Api(s)) if s.code == 409 => {
                return Ok(Action::requeue(Duration::from_millis(200)));
            }
            Err(e) => {
                let kind = fed.types.as_ref().map_or("", |t| t.kind.as_str());
                return Err(Error::host(format!(
                    "writing the schedule into {kind} {ns}/{name}"
                ))(e));
            }
        }
        tracing::info!(rsp = name, namespace = ns, ?replicas, "scheduled");
    }
    let placed: BTreeMap<String, i64> = replicas.into_iter().filter(|(_, n)| *n > 0).collect();
    let (reason, message) = schedule_summary(&placed, &held, &infos);
    write_status(&ctx, &rsp, placed, true, reason, &message).await?;
    Ok(Action::requeue(RECHECK))
}

/// The `Scheduled` condition's reason and message: where the plan put replicas, and which joined
/// clusters it left out and why, so an operator sees a failover on the RSP itself.
fn schedule_summary(
    placed: &BTreeMap<String, i64>,
    held: &BTreeMap<String, i64>,
    clusters: &[kubefed_core::ClusterInfo],
) -> (&'static str, String) {
    let list = |m: &BTreeMap<String, i64>| {
        m.iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut message = if placed.is_empty() {
        "no replicas are planned".to_string()
    } else {
        format!("replicas are placed as planned ({})", list(placed))
    };
    let unready: Vec<&str> = clusters
        .iter()
        .filter(|c| !c.ready && !held.contains_key(&c.name))
        .map(|c| c.name.as_str())
        .collect();
    if !held.is_empty() {
        message.push_str(&format!(
            "; not ready, kept in place with their last replicas until they return: {}",
            list(held)
        ));
    }
    if !unready.is_empty() {
        message.push_str(&format!("; not ready, left out: {}", unready.join(", ")));
    }
    let reason = if held.is_empty() && unready.is_empty() {
        "Scheduled"
    } else {
        "ClustersNotReady"
    };
    (reason, message)
}

/// `spec.replicas` of the workload in each candidate cluster that runs it (unreachable clusters are left out).
async fn current_replicas(
    ctx: &Context,
    target: &kubefed_core::TargetType,
    ns: &str,
    name: &str,
    candidates: &[String],
) -> BTreeMap<String, i64> {
    let clusters = ctx.clusters.current();
    let ar = target_api_resource(target);
    let reads = candidates.iter().filter_map(|c| {
        let client = clusters.get(c)?.ready_client()?.clone();
        let api: Api<DynamicObject> = Api::namespaced_with(client, ns, &ar);
        Some(async move {
            let got = tokio::time::timeout(ctx.settings.member_timeout, api.get_opt(name)).await;
            ctx.metrics.member_operation(c, "get", matches!(got, Ok(Ok(_))));
            let n = match got {
                Ok(Ok(Some(o))) => o.data["spec"]["replicas"].as_i64(),
                _ => None,
            };
            n.map(|n| (c.clone(), n))
        })
    });
    futures::future::join_all(reads)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Server-side applies the RSP's status: the plan and a `Scheduled` condition.
async fn write_status(
    ctx: &Context,
    rsp: &ReplicaSchedulingPreference,
    replicas: BTreeMap<String, i64>,
    ok: bool,
    reason: &str,
    message: &str,
) -> Result<()> {
    let previous = rsp
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Scheduled"));
    let status_str = if ok { "True" } else { "False" };
    let unchanged = previous
        .is_some_and(|c| c.status == status_str && c.reason == reason && c.message == message)
        && rsp
            .status
            .as_ref()
            .is_some_and(|s| s.replicas == replicas && s.observed_generation == rsp.metadata.generation);
    if unchanged {
        return Ok(());
    }
    let transition = previous
        .filter(|c| c.status == status_str)
        .map_or_else(|| Time(Timestamp::now()), |c| c.last_transition_time.clone());
    let status = ReplicaSchedulingPreferenceStatus {
        observed_generation: rsp.metadata.generation,
        conditions: vec![Condition {
            type_: "Scheduled".into(),
            status: status_str.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: transition,
            observed_generation: rsp.metadata.generation,
        }],
        replicas,
    };
    let body = json!({
        "apiVersion": SCHEDULING_API_VERSION,
        "kind": "ReplicaSchedulingPreference",
        "metadata": {"name": rsp.name_any(), "namespace": rsp.namespace()},
        "status": status,
    });
    let api: Api<ReplicaSchedulingPreference> = Api::namespaced(
        ctx.client.clone(),
        rsp.meta().namespace.as_deref().unwrap_or_default(),
    );
    api.patch_status(
        &rsp.name_any(),
        &PatchParams::apply(CONTROLLER_FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(Error::host(format!(
        "writing status of ReplicaSchedulingPreference {}",
        rsp.name_any()
    )))?;
    Ok(())
}
