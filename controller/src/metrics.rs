//! Prometheus metrics served on `GET /metrics` (OpenMetrics text).
//!
//! Label values are bounded: `type` is a FederatedTypeConfig name, `cluster` a KubeFedCluster name,
//! `op` and `result` come from fixed sets. kube-runtime's controller does not expose its queue, so the
//! closest measure of backlog is `reconciles_in_flight` together with `member_triggers_pending`.
//!
//! | metric | labels |
//! | --- | --- |
//! | `kubefed_controller_reconciles_total` | `type`, `result` (`success`, `error`) |
//! | `kubefed_controller_reconcile_duration_seconds` | `type` (histogram) |
//! | `kubefed_controller_propagation_duration_seconds` | `type` (histogram; reconciles that wrote to members) |
//! | `kubefed_controller_reconciles_in_flight` | `type` |
//! | `kubefed_controller_federated_objects` | `type` (objects in the controller's cache) |
//! | `kubefed_controller_member_operations_total` | `cluster`, `op` (`get`, `create`, `update`, `delete`, `orphan`), `result` |
//! | `kubefed_controller_member_triggers_pending` | `type` (member changes waiting for a reconcile) |
//! | `kubefed_controller_cluster_ready` | `cluster` (1 ready, 0 not) |
//! | `kubefed_controller_type_controllers` | — (propagation controllers running) |
//! | `kubefed_controller_leader` | — (1 while this replica holds the Lease) |
//! | `kubefed_controller_events_dropped_total`, `…_events_failed_total` | — |

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type TypeLabel = [(&'static str, String); 1];
type ResultLabels = [(&'static str, String); 2];
type MemberOpLabels = [(&'static str, String); 3];

/// The controller's metrics and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_duration: Family<TypeLabel, Histogram>,
    propagation_duration: Family<TypeLabel, Histogram>,
    in_flight: Family<TypeLabel, Gauge>,
    objects: Family<TypeLabel, Gauge>,
    member_ops: Family<MemberOpLabels, Counter>,
    member_triggers: Family<TypeLabel, Gauge>,
    cluster_ready: Family<[(&'static str, String); 1], Gauge>,
    type_controllers: Gauge,
    leader: Gauge,
    events_dropped: Counter,
    events_failed: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Metrics {
    /// Creates and registers every metric under the `kubefed_controller` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kubefed_controller");
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles of federated objects by type and result",
            reconciles.clone(),
        );
        let reconcile_duration = Family::<TypeLabel, Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile of a federated object took",
            reconcile_duration.clone(),
        );
        let propagation_duration = Family::<TypeLabel, Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "propagation_duration_seconds",
            "Time from the start of a reconcile to the last member write, for reconciles that changed members",
            propagation_duration.clone(),
        );
        let in_flight = Family::<TypeLabel, Gauge>::default();
        registry.register(
            "reconciles_in_flight",
            "Reconciles running now",
            in_flight.clone(),
        );
        let objects = Family::<TypeLabel, Gauge>::default();
        registry.register(
            "federated_objects",
            "Federated objects in the controller's cache",
            objects.clone(),
        );
        let member_ops = Family::<MemberOpLabels, Counter>::default();
        registry.register(
            "member_operations",
            "Requests to member clusters about member objects by cluster, operation (get, create, update, delete, orphan) and result",
            member_ops.clone(),
        );
        let member_triggers = Family::<TypeLabel, Gauge>::default();
        registry.register(
            "member_triggers_pending",
            "Member object changes waiting to trigger a reconcile",
            member_triggers.clone(),
        );
        let cluster_ready = Family::<[(&'static str, String); 1], Gauge>::default();
        registry.register(
            "cluster_ready",
            "Whether a member cluster is ready (1) or not (0)",
            cluster_ready.clone(),
        );
        let type_controllers = Gauge::default();
        registry.register(
            "type_controllers",
            "Propagation controllers running",
            type_controllers.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease",
            leader.clone(),
        );
        let events_dropped = Counter::default();
        registry.register(
            "events_dropped",
            "Events dropped because the queue was full",
            events_dropped.clone(),
        );
        let events_failed = Counter::default();
        registry.register(
            "events_failed",
            "Events the API server did not accept",
            events_failed.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_duration,
            propagation_duration,
            in_flight,
            objects,
            member_ops,
            member_triggers,
            cluster_ready,
            type_controllers,
            leader,
            events_dropped,
            events_failed,
        }
    }

    /// Records a finished reconcile of a `type_` object.
    pub fn reconciled(&self, type_: &str, ok: bool, elapsed: Duration) {
        let result = if ok { "success" } else { "error" };
        self.reconciles
            .get_or_create(&[("type", type_.to_string()), ("result", result.to_string())])
            .inc();
        self.reconcile_duration
            .get_or_create(&[("type", type_.to_string())])
            .observe(elapsed.as_secs_f64());
    }

    /// Records the time a reconcile that wrote to members took.
    pub fn propagated(&self, type_: &str, elapsed: Duration) {
        self.propagation_duration
            .get_or_create(&[("type", type_.to_string())])
            .observe(elapsed.as_secs_f64());
    }

    /// The in-flight gauge of `type_`.
    pub fn in_flight(&self, type_: &str) -> Gauge {
        self.in_flight
            .get_or_create(&[("type", type_.to_string())])
            .clone()
    }

    /// The cached-objects gauge of `type_`.
    pub fn objects(&self, type_: &str) -> Gauge {
        self.objects.get_or_create(&[("type", type_.to_string())]).clone()
    }

    /// The pending-member-triggers gauge of `type_`.
    pub fn member_triggers(&self, type_: &str) -> Gauge {
        self.member_triggers
            .get_or_create(&[("type", type_.to_string())])
            .clone()
    }

    /// Records a request about a member object.
    pub fn member_operation(&self, cluster: &str, op: &'static str, ok: bool) {
        let result = if ok { "success" } else { "error" };
        self.member_ops
            .get_or_create(&[
                ("cluster", cluster.to_string()),
                ("op", op.to_string()),
                ("result", result.to_string()),
            ])
            .inc();
    }

    /// Sets whether `cluster` is ready.
    pub fn cluster_ready(&self, cluster: &str, ready: bool) {
        self.cluster_ready
            .get_or_create(&[("cluster", cluster.to_string())])
            .set(i64::from(ready));
    }

    /// Forgets a cluster that was removed.
    pub fn cluster_removed(&self, cluster: &str) {
        self.cluster_ready.remove(&[("cluster", cluster.to_string())]);
    }

    /// The running-type-controllers gauge.
    pub fn type_controllers(&self) -> &Gauge {
        &self.type_controllers
    }

    /// Sets whether this replica leads.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Counts a dropped Event.
    pub fn event_dropped(&self) {
        self.events_dropped.inc();
    }

    /// Counts an Event the API server rejected.
    pub fn event_failed(&self) {
        self.events_failed.inc();
    }

    /// Encodes every metric as OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8192);
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_family() {
        let m = Metrics::new();
        m.reconciled("deployments.apps", true, Duration::from_millis(3));
        m.propagated("deployments.apps", Duration::from_millis(3));
        m.member_operation("member-1", "apply", true);
        m.cluster_ready("member-1", true);
        m.in_flight("configmaps").inc();
        m.set_leader(true);
        let text = m.encode();
        for want in [
            r#"kubefed_controller_reconciles_total{type="deployments.apps",result="success"} 1"#,
            r#"kubefed_controller_propagation_duration_seconds_count{type="deployments.apps"} 1"#,
            r#"kubefed_controller_member_operations_total{cluster="member-1",op="apply",result="success"} 1"#,
            r#"kubefed_controller_cluster_ready{cluster="member-1"} 1"#,
            r#"kubefed_controller_reconciles_in_flight{type="configmaps"} 1"#,
            "kubefed_controller_leader 1",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        m.cluster_removed("member-1");
        assert!(
            !m.encode()
                .contains("cluster=\"member-1\"} 1\n# HELP kubefed_controller_type")
        );
    }
}
