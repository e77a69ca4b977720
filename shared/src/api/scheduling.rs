//! `ReplicaSchedulingPreference` (`scheduling.kubefed.io/v1alpha1`, short name `rsp`): how the replicas
//! of the FederatedDeployment or FederatedReplicaSet with the same namespace and name are spread over
//! member clusters (design §3). The numbers themselves are decided by [`crate::scheduling::plan`];
//! [`ReplicaSchedulingPreferenceSpec::preferences`] hands it this spec.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::scheduling::Preferences;

/// Desired spread of a federated workload's replicas.
// kube's `printcolumn(...)` arguments repeat (`type_ = "string"`), which clippy mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "scheduling.kubefed.io",
    version = "v1alpha1",
    kind = "ReplicaSchedulingPreference",
    plural = "replicaschedulingpreferences",
    singular = "replicaschedulingpreference",
    namespaced,
    status = "ReplicaSchedulingPreferenceStatus",
    shortname = "rsp",
    category = "kubefed",
    derive = "PartialEq",
    doc = "How the replicas of the same-named FederatedDeployment or FederatedReplicaSet are spread over clusters.",
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.targetKind"),
    printcolumn(name = "Total", type_ = "integer", json_path = ".spec.totalReplicas"),
    printcolumn(
        name = "Rebalance",
        type_ = "boolean",
        json_path = ".spec.rebalance",
        priority = 1
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSchedulingPreferenceSpec {
    /// Kind of the federated workload with this RSP's namespace and name.
    pub target_kind: RspTargetKind,
    /// Replicas to run over all clusters; replaces the template's `spec.replicas`.
    pub total_replicas: i32,
    /// Whether running replicas may be moved to match the preferences (otherwise they stay put).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rebalance: bool,
    /// Whether only clusters selected by the workload's placement are candidates (otherwise every ready
    /// cluster with preferences is, and the placement is rewritten).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub intersect_with_cluster_selector: bool,
    /// Preferences per cluster name; the key `*` applies to clusters not listed. Empty: spread evenly.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub clusters: BTreeMap<String, ClusterPreferences>,
}

/// The federated workload kinds an RSP can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RspTargetKind {
    /// `types.kubefed.io/v1beta1` FederatedDeployment.
    FederatedDeployment,
    /// `types.kubefed.io/v1beta1` FederatedReplicaSet.
    FederatedReplicaSet,
}

impl RspTargetKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RspTargetKind::FederatedDeployment => "FederatedDeployment",
            RspTargetKind::FederatedReplicaSet => "FederatedReplicaSet",
        }
    }
}

/// Replica preferences for one cluster (or `*`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPreferences {
    /// Replicas this cluster gets before weighted sharing (default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_replicas: i64,
    /// Replicas this cluster never exceeds (unset: unbounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<i64>,
    /// Relative share of the replicas left after minimums (default 0: minimum only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Observed state of a ReplicaSchedulingPreference, written by the replica scheduling controller.
/// (KubeFed's was empty; these fields are ours.)
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSchedulingPreferenceStatus {
    /// The `metadata.generation` last scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Standard conditions, e.g. `Scheduled` with the reason a plan could not be made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Replicas per cluster in the last plan applied to the target.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub replicas: BTreeMap<String, i64>,
}

impl ReplicaSchedulingPreferenceSpec {
    /// The planner's view of this spec.
    pub fn preferences(&self) -> Preferences {
        Preferences {
            total_replicas: i64::from(self.total_replicas),
            rebalance: self.rebalance,
            clusters: self
                .clusters
                .iter()
                .map(|(name, p)| {
                    (
                        name.clone(),
                        crate::scheduling::ClusterPreferences {
                            min_replicas: p.min_replicas,
                            max_replicas: p.max_replicas,
                            weight: p.weight,
                        },
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSP: &str = r#"
apiVersion: scheduling.kubefed.io/v1alpha1
kind: ReplicaSchedulingPreference
metadata:
  name: test-deployment
  namespace: test-ns
spec:
  targetKind: FederatedDeployment
  totalReplicas: 9
  rebalance: true
  intersectWithClusterSelector: true
  clusters:
    "*":
      weight: 1
    cluster1:
      minReplicas: 2
      maxReplicas: 6
      weight: 2
"#;

    #[test]
    fn kubefed_rsp_round_trips() {
        let rsp: ReplicaSchedulingPreference = serde_saphyr::from_str(RSP).expect("valid RSP");
        assert_eq!(rsp.spec.target_kind, RspTargetKind::FederatedDeployment);
        assert_eq!(rsp.spec.total_replicas, 9);
        assert!(rsp.spec.rebalance && rsp.spec.intersect_with_cluster_selector);
        assert_eq!(
            rsp.spec.clusters.get("*"),
            Some(&ClusterPreferences {
                min_replicas: 0,
                max_replicas: None,
                weight: 1
            })
        );
        let p = rsp.spec.preferences();
        assert_eq!(p.total_replicas, 9);
        assert!(p.rebalance);
        assert_eq!(
            p.clusters
                .get("cluster1")
                .map(|c| (c.min_replicas, c.max_replicas, c.weight)),
            Some((2, Some(6), 2))
        );

        let json = serde_json::to_value(&rsp).expect("serializes");
        let back: ReplicaSchedulingPreference = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, rsp);
    }

    #[test]
    fn minimal_rsp_omits_false_and_empty_fields() {
        let rsp: ReplicaSchedulingPreference = serde_json::from_value(serde_json::json!({
            "apiVersion": "scheduling.kubefed.io/v1alpha1", "kind": "ReplicaSchedulingPreference",
            "metadata": {"name": "rs", "namespace": "ns"},
            "spec": {"targetKind": "FederatedReplicaSet", "totalReplicas": 3}
        }))
        .expect("valid");
        assert_eq!(rsp.spec.target_kind.as_str(), "FederatedReplicaSet");
        assert_eq!(
            serde_json::to_value(&rsp.spec).ok(),
            Some(serde_json::json!({"targetKind": "FederatedReplicaSet", "totalReplicas": 3}))
        );
        assert!(rsp.spec.preferences().clusters.is_empty());
    }

    #[test]
    fn unknown_target_kind_is_rejected() {
        let r: Result<ReplicaSchedulingPreferenceSpec, _> =
            serde_json::from_value(serde_json::json!({"targetKind": "FederatedJob", "totalReplicas": 1}));
        assert!(r.is_err());
    }
}
