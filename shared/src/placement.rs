//! Placement: which member clusters a federated object goes to (design §3).
//!
//! The rules, in the order they apply:
//! 1. `spec.placement.clusters` present → exactly those names (an empty list → none);
//!    otherwise `clusterSelector` over the KubeFedClusters' labels: `{}` → every cluster, absent → none.
//! 2. The result is intersected with the joined clusters (a name that is not a KubeFedCluster is dropped).
//!    Readiness does *not* remove a cluster: a selected cluster that is not ready stays in the placement and
//!    gets the per-cluster status `ClusterNotReady`, so its member object is neither updated nor deleted.
//! 3. A namespaced object is further intersected with its namespace's FederatedNamespace placement; with no
//!    FederatedNamespace it goes nowhere and the outcome is [`PlacementDecision::NamespaceNotFederated`],
//!    which the controller reports as the condition reason `NamespaceNotFederated`.
//! 4. `kube-system`, `kube-public`, `default` and the system namespace exist in every cluster and belong to
//!    it: their FederatedNamespaces still scope the objects inside them, but the Namespace objects themselves
//!    are never created, updated or deleted in members ([`PlacementDecision::ReservedNamespace`]).
//!
//! Sets are [`BTreeSet`]s so every caller iterates clusters in the same, stable order.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{AggregateReason, FederatedObject, KubeFedCluster, Placement};
use crate::selector::{SelectorError, selector_matches};
use crate::typeinfo::{Scope, TargetType};

/// Namespaces every cluster has and owns; never propagated as Namespace objects (the system namespace is
/// added by [`is_reserved_namespace`]).
pub const RESERVED_NAMESPACES: &[&str] = &["kube-system", "kube-public", "default"];

/// What placement needs to know about a member cluster; the controller builds it from a KubeFedCluster
/// (see [`ClusterInfo::from_cluster`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterInfo {
    /// The KubeFedCluster's name.
    pub name: String,
    /// The KubeFedCluster's labels (what `clusterSelector`s match).
    pub labels: BTreeMap<String, String>,
    /// Whether the cluster's `Ready` condition is `True`.
    pub ready: bool,
}

impl ClusterInfo {
    /// A cluster with a name, labels and readiness.
    pub fn new(name: impl Into<String>, labels: BTreeMap<String, String>, ready: bool) -> Self {
        ClusterInfo {
            name: name.into(),
            labels,
            ready,
        }
    }

    /// The placement view of a KubeFedCluster: its name, labels and `Ready` condition.
    pub fn from_cluster(cluster: &KubeFedCluster) -> Self {
        ClusterInfo {
            name: cluster.metadata.name.clone().unwrap_or_default(),
            labels: cluster.metadata.labels.clone().unwrap_or_default(),
            ready: cluster.is_ready(),
        }
    }
}

/// The placement could not be computed; the controller reports it with condition reason
/// [`PlacementError::reason`] (`ComputePlacementFailed`) and leaves member objects as they are.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// A malformed `clusterSelector`.
    #[error("{field}.{source}")]
    InvalidSelector {
        /// Where the selector is, e.g. `spec.placement.clusterSelector` or the FederatedNamespace's.
        field: String,
        /// What is wrong with it (its message starts with the field inside the selector).
        #[source]
        source: SelectorError,
    },
    /// A federated object of a namespaced type without `metadata.namespace`.
    #[error("{kind} {name:?} is namespaced but has no metadata.namespace")]
    MissingNamespace {
        /// The federated kind.
        kind: String,
        /// The object's name.
        name: String,
    },
}

impl PlacementError {
    /// The `Propagation` condition reason for this error: `ComputePlacementFailed`.
    pub fn reason(&self) -> AggregateReason {
        AggregateReason::ComputePlacementFailed
    }
}

/// Where a federated object goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlacementDecision {
    /// Propagate to exactly these clusters (possibly none) and remove it from every other cluster.
    Clusters(BTreeSet<String>),
    /// A namespaced object whose namespace has no FederatedNamespace: it goes nowhere (member copies are
    /// removed) and the condition reason is `NamespaceNotFederated`.
    NamespaceNotFederated {
        /// The object's namespace.
        namespace: String,
    },
    /// A FederatedNamespace of a reserved namespace (see [`is_reserved_namespace`]): the Namespace object is
    /// never written to or deleted from members. Its placement still scopes the objects inside it.
    ReservedNamespace {
        /// The namespace.
        namespace: String,
    },
}

impl PlacementDecision {
    /// The clusters the object should exist in: empty unless [`PlacementDecision::Clusters`].
    pub fn clusters(&self) -> BTreeSet<String> {
        match self {
            PlacementDecision::Clusters(c) => c.clone(),
            _ => BTreeSet::new(),
        }
    }
}

/// Resolves `placement` against the joined `clusters` (rules 1 and 2 of the module docs).
///
/// `field` names where the placement is (`spec.placement`) for error messages.
pub fn resolve_placement(
    placement: &Placement,
    clusters: &[ClusterInfo],
    field: &str,
) -> Result<BTreeSet<String>, PlacementError> {
    if let Some(listed) = &placement.clusters {
        return Ok(clusters
            .iter()
            .filter(|c| listed.iter().any(|r| r.name == c.name))
            .map(|c| c.name.clone())
            .collect());
    }
    let Some(selector) = &placement.cluster_selector else {
        return Ok(BTreeSet::new());
    };
    let mut selected = BTreeSet::new();
    for c in clusters {
        let hit =
            selector_matches(selector, &c.labels).map_err(|source| PlacementError::InvalidSelector {
                field: format!("{field}.clusterSelector"),
                source,
            })?;
        if hit {
            selected.insert(c.name.clone());
        }
    }
    // A malformed selector is an error even with no clusters joined.
    if clusters.is_empty() {
        crate::selector::validate_selector(selector).map_err(|source| PlacementError::InvalidSelector {
            field: format!("{field}.clusterSelector"),
            source,
        })?;
    }
    Ok(selected)
}

/// Whether `namespace` is never propagated as a Namespace: `kube-system`, `kube-public`, `default`, or
/// `system_namespace` (where kubefed runs, e.g. `kube-federation-system`).
pub fn is_reserved_namespace(namespace: &str, system_namespace: &str) -> bool {
    namespace == system_namespace || RESERVED_NAMESPACES.contains(&namespace)
}

/// Decides where `fed` (a federated object of `target`'s type) goes.
///
/// - `clusters`: every joined KubeFedCluster (ready or not).
/// - `namespace_placement`: for a namespaced type, the `spec.placement` of the FederatedNamespace named after
///   the object's namespace in that namespace, or `None` if there is none. Ignored for cluster-scoped types
///   and for FederatedNamespaces themselves.
/// - `system_namespace`: the namespace kubefed runs in.
pub fn place(
    fed: &FederatedObject,
    target: &TargetType,
    clusters: &[ClusterInfo],
    namespace_placement: Option<&Placement>,
    system_namespace: &str,
) -> Result<PlacementDecision, PlacementError> {
    let own = resolve_placement(&fed.spec.placement, clusters, "spec.placement")?;
    if target.is_namespace() {
        let namespace = fed
            .metadata
            .namespace
            .clone()
            .or_else(|| fed.metadata.name.clone())
            .unwrap_or_default();
        if is_reserved_namespace(&namespace, system_namespace) {
            return Ok(PlacementDecision::ReservedNamespace { namespace });
        }
        return Ok(PlacementDecision::Clusters(own));
    }
    if target.scope == Scope::Cluster {
        return Ok(PlacementDecision::Clusters(own));
    }
    let Some(namespace) = fed.metadata.namespace.clone() else {
        return Err(PlacementError::MissingNamespace {
            kind: target.federated_kind(),
            name: fed.metadata.name.clone().unwrap_or_default(),
        });
    };
    let Some(ns_placement) = namespace_placement else {
        return Ok(PlacementDecision::NamespaceNotFederated { namespace });
    };
    let field = format!("FederatedNamespace {namespace:?} spec.placement");
    let ns_clusters = resolve_placement(ns_placement, clusters, &field)?;
    Ok(PlacementDecision::Clusters(
        own.intersection(&ns_clusters).cloned().collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::federated_api_resource;
    use crate::typeinfo::find_default_type;
    use serde_json::json;

    fn clusters() -> Vec<ClusterInfo> {
        let l = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        };
        vec![
            ClusterInfo::new("eu-1", l(&[("region", "eu"), ("tier", "prod")]), true),
            ClusterInfo::new("eu-2", l(&[("region", "eu")]), false),
            ClusterInfo::new("us-1", l(&[("region", "us"), ("tier", "prod")]), true),
        ]
    }

    fn placement(v: serde_json::Value) -> Placement {
        serde_json::from_value(v).expect("test placement decodes")
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_string()).collect()
    }

    fn fed(kind: &str, name: &str, namespace: Option<&str>, placement: serde_json::Value) -> FederatedObject {
        let ty = find_default_type(kind).expect("default type");
        let mut obj = FederatedObject::new(name, &federated_api_resource(&ty), Default::default());
        obj.metadata.namespace = namespace.map(str::to_string);
        obj.spec.placement = serde_json::from_value(placement).expect("placement decodes");
        obj
    }

    #[test]
    fn resolve_rules() {
        struct Case {
            name: &'static str,
            placement: serde_json::Value,
            want: Result<&'static [&'static str], &'static str>,
        }
        let cases = [
            Case {
                name: "absent → none",
                placement: json!({}),
                want: Ok(&[]),
            },
            Case {
                name: "selector {} → all (incl. not ready)",
                placement: json!({"clusterSelector": {}}),
                want: Ok(&["eu-1", "eu-2", "us-1"]),
            },
            Case {
                name: "selector by label",
                placement: json!({"clusterSelector": {"matchLabels": {"region": "eu"}}}),
                want: Ok(&["eu-1", "eu-2"]),
            },
            Case {
                name: "selector by expression",
                placement: json!({"clusterSelector": {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}}),
                want: Ok(&["eu-2"]),
            },
            Case {
                name: "empty clusters → none",
                placement: json!({"clusters": []}),
                want: Ok(&[]),
            },
            Case {
                name: "clusters ∩ joined, sorted, deduplicated",
                placement: json!({"clusters": [{"name": "us-1"}, {"name": "gone"}, {"name": "eu-1"}, {"name": "us-1"}]}),
                want: Ok(&["eu-1", "us-1"]),
            },
            Case {
                name: "clusters win over selector",
                placement: json!({"clusters": [{"name": "eu-2"}], "clusterSelector": {}}),
                want: Ok(&["eu-2"]),
            },
            Case {
                name: "empty clusters win over selector",
                placement: json!({"clusters": [], "clusterSelector": {}}),
                want: Ok(&[]),
            },
            Case {
                name: "malformed selector",
                placement: json!({"clusterSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}),
                want: Err("spec.placement.clusterSelector.matchExpressions[0].values: operator In needs"),
            },
        ];
        for c in cases {
            let got = resolve_placement(&placement(c.placement), &clusters(), "spec.placement");
            match (got, c.want) {
                (Ok(got), Ok(want)) => assert_eq!(got, set(want), "{}", c.name),
                (Err(e), Err(want)) => {
                    assert!(e.to_string().starts_with(want), "{}: {e}", c.name);
                    assert_eq!(e.reason(), AggregateReason::ComputePlacementFailed);
                }
                (got, want) => panic!("{}: got {got:?}, want {want:?}", c.name),
            }
        }
        // No clusters joined: a malformed selector is still reported.
        let bad =
            placement(json!({"clusterSelector": {"matchExpressions": [{"key": "a", "operator": "Is"}]}}));
        assert!(resolve_placement(&bad, &[], "spec.placement").is_err());
    }

    #[test]
    fn decisions() {
        struct Case {
            name: &'static str,
            obj: FederatedObject,
            kind: &'static str,
            ns_placement: Option<serde_json::Value>,
            want: Result<PlacementDecision, &'static str>,
        }
        let all = json!({"clusterSelector": {}});
        let cases = [
            Case {
                name: "namespaced ∩ FederatedNamespace",
                obj: fed("deployments", "web", Some("shop"), all.clone()),
                kind: "deployments",
                ns_placement: Some(json!({"clusters": [{"name": "eu-1"}, {"name": "us-1"}]})),
                want: Ok(PlacementDecision::Clusters(set(&["eu-1", "us-1"]))),
            },
            Case {
                name: "namespaced, own list ∩ namespace selector",
                obj: fed(
                    "configmaps",
                    "cfg",
                    Some("shop"),
                    json!({"clusters": [{"name": "eu-1"}, {"name": "us-1"}]}),
                ),
                kind: "configmaps",
                ns_placement: Some(json!({"clusterSelector": {"matchLabels": {"region": "eu"}}})),
                want: Ok(PlacementDecision::Clusters(set(&["eu-1"]))),
            },
            Case {
                name: "namespace placed nowhere",
                obj: fed("configmaps", "cfg", Some("shop"), all.clone()),
                kind: "configmaps",
                ns_placement: Some(json!({})),
                want: Ok(PlacementDecision::Clusters(set(&[]))),
            },
            Case {
                name: "no FederatedNamespace",
                obj: fed("secrets", "s", Some("shop"), all.clone()),
                kind: "secrets",
                ns_placement: None,
                want: Ok(PlacementDecision::NamespaceNotFederated {
                    namespace: "shop".into(),
                }),
            },
            Case {
                name: "objects in default still follow its FederatedNamespace",
                obj: fed("services", "svc", Some("default"), all.clone()),
                kind: "services",
                ns_placement: Some(json!({"clusters": [{"name": "us-1"}]})),
                want: Ok(PlacementDecision::Clusters(set(&["us-1"]))),
            },
            Case {
                name: "cluster-scoped ignores namespaces",
                obj: fed(
                    "clusterroles",
                    "reader",
                    None,
                    json!({"clusterSelector": {"matchLabels": {"tier": "prod"}}}),
                ),
                kind: "clusterroles",
                ns_placement: None,
                want: Ok(PlacementDecision::Clusters(set(&["eu-1", "us-1"]))),
            },
            Case {
                name: "FederatedNamespace uses its own placement",
                obj: fed(
                    "namespaces",
                    "shop",
                    Some("shop"),
                    json!({"clusters": [{"name": "eu-2"}]}),
                ),
                kind: "namespaces",
                ns_placement: None,
                want: Ok(PlacementDecision::Clusters(set(&["eu-2"]))),
            },
            Case {
                name: "kube-system is never propagated",
                obj: fed("namespaces", "kube-system", Some("kube-system"), all.clone()),
                kind: "namespaces",
                ns_placement: None,
                want: Ok(PlacementDecision::ReservedNamespace {
                    namespace: "kube-system".into(),
                }),
            },
            Case {
                name: "kube-public is never propagated",
                obj: fed("namespaces", "kube-public", Some("kube-public"), all.clone()),
                kind: "namespaces",
                ns_placement: None,
                want: Ok(PlacementDecision::ReservedNamespace {
                    namespace: "kube-public".into(),
                }),
            },
            Case {
                name: "default is never propagated",
                obj: fed("namespaces", "default", Some("default"), all.clone()),
                kind: "namespaces",
                ns_placement: None,
                want: Ok(PlacementDecision::ReservedNamespace {
                    namespace: "default".into(),
                }),
            },
            Case {
                name: "the system namespace is never propagated",
                obj: fed(
                    "namespaces",
                    "kube-federation-system",
                    Some("kube-federation-system"),
                    all.clone(),
                ),
                kind: "namespaces",
                ns_placement: None,
                want: Ok(PlacementDecision::ReservedNamespace {
                    namespace: "kube-federation-system".into(),
                }),
            },
            Case {
                name: "namespaced without namespace",
                obj: fed("deployments", "web", None, all.clone()),
                kind: "deployments",
                ns_placement: None,
                want: Err("FederatedDeployment \"web\" is namespaced but has no metadata.namespace"),
            },
            Case {
                name: "bad FederatedNamespace selector",
                obj: fed("deployments", "web", Some("shop"), all.clone()),
                kind: "deployments",
                ns_placement: Some(
                    json!({"clusterSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}}),
                ),
                want: Err(
                    "FederatedNamespace \"shop\" spec.placement.clusterSelector.matchExpressions[0].values",
                ),
            },
        ];
        for c in cases {
            let ty = find_default_type(c.kind).expect("default type");
            let ns = c.ns_placement.map(placement);
            let got = place(&c.obj, &ty, &clusters(), ns.as_ref(), "kube-federation-system");
            match (got, c.want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{}", c.name),
                (Err(e), Err(want)) => assert!(e.to_string().starts_with(want), "{}: {e}", c.name),
                (got, want) => panic!("{}: got {got:?}, want {want:?}", c.name),
            }
        }
    }

    #[test]
    fn decision_clusters_and_cluster_info() {
        assert!(
            PlacementDecision::NamespaceNotFederated {
                namespace: "x".into()
            }
            .clusters()
            .is_empty()
        );
        assert!(
            PlacementDecision::ReservedNamespace {
                namespace: "default".into()
            }
            .clusters()
            .is_empty()
        );
        let kfc: KubeFedCluster = serde_json::from_value(json!({
            "apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedCluster",
            "metadata": {"name": "eu-1", "namespace": "kube-federation-system", "labels": {"region": "eu"}},
            "spec": {"apiEndpoint": "https://eu-1:6443", "secretRef": {"name": "eu-1"}},
            "status": {"conditions": [{"type": "Ready", "status": "True",
                "lastProbeTime": "2024-01-01T00:00:00Z"}]}
        }))
        .expect("KubeFedCluster decodes");
        let info = ClusterInfo::from_cluster(&kfc);
        assert_eq!(info.name, "eu-1");
        assert_eq!(info.labels.get("region").map(String::as_str), Some("eu"));
        assert!(info.ready);
    }
}
