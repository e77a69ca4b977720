//! `KubeFedConfig` (`core.kubefed.io/v1beta1`): the control plane's settings — scope, controller delays,
//! leader election, feature gates, cluster health checking and per-controller concurrency.
//!
//! Every field is optional so a partial config (or KubeFed's own) decodes; the mutating webhook fills the
//! gaps with [`KubeFedConfigSpec::with_defaults`] (design §3's defaults). Durations stay strings on the
//! wire, as Go's `metav1.Duration` writes them (`"10s"`, `"1m30s"`), so a bad one does not make the whole
//! object undecodable; [`parse_duration`] turns one into a [`std::time::Duration`] and says what is wrong.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Toggle;
use crate::typeinfo::Scope;

/// Settings of the KubeFed control plane, which reads the KubeFedConfig named `kubefed` in its system
/// namespace.
// kube's `printcolumn(...)` arguments repeat (`type_ = "string"`), which clippy mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "core.kubefed.io",
    version = "v1beta1",
    kind = "KubeFedConfig",
    plural = "kubefedconfigs",
    singular = "kubefedconfig",
    namespaced,
    category = "kubefed",
    derive = "PartialEq",
    doc = "Settings of the KubeFed control plane (scope, delays, leader election, health checks, feature gates).",
    printcolumn(name = "Scope", type_ = "string", json_path = ".spec.scope"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct KubeFedConfigSpec {
    /// `Cluster`: the control plane federates every namespace; `Namespaced`: only its own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::schema::optional_enum_field)]
    pub scope: Option<Scope>,
    /// Delays of the controllers' reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_duration: Option<DurationConfig>,
    /// Leader election among controller replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_elect: Option<LeaderElectConfig>,
    /// Feature gates, each `Enabled` or `Disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_gates: Option<Vec<FeatureGate>>,
    /// How member clusters' health is probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_health_check: Option<ClusterHealthCheckConfig>,
    /// The sync (propagation) controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_controller: Option<SyncControllerConfig>,
    /// The status controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_controller: Option<StatusControllerConfig>,
}

/// Delays of the controllers' reconciliation, as duration strings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DurationConfig {
    /// Time to wait before reconciling on a cluster that became healthy (default `20s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_delay: Option<String>,
    /// Time to wait before giving up on a cluster that became unhealthy (default `60s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_delay: Option<String>,
    /// How long to wait for informer caches to sync at start-up (default `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_sync_timeout: Option<String>,
}

/// Leader election among controller replicas, as duration strings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderElectConfig {
    /// How long a lease is valid without renewal (default `15s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration: Option<String>,
    /// How long the leader keeps trying to renew before it steps down (default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_deadline: Option<String>,
    /// How long candidates wait between attempts (default `5s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_period: Option<String>,
    /// The kind of lock object (default `leases`; KubeFed's `configmaps` and `endpoints` are accepted but
    /// kubefed-rs always uses a Lease).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_lock: Option<String>,
}

/// A feature gate and whether it is on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FeatureGate {
    /// The gate's name, e.g. `PushReconciler`.
    pub name: String,
    /// `Enabled` or `Disabled`.
    pub configuration: Toggle,
}

/// How member clusters' health is probed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterHealthCheckConfig {
    /// How often to probe each cluster (default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Consecutive failures after which a ready cluster becomes not ready (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i64>,
    /// Consecutive successes after which a not-ready cluster becomes ready (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i64>,
    /// How long one probe may take (default `3s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Settings of the sync (propagation) controller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncControllerConfig {
    /// Whether pre-existing member objects are adopted (default `Enabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::schema::optional_enum_field)]
    pub adopt_resources: Option<Toggle>,
    /// Whether the template's `metadata.annotations` reach member objects (default `Enabled`). `Disabled`
    /// keeps KubeFed's behaviour, which dropped them, for a migration window: member objects KubeFed created
    /// then get no new annotations and so no new `metadata.generation` (docs/migration.md). Overrides of
    /// annotations are applied either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::schema::optional_enum_field)]
    pub propagate_template_annotations: Option<Toggle>,
    /// How many federated objects are reconciled at once (unset: the controller's own default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_reconciles: Option<i64>,
}

/// Settings of the status controller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusControllerConfig {
    /// How many federated objects' statuses are collected at once (unset: the controller's own default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_reconciles: Option<i64>,
}

/// Default `controllerDuration.availableDelay`.
pub const DEFAULT_AVAILABLE_DELAY: &str = "20s";
/// Default `controllerDuration.unavailableDelay`.
pub const DEFAULT_UNAVAILABLE_DELAY: &str = "60s";
/// Default `controllerDuration.cacheSyncTimeout`.
pub const DEFAULT_CACHE_SYNC_TIMEOUT: &str = "5m";
/// Default `leaderElect.leaseDuration`.
pub const DEFAULT_LEASE_DURATION: &str = "15s";
/// Default `leaderElect.renewDeadline`.
pub const DEFAULT_RENEW_DEADLINE: &str = "10s";
/// Default `leaderElect.retryPeriod`.
pub const DEFAULT_RETRY_PERIOD: &str = "5s";
/// Default `leaderElect.resourceLock`.
pub const DEFAULT_RESOURCE_LOCK: &str = "leases";
/// Default `clusterHealthCheck.period`.
pub const DEFAULT_HEALTH_CHECK_PERIOD: &str = "10s";
/// Default `clusterHealthCheck.timeout`.
pub const DEFAULT_HEALTH_CHECK_TIMEOUT: &str = "3s";
/// Default `clusterHealthCheck.failureThreshold`.
pub const DEFAULT_FAILURE_THRESHOLD: i64 = 3;
/// Default `clusterHealthCheck.successThreshold`.
pub const DEFAULT_SUCCESS_THRESHOLD: i64 = 1;

fn fill<T>(slot: &mut Option<T>, default: impl FnOnce() -> T) {
    if slot.is_none() {
        *slot = Some(default());
    }
}

impl KubeFedConfigSpec {
    /// This spec with every unset field given its default (design §3): scope `Cluster`; delays `20s` /
    /// `60s`, cache sync timeout `5m`; leader election `15s` / `10s` / `5s` with `leases`; no feature gates
    /// (an empty list); health checks every `10s` with a `3s` timeout, 3 failures / 1 success to flip;
    /// `adoptResources: Enabled`. Fields already set are kept, even if invalid — validation reports them.
    /// `maxConcurrentReconciles` stays unset (each controller has its own default), and so does
    /// `propagateTemplateAnnotations` (unset means `Enabled`), so a complete KubeFed config is left as it is.
    pub fn with_defaults(mut self) -> Self {
        fill(&mut self.scope, || Scope::Cluster);

        let d = self.controller_duration.get_or_insert_with(Default::default);
        fill(&mut d.available_delay, || DEFAULT_AVAILABLE_DELAY.into());
        fill(&mut d.unavailable_delay, || DEFAULT_UNAVAILABLE_DELAY.into());
        fill(&mut d.cache_sync_timeout, || DEFAULT_CACHE_SYNC_TIMEOUT.into());

        let l = self.leader_elect.get_or_insert_with(Default::default);
        fill(&mut l.lease_duration, || DEFAULT_LEASE_DURATION.into());
        fill(&mut l.renew_deadline, || DEFAULT_RENEW_DEADLINE.into());
        fill(&mut l.retry_period, || DEFAULT_RETRY_PERIOD.into());
        fill(&mut l.resource_lock, || DEFAULT_RESOURCE_LOCK.into());

        fill(&mut self.feature_gates, Vec::new);

        let h = self.cluster_health_check.get_or_insert_with(Default::default);
        fill(&mut h.period, || DEFAULT_HEALTH_CHECK_PERIOD.into());
        fill(&mut h.timeout, || DEFAULT_HEALTH_CHECK_TIMEOUT.into());
        fill(&mut h.failure_threshold, || DEFAULT_FAILURE_THRESHOLD);
        fill(&mut h.success_threshold, || DEFAULT_SUCCESS_THRESHOLD);

        let s = self.sync_controller.get_or_insert_with(Default::default);
        fill(&mut s.adopt_resources, || Toggle::Enabled);

        self.status_controller.get_or_insert_with(Default::default);
        self
    }

    /// Whether the feature gate `name` is set to `Enabled` (`None`: not listed).
    pub fn feature_gate(&self, name: &str) -> Option<bool> {
        self.feature_gates
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.configuration.is_enabled())
    }
}

/// A duration string that is not a valid, non-negative Go duration.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not in Go's `time.ParseDuration` format.
    #[error("{value:?} is not a duration; write a number with a unit, e.g. \"10s\", \"1m30s\" or \"500ms\"")]
    Invalid {
        /// The string given.
        value: String,
        /// Why it did not parse.
        #[source]
        source: kube::core::duration::ParseError,
    },
    /// Negative.
    #[error("{value:?} is negative; durations here must be 0 or more")]
    Negative {
        /// The string given.
        value: String,
    },
}

/// Parses a Kubernetes (Go `time.ParseDuration`) duration string such as `"10s"` or `"1m30s"`.
pub fn parse_duration(value: &str) -> Result<std::time::Duration, DurationError> {
    let d: kube::core::Duration = value.parse().map_err(|source| DurationError::Invalid {
        value: value.to_string(),
        source,
    })?;
    if d.is_negative() {
        return Err(DurationError::Negative {
            value: value.to_string(),
        });
    }
    Ok(d.into())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const CONFIG: &str = r#"
apiVersion: core.kubefed.io/v1beta1
kind: KubeFedConfig
metadata:
  name: kubefed
  namespace: kube-federation-system
spec:
  scope: "Cluster"
  controllerDuration:
    availableDelay: "20s"
    unavailableDelay: "60s"
    cacheSyncTimeout: "5m"
  leaderElect:
    leaseDuration: "15s"
    renewDeadline: "10s"
    retryPeriod: "5s"
    resourceLock: "configmaps"
  clusterHealthCheck:
    period: "10s"
    failureThreshold: 3
    successThreshold: 1
    timeout: "3s"
  syncController:
    maxConcurrentReconciles: 1
    adoptResources: "Enabled"
  statusController:
    maxConcurrentReconciles: 1
  featureGates:
  - name: PushReconciler
    configuration: "Enabled"
  - name: RawResourceStatusCollection
    configuration: "Disabled"
"#;

    #[test]
    fn kubefed_chart_config_round_trips() {
        let c: KubeFedConfig = serde_saphyr::from_str(CONFIG).expect("valid KubeFedConfig");
        assert_eq!(c.spec.scope, Some(Scope::Cluster));
        assert_eq!(c.spec.feature_gate("PushReconciler"), Some(true));
        assert_eq!(c.spec.feature_gate("RawResourceStatusCollection"), Some(false));
        assert_eq!(c.spec.feature_gate("Other"), None);
        assert_eq!(
            c.spec
                .sync_controller
                .as_ref()
                .and_then(|s| s.max_concurrent_reconciles),
            Some(1)
        );
        // Already complete: defaulting changes nothing.
        assert_eq!(c.spec.clone().with_defaults(), c.spec);

        let json = serde_json::to_value(&c).expect("serializes");
        assert_eq!(json["spec"]["leaderElect"]["resourceLock"], "configmaps");
        let back: KubeFedConfig = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, c);
    }

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let partial = KubeFedConfigSpec {
            scope: Some(Scope::Namespaced),
            cluster_health_check: Some(ClusterHealthCheckConfig {
                period: Some("30s".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let d = partial.with_defaults();
        assert_eq!(d.scope, Some(Scope::Namespaced));
        let h = d.cluster_health_check.as_ref().expect("defaulted");
        assert_eq!(h.period.as_deref(), Some("30s"));
        assert_eq!(h.timeout.as_deref(), Some("3s"));
        assert_eq!((h.failure_threshold, h.success_threshold), (Some(3), Some(1)));
        let l = d.leader_elect.as_ref().expect("defaulted");
        assert_eq!(
            (
                l.lease_duration.as_deref(),
                l.renew_deadline.as_deref(),
                l.retry_period.as_deref()
            ),
            (Some("15s"), Some("10s"), Some("5s"))
        );
        assert_eq!(l.resource_lock.as_deref(), Some("leases"));
        let cd = d.controller_duration.as_ref().expect("defaulted");
        assert_eq!(
            (cd.available_delay.as_deref(), cd.unavailable_delay.as_deref()),
            (Some("20s"), Some("60s"))
        );
        assert_eq!(
            d.sync_controller.as_ref().and_then(|s| s.adopt_resources),
            Some(Toggle::Enabled)
        );
        assert_eq!(d.feature_gates, Some(vec![]));
        // Idempotent.
        assert_eq!(d.clone().with_defaults(), d);
        // Every defaulted duration parses.
        for s in [
            &h.timeout,
            &l.lease_duration,
            &cd.available_delay,
            &cd.cache_sync_timeout,
        ] {
            assert!(parse_duration(s.as_deref().unwrap_or_default()).is_ok());
        }
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(matches!(parse_duration("10"), Err(DurationError::Invalid { .. })));
        assert!(matches!(
            parse_duration("ten seconds"),
            Err(DurationError::Invalid { .. })
        ));
        assert!(matches!(
            parse_duration("-5s"),
            Err(DurationError::Negative { .. })
        ));
        let msg = parse_duration("10")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("\"10s\""), "{msg}");
    }

    #[test]
    fn empty_spec_decodes() {
        let c: KubeFedConfig = serde_json::from_value(serde_json::json!({
            "apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedConfig",
            "metadata": {"name": "kubefed"}, "spec": {}
        }))
        .expect("valid");
        assert_eq!(c.spec, KubeFedConfigSpec::default());
        assert_eq!(serde_json::to_value(&c.spec).ok(), Some(serde_json::json!({})));
    }
}
