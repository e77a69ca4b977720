//! The `KubeFedConfig` named `kubefed` in the system namespace, defaulted and kept current.
//!
//! KubeFed read its settings from this object once at start-up; we watch it, so changing the health-check
//! period or `adoptResources` takes effect without a restart. Readers get a [`ControlPlaneConfig`] from a
//! `watch` channel and never wait on the API server: until the object is read (or when it does not exist)
//! the defaults of design §3 apply. A field that does not parse (e.g. `period: "ten"`) falls back to its
//! default with a warning; the admission webhook is what rejects such objects up front.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kubefed_core::api::config::{
    DEFAULT_FAILURE_THRESHOLD, DEFAULT_HEALTH_CHECK_PERIOD, DEFAULT_HEALTH_CHECK_TIMEOUT,
    DEFAULT_SUCCESS_THRESHOLD,
};
use kubefed_core::api::constants::KUBEFED_CONFIG_NAME;
use kubefed_core::api::{KubeFedConfig, KubeFedConfigSpec, parse_duration};
use tokio::sync::watch;

/// The settings the controller reads from the KubeFedConfig, parsed and defaulted.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlPlaneConfig {
    /// How often each member's `/healthz` is probed.
    pub health_period: Duration,
    /// How long one probe may take.
    pub health_timeout: Duration,
    /// Consecutive failures that make a ready cluster not ready.
    pub failure_threshold: u32,
    /// Consecutive successes that make a not-ready cluster ready.
    pub success_threshold: u32,
    /// Whether member objects that exist but are not ours are adopted (else reported `AlreadyExists`).
    pub adopt_resources: bool,
    /// Whether the template's annotations reach member objects (`false`: KubeFed's semantics).
    pub propagate_template_annotations: bool,
}

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        ControlPlaneConfig::from_spec(&KubeFedConfigSpec::default())
    }
}

impl ControlPlaneConfig {
    /// The settings of `spec`, with design §3's defaults for what is unset or unparseable.
    pub fn from_spec(spec: &KubeFedConfigSpec) -> Self {
        let spec = spec.clone().with_defaults();
        let health = spec.cluster_health_check.unwrap_or_default();
        let duration = |field: &str, value: Option<String>, default: &str| {
            let value = value.unwrap_or_else(|| default.to_string());
            match parse_duration(&value) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => {
                    tracing::warn!(field, "KubeFedConfig {field} is 0; using {default}");
                    parse_duration(default).unwrap_or(Duration::from_secs(10))
                }
                Err(e) => {
                    tracing::warn!(field, error = %e, "KubeFedConfig {field} is invalid; using {default}");
                    parse_duration(default).unwrap_or(Duration::from_secs(10))
                }
            }
        };
        let threshold = |value: Option<i64>, default: i64| {
            let v = value.unwrap_or(default);
            u32::try_from(v)
                .ok()
                .filter(|v| *v > 0)
                .unwrap_or(default.max(1) as u32)
        };
        ControlPlaneConfig {
            health_period: duration(
                "clusterHealthCheck.period",
                health.period,
                DEFAULT_HEALTH_CHECK_PERIOD,
            ),
            health_timeout: duration(
                "clusterHealthCheck.timeout",
                health.timeout,
                DEFAULT_HEALTH_CHECK_TIMEOUT,
            ),
            failure_threshold: threshold(health.failure_threshold, DEFAULT_FAILURE_THRESHOLD),
            success_threshold: threshold(health.success_threshold, DEFAULT_SUCCESS_THRESHOLD),
            adopt_resources: spec
                .sync_controller
                .as_ref()
                .and_then(|s| s.adopt_resources)
                .is_none_or(|t| t.is_enabled()),
            propagate_template_annotations: spec
                .sync_controller
                .as_ref()
                .and_then(|s| s.propagate_template_annotations)
                .is_none_or(|t| t.is_enabled()),
        }
    }
}

/// Receives the current [`ControlPlaneConfig`].
pub type ConfigReceiver = watch::Receiver<Arc<ControlPlaneConfig>>;

/// Starts watching the KubeFedConfig in `namespace`; returns the receiver and the future that keeps it
/// current (run it as a task).
pub fn watch_config(
    client: kube::Client,
    namespace: &str,
) -> (ConfigReceiver, impl Future<Output = ()> + Send + 'static) {
    let (tx, rx) = watch::channel(Arc::new(ControlPlaneConfig::default()));
    let api: Api<KubeFedConfig> = Api::namespaced(client, namespace);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={KUBEFED_CONFIG_NAME}"));
    let fut = async move {
        let mut stream = watcher(api, cfg).default_backoff().boxed();
        while let Some(event) = stream.next().await {
            let spec = match event {
                Ok(watcher::Event::Apply(c) | watcher::Event::InitApply(c)) => Some(c.spec),
                Ok(watcher::Event::Delete(_)) => Some(KubeFedConfigSpec::default()),
                Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                Err(e) => {
                    tracing::debug!(error = %e, "watching the KubeFedConfig");
                    None
                }
            };
            if let Some(spec) = spec {
                let next = ControlPlaneConfig::from_spec(&spec);
                tx.send_if_modified(|cur| {
                    if **cur == next {
                        false
                    } else {
                        tracing::info!(?next, "KubeFedConfig settings changed");
                        *cur = Arc::new(next);
                        true
                    }
                });
            }
        }
    };
    (rx, fut)
}

#[cfg(test)]
mod tests {
    use kubefed_core::api::Toggle;
    use kubefed_core::api::config::{ClusterHealthCheckConfig, SyncControllerConfig};

    use super::*;

    #[test]
    fn defaults_are_design_section_3() {
        let c = ControlPlaneConfig::default();
        assert_eq!(c.health_period, Duration::from_secs(10));
        assert_eq!(c.health_timeout, Duration::from_secs(3));
        assert_eq!((c.failure_threshold, c.success_threshold), (3, 1));
        assert!(c.adopt_resources);
        assert!(c.propagate_template_annotations);
    }

    #[test]
    fn set_values_win_and_bad_ones_fall_back() {
        let spec = KubeFedConfigSpec {
            cluster_health_check: Some(ClusterHealthCheckConfig {
                period: Some("2s".into()),
                timeout: Some("ten".into()),
                failure_threshold: Some(-1),
                success_threshold: Some(2),
            }),
            sync_controller: Some(SyncControllerConfig {
                adopt_resources: Some(Toggle::Disabled),
                propagate_template_annotations: Some(Toggle::Disabled),
                max_concurrent_reconciles: None,
            }),
            ..Default::default()
        };
        let c = ControlPlaneConfig::from_spec(&spec);
        assert_eq!(c.health_period, Duration::from_secs(2));
        assert_eq!(c.health_timeout, Duration::from_secs(3));
        assert_eq!((c.failure_threshold, c.success_threshold), (3, 2));
        assert!(!c.adopt_resources);
        assert!(!c.propagate_template_annotations);
    }
}
