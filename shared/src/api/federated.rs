//! The typed view of every `Federated<Kind>` (`types.kubefed.io/v1beta1`): the target object as a
//! free-form `template`, where it goes (`placement`), how it differs per cluster (`overrides`), and what
//! happened in each cluster (`status`) (design §3).
//!
//! There is one CRD per federated type but a single Rust type: [`FederatedObject`] is a
//! [`kube::core::Object`], so `Api<FederatedObject>` works for any federated kind given the
//! [`ApiResource`] from [`federated_api_resource`].
//!
//! `Option` is used exactly where absence means something different from an empty value, which matters
//! most for [`Placement`]: `clusters: []` places the object nowhere, while a missing `clusters` defers to
//! `clusterSelector`, where `{}` means every cluster and a missing selector means none.
//!
//! Per-cluster status values and condition reasons are free strings on the wire (so a status written by
//! KubeFed or a newer controller still decodes); [`PropagationStatus`] and [`AggregateReason`] are the
//! values we know, with conversions both ways.

use std::fmt;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::core::{ApiResource, Object};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{ConditionStatus, UnknownValue};
use crate::typeinfo::{FEDERATED_GROUP, FEDERATED_VERSION, TargetType};

/// Any `Federated<Kind>` object. Use with the [`ApiResource`] of [`federated_api_resource`].
pub type FederatedObject = Object<FederatedSpec, FederatedStatus>;

/// The [`ApiResource`] of `target`'s federated type (`types.kubefed.io/v1beta1`, `Federated<Kind>`,
/// `federated<plural>`), for `Api::<FederatedObject>::namespaced_with` and friends.
pub fn federated_api_resource(target: &TargetType) -> ApiResource {
    ApiResource {
        group: FEDERATED_GROUP.to_string(),
        version: FEDERATED_VERSION.to_string(),
        api_version: format!("{FEDERATED_GROUP}/{FEDERATED_VERSION}"),
        kind: target.federated_kind(),
        plural: target.federated_plural(),
    }
}

/// The spec of every `Federated<Kind>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederatedSpec {
    /// The target object's body (typically `metadata` without name/namespace, and `spec`/`data`/…);
    /// free-form, kept as is by the API server.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(schema_with = "super::schema::preserve_unknown_object")]
    pub template: Value,
    /// The member clusters the object is propagated to. Absent and `{}` both mean no cluster.
    #[serde(default, skip_serializing_if = "Placement::is_unset")]
    pub placement: Placement,
    /// Per-cluster changes applied to the template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<ClusterOverrides>,
    /// Keep each member's own `spec.replicas` on update (only types with an int32 `spec.replicas`, e.g.
    /// when an HPA scales the members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_replicas: Option<bool>,
}

/// Which member clusters a federated object goes to.
///
/// `clusters` present → exactly those (an empty list → none); otherwise `clusterSelector` over
/// KubeFedCluster labels: `{}` → every cluster, absent → none. The result is intersected with the joined
/// clusters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Exactly these clusters, when present (wins over `clusterSelector`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Vec<ClusterReference>>,
    /// Clusters whose KubeFedCluster labels match, when `clusters` is absent. `{}` selects every cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
}

impl Placement {
    /// Every joined cluster: `clusterSelector: {}`.
    pub fn all() -> Self {
        Placement {
            clusters: None,
            cluster_selector: Some(LabelSelector::default()),
        }
    }

    /// Exactly the named clusters: `clusters: [{name}, …]` (no names: no cluster).
    pub fn clusters<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Placement {
            clusters: Some(
                names
                    .into_iter()
                    .map(|n| ClusterReference { name: n.into() })
                    .collect(),
            ),
            cluster_selector: None,
        }
    }

    /// Whether neither field is set (so the placement need not be written).
    fn is_unset(&self) -> bool {
        self.clusters.is_none() && self.cluster_selector.is_none()
    }

    /// The cluster names of `clusters`, when it is present (and so decides the placement alone).
    pub fn cluster_names(&self) -> Option<Vec<&str>> {
        self.clusters
            .as_ref()
            .map(|cs| cs.iter().map(|c| c.name.as_str()).collect())
    }

    /// Whether this selects every joined cluster: no `clusters`, and a selector with no labels and no
    /// expressions.
    pub fn is_all(&self) -> bool {
        self.clusters.is_none()
            && self.cluster_selector.as_ref().is_some_and(|s| {
                s.match_labels.as_ref().is_none_or(|l| l.is_empty())
                    && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
            })
    }

    /// Whether this selects no cluster whatever clusters exist: `clusters: []`, or neither field.
    pub fn is_nothing(&self) -> bool {
        match &self.clusters {
            Some(cs) => cs.is_empty(),
            None => self.cluster_selector.is_none(),
        }
    }
}

/// A member cluster by name (the name of its KubeFedCluster).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterReference {
    /// The KubeFedCluster's name.
    pub name: String,
}

/// The overrides of the clusters an entry of `spec.overrides` names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterOverrides {
    /// The cluster these overrides apply to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Clusters (by KubeFedCluster labels) these overrides apply to, instead of `clusterName` (a
    /// kubefed-rs extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
    /// The changes, applied in order to the member object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_overrides: Vec<Override>,
}

/// One change to a member object: a JSON-Patch-like operation at a JSON Pointer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Override {
    /// `add`, `remove` or `replace`; absent or empty means `replace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^(add|remove|replace)?$"))]
    pub op: Option<String>,
    /// JSON Pointer into the member object, e.g. `/spec/replicas`.
    pub path: String,
    /// The value to add or replace with (any JSON value; `null` is kept as a value).
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "super::schema::preserve_unknown_any")]
    pub value: Option<Value>,
}

/// Deserializes a present field as `Some`, even when it is `null`.
fn present_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The operation of an [`Override`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OverrideOperation {
    /// Add the value (creating the member of an object or inserting into an array).
    Add,
    /// Remove the value at the path.
    Remove,
    /// Replace the value at the path.
    Replace,
}

impl OverrideOperation {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideOperation::Add => "add",
            OverrideOperation::Remove => "remove",
            OverrideOperation::Replace => "replace",
        }
    }
}

impl FromStr for OverrideOperation {
    type Err = UnknownValue;

    /// Parses `add`, `remove`, `replace`, or the empty string (`replace`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "add" => Ok(OverrideOperation::Add),
            "remove" => Ok(OverrideOperation::Remove),
            "" | "replace" => Ok(OverrideOperation::Replace),
            _ => Err(UnknownValue {
                what: "override op",
                value: s.to_string(),
                expected: "add, remove, replace (or empty for replace)".to_string(),
            }),
        }
    }
}

impl Override {
    /// The operation, with an absent or empty `op` meaning `replace`.
    pub fn operation(&self) -> Result<OverrideOperation, UnknownValue> {
        self.op.as_deref().unwrap_or_default().parse()
    }
}

/// The status of every `Federated<Kind>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederatedStatus {
    /// The `metadata.generation` the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions; one of type `Propagation`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<FederatedCondition>,
    /// One entry per cluster the object is (or was being) propagated to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub clusters: Vec<FederatedClusterStatus>,
    /// Sums over the member objects' status, for workloads (a kubefed-rs extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregated: Option<AggregatedStatus>,
}

/// Type of the condition a federated object's propagation is reported in.
pub const PROPAGATION_CONDITION: &str = "Propagation";

impl FederatedStatus {
    /// The `Propagation` condition, if present.
    pub fn propagation_condition(&self) -> Option<&FederatedCondition> {
        self.conditions.iter().find(|c| c.type_ == PROPAGATION_CONDITION)
    }

    /// The status entry of `cluster`, if present.
    pub fn cluster(&self, cluster: &str) -> Option<&FederatedClusterStatus> {
        self.clusters.iter().find(|c| c.name == cluster)
    }
}

/// A condition of a federated object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederatedCondition {
    /// The condition type, e.g. `Propagation`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// Why, e.g. `CheckClusters` or `NamespaceNotFederated` for `Propagation`; absent when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the controller last acted on the object (propagated a change or hit an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// When the condition last changed status or reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// What happened in one member cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederatedClusterStatus {
    /// The cluster's name.
    pub name: String,
    /// What went wrong there, e.g. `CreationFailed` or `ClusterNotReady` (see `PropagationStatus`); empty
    /// means the member object is as desired.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// The member object's own `status`, when status collection is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::preserve_unknown_object")]
    pub remote_status: Option<Value>,
}

impl FederatedClusterStatus {
    /// The parsed [`status`](Self::status); `Err` for a value this version does not know.
    pub fn propagation_status(&self) -> Result<PropagationStatus, UnknownValue> {
        self.status.parse()
    }
}

/// Sums of the member objects' status fields, for workloads. Each is absent when no member reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AggregatedStatus {
    /// Σ `status.replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Σ `status.readyReplicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Σ `status.availableReplicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// Σ `status.updatedReplicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    /// Σ `status.succeeded` (Jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<i32>,
}

/// Defines a string enum with `as_str`, `FromStr`, `Display` and the list of all values.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire, )+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| UnknownValue {
                    what: $what,
                    value: s.to_string(),
                    expected: $name::ALL.iter().map(|v| format!("{:?}", v.as_str())).collect::<Vec<_>>().join(", "),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// The per-cluster `status.clusters[].status` values (KubeFed's `PropagationStatus`, design §3).
    pub enum PropagationStatus ("propagation status") {
        /// The member object is as desired (the empty string on the wire).
        Ok = "",
        /// The member object is being deleted.
        WaitingForRemoval = "WaitingForRemoval",
        /// The cluster is not ready; nothing was done there.
        ClusterNotReady = "ClusterNotReady",
        /// The member object could not be read from the informer cache.
        CachedRetrievalFailed = "CachedRetrievalFailed",
        /// The member object could not be computed from the template.
        ComputeResourceFailed = "ComputeResourceFailed",
        /// The overrides could not be applied.
        ApplyOverridesFailed = "ApplyOverridesFailed",
        /// Creating the member object failed.
        CreationFailed = "CreationFailed",
        /// Updating the member object failed.
        UpdateFailed = "UpdateFailed",
        /// Deleting the member object failed.
        DeletionFailed = "DeletionFailed",
        /// Removing the managed label (orphaning) failed.
        LabelRemovalFailed = "LabelRemovalFailed",
        /// Reading the member object failed.
        RetrievalFailed = "RetrievalFailed",
        /// A member object exists that we do not manage and adoption is disabled.
        AlreadyExists = "AlreadyExists",
        /// Fields to keep from the member object could not be retained.
        FieldRetentionFailed = "FieldRetentionFailed",
        /// The propagated version could not be read.
        VersionRetrievalFailed = "VersionRetrievalFailed",
        /// No client for the cluster could be built.
        ClientRetrievalFailed = "ClientRetrievalFailed",
        /// The member object is labelled `kubefed.io/managed: "false"` and is left alone.
        ManagedLabelFalse = "ManagedLabelFalse",
        /// Creating the member object timed out.
        CreationTimedOut = "CreationTimedOut",
        /// Updating the member object timed out.
        UpdateTimedOut = "UpdateTimedOut",
        /// Deleting the member object timed out.
        DeletionTimedOut = "DeletionTimedOut",
        /// Removing the managed label timed out.
        LabelRemovalTimedOut = "LabelRemovalTimedOut",
    }
}

impl PropagationStatus {
    /// Whether the member object is as desired.
    pub fn is_ok(self) -> bool {
        self == PropagationStatus::Ok
    }

    /// Whether an operation on the member cluster timed out.
    pub fn is_timeout(self) -> bool {
        matches!(
            self,
            PropagationStatus::CreationTimedOut
                | PropagationStatus::UpdateTimedOut
                | PropagationStatus::DeletionTimedOut
                | PropagationStatus::LabelRemovalTimedOut
        )
    }
}

wire_enum! {
    /// The `reason` of a federated object's `Propagation` condition (KubeFed's `AggregateReason`).
    pub enum AggregateReason ("propagation reason") {
        /// Every cluster is as desired (no reason on the wire; the condition is `True`).
        Success = "",
        /// The KubeFedClusters could not be listed.
        ClusterRetrievalFailed = "ClusterRetrievalFailed",
        /// The placement could not be computed.
        ComputePlacementFailed = "ComputePlacementFailed",
        /// At least one cluster is not as desired; see `status.clusters`.
        CheckClusters = "CheckClusters",
        /// The object's namespace has no FederatedNamespace, so it goes nowhere.
        NamespaceNotFederated = "NamespaceNotFederated",
    }
}

impl AggregateReason {
    /// The status of the `Propagation` condition with this reason: `True` only for success.
    pub fn condition_status(self) -> ConditionStatus {
        ConditionStatus::from(self == AggregateReason::Success)
    }

    /// The reason as the optional wire field (`None` for success).
    pub fn as_reason(self) -> Option<String> {
        (self != AggregateReason::Success).then(|| self.as_str().to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use serde_json::json;

    use super::*;
    use crate::typeinfo::find_default_type;

    const FEDERATED_DEPLOYMENT: &str = r#"
apiVersion: types.kubefed.io/v1beta1
kind: FederatedDeployment
metadata:
  name: test-deployment
  namespace: test-namespace
spec:
  template:
    metadata:
      labels:
        app: nginx
    spec:
      replicas: 3
      selector:
        matchLabels:
          app: nginx
      template:
        metadata:
          labels:
            app: nginx
        spec:
          containers:
          - image: nginx
            name: nginx
  placement:
    clusters:
    - name: cluster2
    - name: cluster1
  overrides:
  - clusterName: cluster2
    clusterOverrides:
    - path: "/spec/replicas"
      value: 5
    - path: "/spec/template/spec/containers/0/image"
      value: "nginx:1.17.0-alpine"
    - path: "/metadata/annotations"
      op: "add"
      value:
        foo: bar
    - path: "/metadata/annotations/foo"
      op: "remove"
  - clusterSelector:
      matchLabels:
        region: eu
    clusterOverrides:
    - path: "/spec/replicas"
      value: 1
  retainReplicas: true
status:
  observedGeneration: 2
  conditions:
  - type: Propagation
    status: "False"
    reason: CheckClusters
    lastUpdateTime: "2021-01-04T10:00:00Z"
    lastTransitionTime: "2021-01-04T09:59:00Z"
  clusters:
  - name: cluster1
  - name: cluster2
    status: UpdateFailed
    remoteStatus:
      replicas: 5
      readyReplicas: 4
  aggregated:
    replicas: 8
    readyReplicas: 7
"#;

    #[test]
    fn kubefed_federated_deployment_round_trips() {
        let obj: FederatedObject =
            serde_saphyr::from_str(FEDERATED_DEPLOYMENT).expect("valid FederatedDeployment");
        let spec = &obj.spec;
        assert_eq!(spec.template["spec"]["replicas"], 3);
        assert_eq!(spec.placement.cluster_names(), Some(vec!["cluster2", "cluster1"]));
        assert_eq!(spec.retain_replicas, Some(true));
        assert_eq!(spec.overrides.len(), 2);
        let ops = &spec.overrides[0].cluster_overrides;
        assert_eq!(ops[0].operation(), Ok(OverrideOperation::Replace));
        assert_eq!(ops[0].value, Some(json!(5)));
        assert_eq!(ops[2].operation(), Ok(OverrideOperation::Add));
        assert_eq!(ops[2].value, Some(json!({"foo": "bar"})));
        assert_eq!(ops[3].operation(), Ok(OverrideOperation::Remove));
        assert_eq!(ops[3].value, None);
        assert_eq!(
            spec.overrides[1]
                .cluster_selector
                .as_ref()
                .and_then(|s| s.match_labels.clone()),
            Some(BTreeMap::from([("region".to_string(), "eu".to_string())]))
        );

        let status = obj.status.as_ref().expect("status");
        let cond = status.propagation_condition().expect("Propagation condition");
        assert_eq!(cond.status, ConditionStatus::False);
        assert_eq!(
            cond.reason.as_deref().map(str::parse),
            Some(Ok(AggregateReason::CheckClusters))
        );
        assert_eq!(
            status.cluster("cluster1").map(|c| c.propagation_status()),
            Some(Ok(PropagationStatus::Ok))
        );
        assert_eq!(
            status.cluster("cluster2").map(|c| c.propagation_status()),
            Some(Ok(PropagationStatus::UpdateFailed))
        );
        assert_eq!(status.aggregated.as_ref().and_then(|a| a.ready_replicas), Some(7));

        let json = serde_json::to_value(&obj).expect("serializes");
        assert_eq!(json["apiVersion"], "types.kubefed.io/v1beta1");
        assert_eq!(json["kind"], "FederatedDeployment");
        // The OK cluster keeps an empty status, as KubeFed writes it (omitted).
        assert_eq!(json["status"]["clusters"][0], json!({"name": "cluster1"}));
        let back: FederatedObject = serde_json::from_value(json).expect("round trip");
        assert_eq!(back.spec, obj.spec);
        assert_eq!(back.status, obj.status);
    }

    #[test]
    fn placement_semantics() {
        struct Case {
            name: &'static str,
            placement: Value,
            all: bool,
            none: bool,
            names: Option<Vec<&'static str>>,
        }
        let cases = [
            Case {
                name: "absent",
                placement: json!({}),
                all: false,
                none: true,
                names: None,
            },
            Case {
                name: "empty selector",
                placement: json!({"clusterSelector": {}}),
                all: true,
                none: false,
                names: None,
            },
            Case {
                name: "empty matchLabels",
                placement: json!({"clusterSelector": {"matchLabels": {}}}),
                all: true,
                none: false,
                names: None,
            },
            Case {
                name: "label selector",
                placement: json!({"clusterSelector": {"matchLabels": {"env": "prod"}}}),
                all: false,
                none: false,
                names: None,
            },
            Case {
                name: "empty clusters",
                placement: json!({"clusters": []}),
                all: false,
                none: true,
                names: Some(vec![]),
            },
            Case {
                name: "clusters win over selector",
                placement: json!({"clusters": [{"name": "a"}], "clusterSelector": {}}),
                all: false,
                none: false,
                names: Some(vec!["a"]),
            },
            Case {
                name: "null clusters is absent",
                placement: json!({"clusters": null, "clusterSelector": {}}),
                all: true,
                none: false,
                names: None,
            },
        ];
        for c in cases {
            let p: Placement = serde_json::from_value(c.placement.clone()).expect(c.name);
            assert_eq!(p.is_all(), c.all, "{}: is_all", c.name);
            assert_eq!(p.is_nothing(), c.none, "{}: is_nothing", c.name);
            assert_eq!(p.cluster_names(), c.names, "{}: names", c.name);
        }
        // Empty lists and selectors survive a round trip: they mean something.
        assert_eq!(
            serde_json::to_value(Placement::clusters(Vec::<String>::new())).ok(),
            Some(json!({"clusters": []}))
        );
        assert_eq!(
            serde_json::to_value(Placement::all()).ok(),
            Some(json!({"clusterSelector": {}}))
        );
        assert_eq!(serde_json::to_value(Placement::default()).ok(), Some(json!({})));
        let with_expr = Placement {
            clusters: None,
            cluster_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "env".into(),
                    operator: "Exists".into(),
                    values: None,
                }]),
                match_labels: None,
            }),
        };
        assert!(!with_expr.is_all() && !with_expr.is_nothing());
    }

    #[test]
    fn override_value_null_is_kept_and_bad_ops_are_reported() {
        let o: Override =
            serde_json::from_value(json!({"op": "add", "path": "/spec/x", "value": null})).expect("valid");
        assert_eq!(o.value, Some(Value::Null));
        assert_eq!(
            serde_json::to_value(&o).ok(),
            Some(json!({"op": "add", "path": "/spec/x", "value": null}))
        );
        let o: Override = serde_json::from_value(json!({"op": "", "path": "/a"})).expect("valid");
        assert_eq!(o.operation(), Ok(OverrideOperation::Replace));
        let o: Override = serde_json::from_value(json!({"op": "move", "path": "/a"})).expect("decodes");
        let err = o.operation().expect_err("move is not an override op");
        assert!(err.to_string().contains("\"move\""), "{err}");
    }

    #[test]
    fn status_values_convert_both_ways() {
        for s in PropagationStatus::ALL {
            assert_eq!(s.as_str().parse::<PropagationStatus>(), Ok(*s));
        }
        for r in AggregateReason::ALL {
            assert_eq!(r.as_str().parse::<AggregateReason>(), Ok(*r));
        }
        assert_eq!(PropagationStatus::ALL.len(), 20);
        assert!(PropagationStatus::Ok.is_ok() && PropagationStatus::Ok.as_str().is_empty());
        assert!(PropagationStatus::DeletionTimedOut.is_timeout());
        assert!(!PropagationStatus::DeletionFailed.is_timeout());
        assert!("Bogus".parse::<PropagationStatus>().is_err());
        assert_eq!(AggregateReason::Success.condition_status(), ConditionStatus::True);
        assert_eq!(AggregateReason::Success.as_reason(), None);
        assert_eq!(
            AggregateReason::NamespaceNotFederated.condition_status(),
            ConditionStatus::False
        );
        assert_eq!(
            AggregateReason::CheckClusters.as_reason().as_deref(),
            Some("CheckClusters")
        );
        assert_eq!(
            PropagationStatus::ManagedLabelFalse.to_string(),
            "ManagedLabelFalse"
        );
    }

    #[test]
    fn api_resource_names_the_federated_type() {
        let d = find_default_type("deployments.apps").expect("default type");
        let ar = federated_api_resource(&d);
        assert_eq!(ar.api_version, "types.kubefed.io/v1beta1");
        assert_eq!(
            (ar.kind.as_str(), ar.plural.as_str()),
            ("FederatedDeployment", "federateddeployments")
        );
        let obj = FederatedObject::new("web", &ar, FederatedSpec::default());
        assert_eq!(
            obj.types.as_ref().map(|t| t.kind.as_str()),
            Some("FederatedDeployment")
        );
        let json = serde_json::to_value(&obj).expect("serializes");
        assert_eq!(json["spec"], json!({}));
    }
}
