//! Deleting a federated object: remove its member copies from every cluster, then its finalizer.
//!
//! Member copies are deleted with the `kubefed.io/deleteoption` DeleteOptions (and a uid precondition, so
//! only the object we know is deleted), or — with `kubefed.io/orphan: "true"` — left in place with our
//! `kubefed.io/managed` label removed. Only objects of ours are touched: the member index lists them, and
//! in a cluster whose index has not listed yet the object is read first.
//!
//! # Never blocked forever (design §4.5)
//! A cluster that is down cannot be cleaned up. KubeFed then kept the federated object (and with it
//! usually the namespace) until the cluster came back. We wait at most `--deletion-timeout`, counted from
//! the object's `deletionTimestamp`; then the finalizer is removed anyway and a Warning Event names each
//! cluster where a copy may have been left behind, and why. Meanwhile the status says, per cluster, what
//! is being waited for.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kubefed_core::api::FederatedObject;
use kubefed_core::api::constants::SYNC_CONTROLLER_FINALIZER;
use kubefed_core::placement::is_reserved_namespace;
use kubefed_core::propagation::{Managed, is_managed};
use kubefed_core::status::ClusterOutcome;

use crate::cluster::MemberCluster;
use crate::error::{Error, Result};
use crate::propagation::{Outcome, Removal, TypeContext};

/// How often a deletion that waits for member clusters is re-checked.
const RECHECK: Duration = Duration::from_secs(2);

/// Handles a federated object with a `deletionTimestamp`.
pub async fn finalize(fed: &FederatedObject, tc: &TypeContext) -> Result<Outcome> {
    if !fed.finalizers().iter().any(|f| f == SYNC_CONTROLLER_FINALIZER) {
        return Ok(Outcome::Done);
    }
    let key = tc.key_of(fed);
    let what = tc.describe_member(&key);
    let regarding = kube::Resource::object_ref(fed, &tc.fed_ar);

    // The Namespace objects of kube-system & co. are never ours to delete.
    if tc.target.is_namespace() && is_reserved_namespace(&key.name, &tc.ctx.settings.namespace) {
        remove_finalizer(fed, tc).await?;
        return Ok(Outcome::Done);
    }

    let clusters = tc.ctx.clusters.current();
    let work = clusters
        .clusters
        .values()
        .map(|c| async move { (c.name.clone(), clean_up(fed, tc, c).await) });
    let removals: Vec<(String, Option<Removal>)> = futures::future::join_all(work).await;

    let mut outcomes = BTreeMap::new();
    let mut actions = Vec::new();
    for (cluster, removal) in &removals {
        let Some(removal) = removal else { continue };
        let (outcome, action) = removal.describe(&what);
        if let Some((reason, note)) = action {
            actions.push((cluster.as_str(), reason, note));
        }
        if let Some(o) = outcome {
            outcomes.insert(cluster.clone(), o);
        }
    }
    tc.publish_actions(&regarding, actions.iter().map(|(c, r, n)| (*c, *r, n.as_str())));

    if outcomes.is_empty() {
        remove_finalizer(fed, tc).await?;
        return Ok(Outcome::Done);
    }

    let waited = fed
        .metadata
        .deletion_timestamp
        .as_ref()
        .map_or(Duration::ZERO, |t| {
            let secs = Timestamp::now().as_second().saturating_sub(t.0.as_second());
            Duration::from_secs(u64::try_from(secs).unwrap_or(0))
        });
    let limit = tc.ctx.settings.deletion_timeout;
    if waited >= limit {
        let left: Vec<String> = outcomes.iter().map(|(c, o)| describe_left(c, o)).collect();
        tc.event(
            &regarding,
            None,
            EventType::Warning,
            "DeletionTimedOut",
            format!(
                "gave up waiting after {limit:?} to remove {what} from {} cluster(s); it may be left behind in: {}",
                left.len(),
                left.join("; ")
            ),
        );
        remove_finalizer(fed, tc).await?;
        return Ok(Outcome::Done);
    }
    tc.write_status(fed, &outcomes, None).await?;
    Ok(Outcome::After(
        RECHECK
            .min(limit.saturating_sub(waited))
            .max(Duration::from_millis(200)),
    ))
}

/// `cluster (status: message)`.
fn describe_left(cluster: &str, o: &ClusterOutcome) -> String {
    match &o.message {
        Some(m) => format!("{cluster} ({}: {m})", o.status),
        None => format!("{cluster} ({})", o.status),
    }
}

/// Removes the member copy from one cluster; `None` when there is nothing of ours there.
async fn clean_up(fed: &FederatedObject, tc: &TypeContext, cluster: &MemberCluster) -> Option<Removal> {
    let key = tc.key_of(fed);
    let entry = tc.index.get(&cluster.name, &key);
    let synced = tc.index.synced(&cluster.name);
    let Some(client) = cluster.ready_client() else {
        // Unknown (never listed) or known to hold a copy: it has to wait for the cluster.
        return (entry.is_some() || !synced).then_some(Removal::NotReady);
    };
    if let Some(e) = entry {
        return Some(
            tc.remove(fed, &cluster.name, client, &key, &e.uid, e.deleting)
                .await,
        );
    }
    if synced {
        return None;
    }
    // Not listed yet: read it to know whether it is ours.
    let api = tc.member_api(client, &key);
    let read = tc.member_call(&cluster.name, api.get_opt(&key.name)).await;
    tc.ctx
        .metrics
        .member_operation(&cluster.name, "get", matches!(read, Ok(Ok(_))));
    match read {
        Err(_) => Some(Removal::TimedOut(
            kubefed_core::api::PropagationStatus::DeletionTimedOut,
        )),
        Ok(Err(e)) => Some(Removal::Failed(
            kubefed_core::api::PropagationStatus::RetrievalFailed,
            e.to_string(),
        )),
        Ok(Ok(None)) => None,
        Ok(Ok(Some(live))) => {
            let labels = serde_json::json!({"metadata": {"labels": live.metadata.labels}});
            if is_managed(&labels) != Managed::Yes {
                return None;
            }
            let uid = live.metadata.uid.clone().unwrap_or_default();
            let deleting = live.metadata.deletion_timestamp.is_some();
            Some(tc.remove(fed, &cluster.name, client, &key, &uid, deleting).await)
        }
    }
}

/// Removes our finalizer (JSON patch: test it is where we saw it, then remove it).
async fn remove_finalizer(fed: &FederatedObject, tc: &TypeContext) -> Result<()> {
    let Some(i) = fed
        .finalizers()
        .iter()
        .position(|f| f == SYNC_CONTROLLER_FINALIZER)
    else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{i}");
    let ops = serde_json::json!([
        {"op": "test", "path": path, "value": SYNC_CONTROLLER_FINALIZER},
        {"op": "remove", "path": path},
    ]);
    let patch: json_patch::Patch = serde_json::from_value(ops).map_err(Error::json("finalizer patch"))?;
    match tc
        .fed_api(fed)
        .patch(
            &fed.name_any(),
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::host(format!(
            "removing the finalizer of {}",
            tc.describe(fed)
        ))(e)),
    }
}
