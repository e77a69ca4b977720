//! `FederationPolicy` (`policy.kubefed.io/v1alpha1`, cluster-scoped, short name `fpol`): an organisation's
//! rules for where federated objects may go (design §6).
//!
//! A policy *selects* federated objects (`match`: a namespace selector and kinds) and states *rules* about
//! the clusters they are placed on: allowed and denied clusters (by name or KubeFedCluster labels), a
//! minimum and maximum number of clusters, a required spread over a cluster label (e.g. at least two
//! `topology.kubernetes.io/region` values), a default placement for objects that have none, and how
//! namespace consistency is enforced. `enforcement` says what a violation does: `Deny` refuses the request,
//! `Warn` admits it with a warning, `Audit` admits it silently and records the violation in the policy's
//! `status.violations`.
//!
//! How several policies combine, and the exact semantics of each rule, are decided in [`crate::policy`];
//! this module is only the wire shape. Every field is optional so that a policy states only the rules it
//! cares about.

use std::fmt;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Placement, UnknownValue};

/// API group of FederationPolicy.
pub const POLICY_GROUP: &str = "policy.kubefed.io";
/// API version of [`POLICY_GROUP`].
pub const POLICY_VERSION: &str = "v1alpha1";
/// `apiVersion` of FederationPolicy.
pub const POLICY_API_VERSION: &str = "policy.kubefed.io/v1alpha1";

/// Most violations kept in a policy's `status.violations` (newest first); older ones are dropped and only
/// counted in `status.violationCount`.
pub const MAX_STATUS_VIOLATIONS: usize = 50;

/// Rules about where the federated objects a policy selects may be placed.
// kube's `printcolumn(...)` arguments repeat (`type_ = "string"`), which clippy mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "policy.kubefed.io",
    version = "v1alpha1",
    kind = "FederationPolicy",
    plural = "federationpolicies",
    singular = "federationpolicy",
    status = "FederationPolicyStatus",
    shortname = "fpol",
    category = "kubefed",
    derive = "PartialEq",
    doc = "Rules for where federated objects may be placed: allowed and denied clusters, how many, spread, \
           default placement; enforced by the kubefed admission webhook.",
    printcolumn(name = "Enforcement", type_ = "string", json_path = ".spec.enforcement"),
    printcolumn(name = "Violations", type_ = "integer", json_path = ".status.violationCount"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct FederationPolicySpec {
    /// What a violation does: `Deny` (default) refuses the request, `Warn` admits it with a warning, `Audit`
    /// admits it and records the violation in `status.violations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::schema::optional_enum_field)]
    pub enforcement: Option<Enforcement>,
    /// Which federated objects the policy applies to. Empty: every federated object.
    #[serde(rename = "match", default, skip_serializing_if = "PolicyMatch::is_empty")]
    pub match_: PolicyMatch,
    /// Clusters the objects may be placed on; any other cluster is a violation. Absent: every cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_clusters: Option<ClusterSet>,
    /// Clusters the objects may not be placed on (wins over `allowedClusters`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_clusters: Option<ClusterSet>,
    /// Fewest joined clusters an object must be placed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_clusters: Option<i32>,
    /// Most joined clusters an object may be placed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_clusters: Option<i32>,
    /// Required spread: for each entry, the clusters an object is placed on must carry at least
    /// `minDistinct` different values of the KubeFedCluster label `label`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spread: Vec<SpreadRule>,
    /// Placement the mutating webhook fills in for a selected object that has none (neither
    /// `spec.placement.clusters` nor `spec.placement.clusterSelector`). Policies in `Audit` mode never
    /// change objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_placement: Option<Placement>,
    /// How a selected object whose namespace is not federated to all its clusters is treated: `Deny`,
    /// `Warn` or `Audit`. Absent: the webhook's `--namespace-consistency` default (`Deny`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::schema::optional_enum_field)]
    pub namespace_consistency: Option<Enforcement>,
    /// Target kinds that may not be federated at all, whatever the placement (e.g. every
    /// `rbac.authorization.k8s.io` kind, `admissionregistration.k8s.io` webhook configurations, CRDs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forbidden_kinds: Vec<KindRef>,
}

impl FederationPolicySpec {
    /// The enforcement mode, `Deny` when unset.
    pub fn enforcement(&self) -> Enforcement {
        self.enforcement.unwrap_or_default()
    }
}

/// What a policy violation does.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Enforcement {
    /// Refuse the request, naming the violation and the fix.
    #[default]
    Deny,
    /// Admit the request with a warning (shown by kubectl).
    Warn,
    /// Admit the request silently and record the violation in the policy's status.
    Audit,
}

impl Enforcement {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Deny => "Deny",
            Enforcement::Warn => "Warn",
            Enforcement::Audit => "Audit",
        }
    }

    /// How strict this is: `Deny` > `Warn` > `Audit`.
    pub fn strictness(self) -> u8 {
        match self {
            Enforcement::Deny => 2,
            Enforcement::Warn => 1,
            Enforcement::Audit => 0,
        }
    }
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Enforcement {
    type Err = UnknownValue;

    /// Parses `Deny`, `Warn` or `Audit` (case-insensitive, for command-line flags).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Enforcement::Deny, Enforcement::Warn, Enforcement::Audit]
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownValue {
                what: "enforcement",
                value: s.to_string(),
                expected: "Deny, Warn, Audit".to_string(),
            })
    }
}

/// Which federated objects a policy applies to. Both conditions must hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMatch {
    /// Namespaces (by their labels) whose federated objects are selected. Absent: every namespace and the
    /// cluster-scoped federated objects; present: only namespaced objects. Select namespaces by name with the
    /// `kubernetes.io/metadata.name` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Kinds selected, each a federated kind (`FederatedDeployment`) or its target kind (`Deployment`).
    /// Empty: every kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// Federated objects (by their own `metadata.labels`) selected. Absent: every object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_selector: Option<LabelSelector>,
}

impl PolicyMatch {
    /// Whether nothing restricts the selection.
    pub fn is_empty(&self) -> bool {
        self.namespace_selector.is_none() && self.kinds.is_empty() && self.object_selector.is_none()
    }
}

/// A target kind by API group and kind, e.g. `{group: rbac.authorization.k8s.io, kind: ClusterRoleBinding}`.
/// `kind: "*"` is every kind of the group; the core group is `""`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KindRef {
    /// The API group (`""` for the core group).
    pub group: String,
    /// The kind, e.g. `ClusterRoleBinding`, or `*` for every kind of the group.
    pub kind: String,
}

impl KindRef {
    /// Whether this names the target kind `kind` of `group`.
    pub fn matches(&self, group: &str, kind: &str) -> bool {
        self.group == group && (self.kind == "*" || self.kind == kind)
    }
}

/// A set of member clusters: those named in `names` plus those whose KubeFedCluster labels match `selector`.
/// Empty (no names, no selector): no cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSet {
    /// Clusters by KubeFedCluster name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Clusters by KubeFedCluster labels. `{}` selects every cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// A required spread over the values of a cluster label.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpreadRule {
    /// The KubeFedCluster label, e.g. `topology.kubernetes.io/region`. Clusters without it do not count.
    pub label: String,
    /// Fewest distinct values of the label among the clusters an object is placed on.
    #[schemars(range(min = 1))]
    pub min_distinct: i32,
}

/// What the webhook observed about a policy: the violations recorded in `Audit` mode.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederationPolicyStatus {
    /// The `metadata.generation` of the policy the violations were evaluated against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Violations recorded since the policy was created (also those no longer listed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub violation_count: i64,
    /// When the last violation was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_violation_time: Option<Time>,
    /// The most recent violations, newest first, at most one per object and rule and at most 50 in all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<PolicyViolation>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One recorded violation of a policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyViolation {
    /// The federated object's kind, e.g. `FederatedDeployment`.
    pub kind: String,
    /// The object's namespace (absent for cluster-scoped objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
    /// The rule violated, e.g. `allowedClusters`, `minClusters`, `spread[0]`.
    pub rule: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// The user whose request violated the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// When the violation was (last) seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
}

impl PolicyViolation {
    /// Whether `other` is about the same object and rule (and so replaces this entry).
    pub fn same_subject(&self, other: &PolicyViolation) -> bool {
        self.kind == other.kind
            && self.namespace == other.namespace
            && self.name == other.name
            && self.rule == other.rule
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;

    const POLICY: &str = r#"
apiVersion: policy.kubefed.io/v1alpha1
kind: FederationPolicy
metadata:
  name: shop-eu-ha
spec:
  enforcement: Warn
  match:
    namespaceSelector:
      matchLabels:
        team: shop
    kinds: [FederatedDeployment, Service]
  allowedClusters:
    selector:
      matchLabels:
        region: eu
  deniedClusters:
    names: [eu-legacy]
  minClusters: 2
  maxClusters: 4
  spread:
  - label: topology.kubernetes.io/zone
    minDistinct: 2
  defaultPlacement:
    clusterSelector:
      matchLabels:
        region: eu
  namespaceConsistency: Audit
status:
  observedGeneration: 3
  violationCount: 7
  lastViolationTime: "2025-01-02T03:04:05Z"
  violations:
  - kind: FederatedDeployment
    namespace: shop
    name: web
    rule: minClusters
    message: too few
    user: alice
    time: "2025-01-02T03:04:05Z"
"#;

    #[test]
    fn policy_round_trips() {
        let p: FederationPolicy = serde_saphyr::from_str(POLICY).expect("valid FederationPolicy");
        assert_eq!(p.spec.enforcement(), Enforcement::Warn);
        assert_eq!(p.spec.match_.kinds, vec!["FederatedDeployment", "Service"]);
        assert_eq!(p.spec.min_clusters, Some(2));
        assert_eq!(p.spec.spread[0].min_distinct, 2);
        assert_eq!(p.spec.namespace_consistency, Some(Enforcement::Audit));
        assert_eq!(
            p.spec.denied_clusters.as_ref().map(|d| d.names.clone()),
            Some(vec!["eu-legacy".to_string()])
        );
        let status = p.status.as_ref().expect("status");
        assert_eq!(status.violation_count, 7);
        assert_eq!(status.violations[0].rule, "minClusters");
        let json = serde_json::to_value(&p).expect("serializes");
        assert_eq!(json["spec"]["match"]["kinds"][1], "Service");
        let back: FederationPolicy = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, p);
        assert_eq!(FederationPolicy::api_version(&()), POLICY_API_VERSION);
    }

    #[test]
    fn minimal_policy_defaults_to_deny_and_everything() {
        let p: FederationPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "policy.kubefed.io/v1alpha1", "kind": "FederationPolicy",
            "metadata": {"name": "p"}, "spec": {}
        }))
        .expect("valid");
        assert_eq!(p.spec.enforcement(), Enforcement::Deny);
        assert!(p.spec.match_.is_empty());
        assert_eq!(serde_json::to_value(&p.spec).ok(), Some(serde_json::json!({})));
    }

    #[test]
    fn enforcement_parses_case_insensitively_and_orders_by_strictness() {
        assert_eq!("warn".parse::<Enforcement>(), Ok(Enforcement::Warn));
        assert_eq!("Deny".parse::<Enforcement>(), Ok(Enforcement::Deny));
        assert!("block".parse::<Enforcement>().is_err());
        assert!(Enforcement::Deny.strictness() > Enforcement::Warn.strictness());
        assert!(Enforcement::Warn.strictness() > Enforcement::Audit.strictness());
    }
}
