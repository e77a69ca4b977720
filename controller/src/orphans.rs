//! Member objects of ours whose federated object is gone: finish the deletions that gave up.
//!
//! Deleting a federated object waits for unreachable clusters only up to the deletion timeout, then lets
//! the object go and reports what was left (`DeletionTimedOut`). Those copies still carry
//! `kubefed.io/managed: "true"`, so they are in the member index of their type; when their cluster is
//! ready again (and every [`SWEEP_INTERVAL`]) each copy whose federated object exists neither in the host
//! cache nor on a direct read of the host is deleted (uid precondition). Nothing extra is stored: the
//! label on the member object *is* the memory, so it survives controller restarts and leader changes.
//!
//! Orphaned copies (`kubefed.io/orphan`) lose the label and are never touched; a copy labelled
//! `kubefed.io/managed: "false"` is not in the index at all.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::Store;

use crate::cached::CachedFederated;
use crate::member::{MemberKey, federated_ref};
use crate::propagation::{TypeContext, delete_params};

/// How often every ready cluster is swept even without a readiness change.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(300);
/// How long a sweep waits for a returning cluster's member index to list.
const INDEX_WAIT: Duration = Duration::from_secs(30);
/// When a sweep could not finish (a delete failed or was skipped, an index was not listed), the next one
/// comes this soon: a cluster that just returned often fails its first calls.
const RETRY: Duration = Duration::from_secs(5);

/// Sweeps once the host cache has listed (`listed`), on every cluster change and every [`SWEEP_INTERVAL`]; until dropped.
pub async fn run(
    tc: Arc<TypeContext>,
    store: Store<CachedFederated>,
    mut listed: tokio::sync::watch::Receiver<bool>,
) {
    if listed.wait_for(|l| *l).await.is_err() {
        return;
    }
    let mut changes = tc.ctx.clusters.subscribe();
    loop {
        let next = if sweep(&tc, &store).await {
            SWEEP_INTERVAL
        } else {
            RETRY
        };
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(next) => {}
        }
    }
}

/// One pass over every ready cluster; false when something is left for a retry.
async fn sweep(tc: &TypeContext, store: &Store<CachedFederated>) -> bool {
    let mut complete = true;
    let clusters = tc.ctx.clusters.current();
    tracing::debug!(kind = tc.target.kind, "sweeping for left-behind copies");
    for cluster in clusters.clusters.values() {
        let Some(client) = cluster.ready_client() else {
            continue;
        };
        let deadline = tokio::time::Instant::now() + INDEX_WAIT;
        while !tc.index.synced(&cluster.name) {
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if !tc.index.synced(&cluster.name) {
            complete = false;
            continue;
        }
        for key in tc.index.keys(&cluster.name) {
            if store.get(&federated_ref(&tc.target, &tc.fed_ar, &key)).is_some() {
                continue;
            }
            tracing::debug!(
                cluster = cluster.name,
                kind = tc.target.kind,
                name = key.name,
                "copy without a cached federated object"
            );
            if federated_exists(tc, &key).await {
                continue;
            }
            complete &= remove_leftover(tc, &cluster.name, client, &key).await;
        }
    }
    complete
}

/// Whether the federated object of `key` exists on the host (a read error counts as "exists": never
/// delete on doubt).
async fn federated_exists(tc: &TypeContext, key: &MemberKey) -> bool {
    let r = federated_ref(&tc.target, &tc.fed_ar, key);
    let api: Api<DynamicObject> = match &r.namespace {
        Some(ns) => Api::namespaced_with(tc.ctx.client.clone(), ns, &tc.fed_ar),
        None => Api::all_with(tc.ctx.client.clone(), &tc.fed_ar),
    };
    match api.get_metadata_opt(&r.name).await {
        Ok(None) => false,
        Ok(Some(_)) => true,
        Err(e) => {
            tracing::debug!(kind = tc.fed_ar.kind, name = r.name, error = %e, "reading a federated object before sweeping its copies");
            true
        }
    }
}

/// Deletes one left-behind copy; false when it should be tried again.
async fn remove_leftover(tc: &TypeContext, cluster: &str, client: &kube::Client, key: &MemberKey) -> bool {
    let Some(entry) = tc.index.get(cluster, key) else {
        return true;
    };
    if entry.deleting {
        return true;
    }
    let what = tc.describe_member(key);
    let api = tc.member_api(client, key);
    let res = tc
        .member_call(cluster, api.delete(&key.name, &delete_params(None, &entry.uid)))
        .await;
    let ok = matches!(res, Ok(Ok(_)));
    tc.ctx.metrics.member_operation(cluster, "delete", ok);
    match res {
        Ok(Ok(_)) => {
            tracing::info!(
                cluster,
                object = what,
                "deleted a copy left behind by a deletion that timed out while the cluster was unreachable"
            );
            tc.index.forget(cluster, key);
            true
        }
        // Gone already, or replaced by a different object of that name (uid precondition).
        Ok(Err(kube::Error::Api(s))) if s.code == 404 || s.code == 409 => {
            tc.index.forget(cluster, key);
            true
        }
        Ok(Err(e)) => {
            tracing::warn!(cluster, object = what, error = %e, "deleting a left-behind copy failed; will retry");
            false
        }
        Err(u) => {
            tracing::debug!(
                cluster,
                object = what,
                "deleting a left-behind copy: {}",
                u.describe("deleting")
            );
            false
        }
    }
}
