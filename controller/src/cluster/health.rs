//! Member cluster health: probe `/healthz` on an interval, flip readiness after enough consecutive
//! failures or successes, and write the KubeFedCluster's `Ready` / `Offline` / `ConfigMalformed`
//! conditions and `kubernetesVersion` with server-side apply on its status.
//!
//! Period, timeout and thresholds come from the KubeFedConfig (design §3 defaults: every 10 s, 3 s
//! timeout, not ready after 3 failures, ready after 1 success) and are re-read before every probe. The
//! first probe of a cluster decides at once; after that the thresholds apply, so one dropped probe does
//! not make every federated object report `ClusterNotReady`.
//!
//! The status is written only when what it says changes (and once when the prober starts), not on every
//! probe: writes to the host cost more than they tell, and each one wakes every watcher of
//! KubeFedClusters. Readiness reaches the propagation controllers through that status (the cluster
//! registry watches it), so a cluster is ready for propagation exactly when its `Ready` condition says so.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use kubefed_core::api::constants::{CONTROLLER_FIELD_MANAGER, CORE_API_VERSION};
use kubefed_core::api::{
    ClusterCondition, ClusterConditionType, ConditionStatus, KubeFedCluster, KubeFedClusterStatus,
};
pub use kubefed_core::health::{Probe, Tracker, conditions, same_meaning};

use crate::events::{EventSink, PendingEvent};
use crate::kubefedconfig::ConfigReceiver;
use crate::metrics::Metrics;

/// Probes `client`'s `/healthz`, giving up after `timeout`.
pub async fn probe(client: &kube::Client, timeout: Duration) -> Probe {
    let req = match http::Request::get("/healthz").body(Vec::new()) {
        Ok(r) => r,
        Err(e) => return Probe::Unreachable(format!("building the /healthz request: {e}")),
    };
    match tokio::time::timeout(timeout, client.request_text(req)).await {
        Err(_) => Probe::Unreachable(format!("/healthz did not answer within {timeout:?}")),
        Ok(Ok(body)) if body.trim() == "ok" => Probe::Healthy,
        Ok(Ok(body)) => Probe::Unhealthy(format!("/healthz responded without ok: {}", body.trim())),
        Ok(Err(kube::Error::Api(status))) if status.code == 401 || status.code == 403 => {
            Probe::CredentialsRejected(format!(
                "/healthz responded with {} {}: the cluster rejected the controller's credentials (the \
                 token in the KubeFedCluster's Secret); give it a valid token, e.g. join the cluster again",
                status.code, status.message
            ))
        }
        Ok(Err(kube::Error::Api(status))) => Probe::Unhealthy(format!(
            "/healthz responded with {} {}",
            status.code, status.message
        )),
        Ok(Err(e)) => Probe::Unreachable(format!("cluster is not reachable: {e}")),
    }
}

/// A status with `wanted` conditions, keeping each condition's `lastTransitionTime` from `previous` when
/// its status did not change.
pub fn build_status(
    previous: Option<&KubeFedClusterStatus>,
    wanted: Vec<(ClusterConditionType, ConditionStatus, &'static str, String)>,
    kubernetes_version: Option<String>,
) -> KubeFedClusterStatus {
    let now = Time(Timestamp::now());
    let conditions = wanted
        .into_iter()
        .map(|(type_, status, reason, message)| {
            let old = previous.and_then(|p| p.condition(type_));
            let transition = match old {
                Some(o) if o.status == status => o.last_transition_time.clone().or_else(|| Some(now.clone())),
                _ => Some(now.clone()),
            };
            ClusterCondition {
                type_,
                status,
                last_probe_time: Some(now.clone()),
                last_transition_time: transition,
                reason: Some(reason.to_string()),
                message: Some(message),
            }
        })
        .collect();
    KubeFedClusterStatus {
        conditions,
        zones: Vec::new(),
        region: None,
        kubernetes_version: kubernetes_version
            .or_else(|| previous.and_then(|p| p.kubernetes_version.clone())),
    }
}

/// Everything one cluster's prober needs.
pub struct Prober {
    /// The KubeFedCluster's name.
    pub cluster: String,
    /// KubeFedClusters in the system namespace.
    pub api: Api<KubeFedCluster>,
    /// The member client, or why there is none.
    pub client: Result<kube::Client, String>,
    /// The status as last read.
    pub status: Option<KubeFedClusterStatus>,
    /// The KubeFedCluster, for Events.
    pub reference: ObjectReference,
    /// Health-check settings.
    pub config: ConfigReceiver,
    /// Where Events go.
    pub events: EventSink,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

impl Prober {
    /// Probes until dropped. With a malformed configuration, writes `ConfigMalformed` once (retrying until
    /// the write succeeds) and publishes a Warning Event.
    pub async fn run(mut self) {
        let client = match self.client.clone() {
            Ok(c) => c,
            Err(reason) => return self.report_malformed(reason).await,
        };
        let mut tracker = Tracker::starting(self.status.as_ref().and_then(|s| {
            s.condition(ClusterConditionType::Ready)
                .map(|c| c.status == ConditionStatus::True)
        }));
        let mut first = true;
        let mut version: Option<String> = None;
        loop {
            let cfg = self.config.borrow().clone();
            let result = probe(&client, cfg.health_timeout).await;
            let was = tracker.ready();
            let ready = if first {
                // The first probe decides, whatever was stored.
                tracker = Tracker::default();
                tracker.observe(result.is_healthy(), cfg.failure_threshold, cfg.success_threshold)
            } else {
                tracker.observe(result.is_healthy(), cfg.failure_threshold, cfg.success_threshold)
            };
            self.metrics.cluster_ready(&self.cluster, ready);
            if ready && version.is_none() {
                version = tokio::time::timeout(cfg.health_timeout, client.apiserver_version())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .map(|v| v.git_version);
            }
            let wanted = build_status(self.status.as_ref(), conditions(ready, &result), version.clone());
            let changed = self.status.as_ref().is_none_or(|s| !same_meaning(s, &wanted));
            if changed || first {
                if was != Some(ready) || first {
                    self.transition_event(ready, &result, was);
                }
                if self.write(&wanted).await {
                    self.status = Some(wanted);
                    first = false;
                }
            } else {
                first = false;
            }
            if !ready {
                version = None;
            }
            tokio::time::sleep(cfg.health_period).await;
        }
    }

    fn transition_event(&self, ready: bool, probe: &Probe, was: Option<bool>) {
        if was == Some(ready) {
            return;
        }
        // The one log line per change of state (kube-client's own per-request error lines are filtered,
        // see `DEFAULT_LOG_FILTER`).
        match probe {
            Probe::Unreachable(m) | Probe::Unhealthy(m) | Probe::CredentialsRejected(m) if !ready => {
                tracing::warn!(
                    cluster = self.cluster,
                    reason = m.as_str(),
                    "cluster is not ready: its member objects are kept as they are, and reported ClusterNotReady until it answers"
                )
            }
            _ if ready => tracing::info!(cluster = self.cluster, "cluster is ready"),
            _ => {}
        }
        let (type_, reason, note) = match (ready, probe) {
            (true, _) => (
                EventType::Normal,
                "ClusterReady",
                format!("cluster {} is ready", self.cluster),
            ),
            (false, Probe::CredentialsRejected(m)) => (
                EventType::Warning,
                probe.reason(),
                format!("cluster {} is not ready: {m}", self.cluster),
            ),
            (false, Probe::Unreachable(m) | Probe::Unhealthy(m)) => (
                EventType::Warning,
                "ClusterNotReady",
                format!("cluster {} is not ready: {m}", self.cluster),
            ),
            (false, Probe::Healthy) => return,
        };
        self.events.publish(PendingEvent {
            regarding: self.reference.clone(),
            related: None,
            type_,
            reason: reason.into(),
            action: "Probe".into(),
            note,
        });
    }

    async fn report_malformed(mut self, reason: String) {
        self.metrics.cluster_ready(&self.cluster, false);
        self.events.publish(PendingEvent {
            regarding: self.reference.clone(),
            related: None,
            type_: EventType::Warning,
            reason: "ConfigMalformed".into(),
            action: "BuildClient".into(),
            note: reason.clone(),
        });
        let wanted = build_status(
            self.status.as_ref(),
            vec![
                (
                    ClusterConditionType::Ready,
                    ConditionStatus::False,
                    "ConfigMalformed",
                    reason.clone(),
                ),
                (
                    ClusterConditionType::ConfigMalformed,
                    ConditionStatus::True,
                    "ConfigMalformed",
                    reason,
                ),
            ],
            None,
        );
        if self.status.as_ref().is_some_and(|s| same_meaning(s, &wanted)) {
            return;
        }
        let mut delay = Duration::from_millis(500);
        while !self.write(&wanted).await {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
        self.status = Some(wanted);
    }

    /// Server-side applies `status`; false (logged) on failure.
    async fn write(&self, status: &KubeFedClusterStatus) -> bool {
        let patch = serde_json::json!({
            "apiVersion": CORE_API_VERSION,
            "kind": "KubeFedCluster",
            "metadata": {"name": self.cluster},
            "status": status,
        });
        let pp = PatchParams::apply(CONTROLLER_FIELD_MANAGER).force();
        match self
            .api
            .patch_status(&self.cluster, &pp, &Patch::Apply(&patch))
            .await
        {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(cluster = self.cluster, error = %e, "writing KubeFedCluster status");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_kept_when_status_unchanged() {
        let first = build_status(None, conditions(true, &Probe::Healthy), Some("v1.34.1".into()));
        let t0 = first.conditions[0].last_transition_time.clone();
        let again = build_status(Some(&first), conditions(true, &Probe::Healthy), None);
        assert_eq!(again.conditions[0].last_transition_time, t0);
        assert_eq!(again.kubernetes_version.as_deref(), Some("v1.34.1"));
        assert!(same_meaning(&first, &again));
        let down = build_status(
            Some(&first),
            conditions(false, &Probe::Unreachable("x".into())),
            None,
        );
        assert!(!same_meaning(&first, &down));
    }
}
