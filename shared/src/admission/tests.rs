//! Table tests of every admission rule, with the exact messages a user sees.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::api::{Enforcement, FederatedTypeConfig, FederationPolicy, Placement};
use crate::placement::ClusterInfo;
use crate::typeinfo::default_types;

const SYSTEM: &str = "kube-federation-system";

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn placement(v: Value) -> Placement {
    serde_json::from_value(v).expect("test placement decodes")
}

fn policy(name: &str, spec: Value) -> FederationPolicy {
    let mut p: FederationPolicy = serde_json::from_value(json!({
        "apiVersion": "policy.kubefed.io/v1alpha1", "kind": "FederationPolicy",
        "metadata": {"name": name}, "spec": spec
    }))
    .expect("test policy decodes");
    p.metadata.name = Some(name.to_string());
    p
}

/// Clusters eu-1 (region=eu), eu-2 (region=eu), us-1 (region=us); FederatedNamespaces `shop` (eu-1, eu-2)
/// and `all` (every cluster); namespace `shop` labelled team=shop; the default FederatedTypeConfigs.
fn snapshot(policies: Vec<FederationPolicy>) -> Snapshot {
    Snapshot::new(
        vec![
            ClusterInfo::new("us-1", labels(&[("region", "us")]), true),
            ClusterInfo::new("eu-1", labels(&[("region", "eu")]), true),
            ClusterInfo::new("eu-2", labels(&[("region", "eu")]), false),
        ],
        BTreeMap::from([
            (
                "shop".to_string(),
                placement(json!({"clusters": [{"name": "eu-1"}, {"name": "eu-2"}]})),
            ),
            ("all".to_string(), placement(json!({"clusterSelector": {}}))),
        ]),
        BTreeMap::from([(
            "shop".to_string(),
            labels(&[("team", "shop"), ("kubernetes.io/metadata.name", "shop")]),
        )]),
        policies,
        default_types()
            .iter()
            .map(|t| TypeEntry::from_config(&FederatedTypeConfig::for_target(t, SYSTEM)))
            .collect(),
        Settings::default(),
    )
}

fn object(api_version: &str, kind: &str, namespace: Option<&str>, name: &str, spec: Value) -> DynamicObject {
    let mut metadata = json!({"name": name});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    serde_json::from_value(
        json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec}),
    )
    .expect("test object decodes")
}

fn fed(kind: &str, namespace: Option<&str>, name: &str, spec: Value) -> DynamicObject {
    object("types.kubefed.io/v1beta1", kind, namespace, name, spec)
}

fn input<'a>(
    operation: Operation,
    object: &'a DynamicObject,
    old: Option<&'a DynamicObject>,
) -> AdmissionInput<'a> {
    AdmissionInput {
        operation,
        old_object: old,
        user: Some("alice"),
        ..AdmissionInput::create(object)
    }
}

fn denials(d: &Decision) -> Vec<(Reason, &str)> {
    d.denials.iter().map(|x| (x.reason, x.message.as_str())).collect()
}

fn deployment(placement: Value) -> Value {
    json!({"template": {"spec": {"replicas": 1}}, "placement": placement})
}

fn on(names: &[&str]) -> Value {
    json!({"clusters": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()})
}

#[test]
fn federated_objects() {
    struct Case {
        name: &'static str,
        kind: &'static str,
        namespace: Option<&'static str>,
        object_name: &'static str,
        spec: Value,
        denials: &'static [(Reason, &'static str)],
        warnings: &'static [&'static str],
    }
    let shop = Some("shop");
    let cases = [
        Case {
            name: "valid deployment",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: deployment(on(&["eu-1", "eu-2"])),
            denials: &[],
            warnings: &[],
        },
        Case {
            name: "kind without FederatedTypeConfig",
            kind: "FederatedWidget",
            namespace: shop,
            object_name: "w",
            spec: json!({"placement": on(&["eu-1"])}),
            denials: &[],
            warnings: &[
                "no FederatedTypeConfig federates FederatedWidget (types.kubefed.io), so the object is stored but \
                         not propagated; enable its target type with a FederatedTypeConfig in kube-federation-system",
            ],
        },
        Case {
            name: "template kind differs from the type",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"template": {"kind": "Service"}, "placement": on(&["eu-1"])}),
            denials: &[(
                Reason::Invalid,
                "spec.template.kind \"Service\" does not match FederatedTypeConfig \"deployments.apps\", which \
                 federates Deployment; set it to Deployment or remove it",
            )],
            warnings: &[],
        },
        Case {
            name: "template apiVersion in another group",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"template": {"apiVersion": "extensions/v1beta1"}, "placement": on(&["eu-1"])}),
            denials: &[(
                Reason::Invalid,
                "spec.template.apiVersion \"extensions/v1beta1\" is not in group apps of FederatedTypeConfig \
                 \"deployments.apps\"; use apps/v1 or remove it",
            )],
            warnings: &[],
        },
        Case {
            name: "template apiVersion of the core group on a core type",
            kind: "FederatedConfigMap",
            namespace: shop,
            object_name: "cfg",
            spec: json!({"template": {"apiVersion": "apps/v1"}, "placement": on(&["eu-1"])}),
            denials: &[(
                Reason::Invalid,
                "spec.template.apiVersion \"apps/v1\" is not in the core group of FederatedTypeConfig \"configmaps\"; \
                 use v1 or remove it",
            )],
            warnings: &[],
        },
        Case {
            name: "template of another version of the same group",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"template": {"apiVersion": "apps/v1beta2", "kind": "Deployment"}, "placement": on(&["eu-1"])}),
            denials: &[],
            warnings: &[],
        },
        Case {
            name: "template namespace differs",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"template": {"metadata": {"namespace": "other"}}, "placement": on(&["eu-1"])}),
            denials: &[(
                Reason::Invalid,
                "spec.template.metadata.namespace \"other\" differs from the object's namespace \"shop\"; member \
                 objects are created in \"shop\", so remove it or set it to \"shop\"",
            )],
            warnings: &[],
        },
        Case {
            name: "template namespace equal",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"template": {"metadata": {"namespace": "shop"}}, "placement": on(&["eu-1"])}),
            denials: &[],
            warnings: &[],
        },
        Case {
            name: "namespace in a cluster-scoped template",
            kind: "FederatedClusterRole",
            namespace: None,
            object_name: "reader",
            spec: json!({"template": {"metadata": {"namespace": "x"}}, "placement": on(&["us-1"])}),
            denials: &[(
                Reason::Invalid,
                "spec.template.metadata.namespace \"x\" is set, but the target is cluster-scoped; remove it",
            )],
            warnings: &[],
        },
        Case {
            name: "template name is ignored",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"template": {"metadata": {"name": "api"}}, "placement": on(&["eu-1"])}),
            denials: &[],
            warnings: &[
                "spec.template.metadata.name \"api\" is ignored: member objects are named after the federated \
                         object (\"web\"); remove it",
            ],
        },
        Case {
            name: "template that is not an object",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"template": "nginx", "placement": on(&["eu-1"])}),
            denials: &[(
                Reason::Invalid,
                "spec.template must be an object: the target object's body (metadata, spec, data, …) without \
                 apiVersion, kind and status",
            )],
            warnings: &[],
        },
        Case {
            name: "FederatedNamespace named after another namespace",
            kind: "FederatedNamespace",
            namespace: shop,
            object_name: "other",
            spec: json!({"placement": on(&["eu-1"])}),
            denials: &[(
                Reason::Invalid,
                "metadata.name \"other\" must equal the namespace \"shop\": a FederatedNamespace federates the \
                 namespace it lives in; name it \"shop\"",
            )],
            warnings: &[],
        },
        Case {
            name: "FederatedService name must be a DNS-1035 label",
            kind: "FederatedService",
            namespace: shop,
            object_name: "1web",
            spec: json!({"placement": on(&["eu-1"])}),
            denials: &[(
                Reason::Invalid,
                "metadata.name: \"1web\" is not a valid DNS-1035 label: use at most 63 lower-case letters, digits or \
                 '-', starting with a letter and ending with a letter or digit (e.g. my-name), because member \
                 Services are named after the FederatedService",
            )],
            warnings: &[],
        },
        Case {
            name: "empty cluster name",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: deployment(json!({"clusters": [{"name": "eu-1"}, {"name": ""}]})),
            denials: &[(
                Reason::Invalid,
                "spec.placement.clusters[1].name is empty; name a KubeFedCluster",
            )],
            warnings: &[],
        },
        Case {
            name: "cluster listed twice",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: deployment(on(&["eu-1", "eu-1"])),
            denials: &[],
            warnings: &[
                "spec.placement.clusters[1]: cluster \"eu-1\" is listed twice (first at [0]); remove one",
            ],
        },
        Case {
            name: "cluster not joined",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: deployment(on(&["eu-1", "ap-1"])),
            denials: &[],
            warnings: &[
                "spec.placement.clusters[1]: cluster \"ap-1\" is not joined (no KubeFedCluster of that name in \
                         kube-federation-system); the object goes there only once it joins",
            ],
        },
        Case {
            name: "clusters shadow clusterSelector",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: deployment(json!({"clusters": [{"name": "eu-1"}], "clusterSelector": {}})),
            denials: &[],
            warnings: &[
                "spec.placement.clusterSelector is ignored because spec.placement.clusters is set; remove one \
                         of them",
            ],
        },
        Case {
            name: "empty cluster list",
            kind: "FederatedDeployment",
            namespace: Some("unfederated"),
            object_name: "web",
            spec: deployment(json!({"clusters": []})),
            denials: &[],
            warnings: &[
                "spec.placement.clusters is empty, so the object is placed on no cluster; list clusters, or \
                         remove clusters and set clusterSelector: {} for every cluster",
            ],
        },
        Case {
            name: "no placement at all",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"template": {}}),
            denials: &[],
            warnings: &[
                "spec.placement sets neither clusters nor clusterSelector and no FederationPolicy provides a \
                         default, so the object is placed on no cluster; set spec.placement.clusters, or \
                         clusterSelector: {} for every cluster",
            ],
        },
        Case {
            name: "malformed clusterSelector",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: deployment(
                json!({"clusterSelector": {"matchExpressions": [{"key": "region", "operator": "Is"}]}}),
            ),
            denials: &[(
                Reason::Invalid,
                "spec.placement.clusterSelector.matchExpressions[0].operator: unknown operator \"Is\"; use In, NotIn, \
                 Exists or DoesNotExist",
            )],
            warnings: &[],
        },
        Case {
            name: "placement of the wrong shape",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"placement": {"clusters": "eu-1"}}),
            denials: &[(
                Reason::Invalid,
                "spec.placement: invalid type: string \"eu-1\", expected a sequence; fix the field's type (see \
                 `kubectl explain` for the federated type)",
            )],
            warnings: &[],
        },
        Case {
            name: "override of a forbidden path",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"placement": on(&["eu-1"]), "overrides": [{"clusterName": "eu-1",
                "clusterOverrides": [{"path": "/metadata/name", "value": "x"}]}]}),
            denials: &[(
                Reason::Invalid,
                "spec.overrides[0].clusterOverrides[0].path \"/metadata/name\" cannot be overridden: the name, \
                 namespace and kind of an object are the same in every cluster",
            )],
            warnings: &[],
        },
        Case {
            name: "override with an unknown op",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"placement": on(&["eu-1"]), "overrides": [{"clusterName": "eu-1",
                "clusterOverrides": [{"op": "move", "path": "/spec/replicas"}]}]}),
            denials: &[(
                Reason::Invalid,
                "spec.overrides[0].clusterOverrides[0].op: unknown override op \"move\"; expected one of: add, remove, \
                 replace (or empty for replace)",
            )],
            warnings: &[],
        },
        Case {
            name: "override path that is not a JSON Pointer",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"placement": on(&["eu-1"]), "overrides": [{"clusterName": "eu-1",
                "clusterOverrides": [{"path": "spec/replicas", "value": 2}]}]}),
            denials: &[(
                Reason::Invalid,
                "spec.overrides[0].clusterOverrides[0].path \"spec/replicas\" is not a JSON Pointer: it must start with \
                 /; write it like /spec/replicas, with ~0 for ~ and ~1 for / inside a key",
            )],
            warnings: &[],
        },
        Case {
            name: "overrides name a cluster twice",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"placement": on(&["eu-1"]), "overrides": [
                {"clusterName": "eu-1", "clusterOverrides": [{"path": "/spec/replicas", "value": 2}]},
                {"clusterName": "eu-1", "clusterOverrides": [{"path": "/spec/paused", "value": true}]}]}),
            denials: &[(
                Reason::Invalid,
                "spec.overrides[1].clusterName: cluster \"eu-1\" is listed twice (first at spec.overrides[0]); put all \
                 its overrides in one entry",
            )],
            warnings: &[],
        },
        Case {
            name: "override sets a path twice",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"placement": on(&["eu-1"]), "overrides": [{"clusterName": "eu-1", "clusterOverrides": [
                {"path": "/spec/replicas", "value": 2}, {"path": "/spec/replicas", "value": 3}]}]}),
            denials: &[(
                Reason::Invalid,
                "spec.overrides[0].clusterOverrides[1].path \"/spec/replicas\" is listed twice in this entry (first \
                 at clusterOverrides[0]); keep one",
            )],
            warnings: &[],
        },
        Case {
            name: "override for a cluster outside the placement",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"placement": on(&["eu-1"]), "overrides": [{"clusterName": "us-1",
                "clusterOverrides": [{"path": "/spec/replicas", "value": 2}]}]}),
            denials: &[],
            warnings: &[
                "spec.overrides[0]: cluster \"us-1\" is not in spec.placement.clusters, so its overrides have \
                         no effect; add the cluster to the placement or remove its overrides",
            ],
        },
        Case {
            name: "override for an unjoined cluster with a selector placement",
            kind: "FederatedDeployment",
            namespace: Some("all"),
            object_name: "web",
            spec: json!({"placement": {"clusterSelector": {}}, "overrides": [{"clusterName": "ap-1",
                "clusterOverrides": [{"path": "/spec/replicas", "value": 2}]}]}),
            denials: &[],
            warnings: &[
                "spec.overrides[0].clusterName: cluster \"ap-1\" is not joined, so its overrides have no \
                         effect yet",
            ],
        },
        Case {
            name: "override with a malformed clusterSelector",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"placement": on(&["eu-1"]), "overrides": [{"clusterSelector": {"matchExpressions":
                [{"key": "region", "operator": "In"}]}, "clusterOverrides": [{"path": "/spec/replicas", "value": 2}]}]}),
            denials: &[(
                Reason::Invalid,
                "spec.overrides[0].clusterSelector.matchExpressions[0].values: operator In needs at least one value",
            )],
            warnings: &[],
        },
        Case {
            name: "retainReplicas on a type without replicas",
            kind: "FederatedConfigMap",
            namespace: shop,
            object_name: "cfg",
            spec: json!({"placement": on(&["eu-1"]), "retainReplicas": true}),
            denials: &[],
            warnings: &["spec.retainReplicas has no effect: ConfigMap has no spec.replicas; remove it"],
        },
        Case {
            name: "several problems are all reported",
            kind: "FederatedDeployment",
            namespace: shop,
            object_name: "web",
            spec: json!({"template": {"kind": "Job", "metadata": {"namespace": "x"}}, "placement": on(&["eu-1"])}),
            denials: &[
                (
                    Reason::Invalid,
                    "spec.template.kind \"Job\" does not match FederatedTypeConfig \"deployments.apps\", which \
                     federates Deployment; set it to Deployment or remove it",
                ),
                (
                    Reason::Invalid,
                    "spec.template.metadata.namespace \"x\" differs from the object's namespace \"shop\"; member \
                     objects are created in \"shop\", so remove it or set it to \"shop\"",
                ),
            ],
            warnings: &[],
        },
    ];
    let snap = snapshot(vec![]);
    for c in cases {
        let obj = fed(c.kind, c.namespace, c.object_name, c.spec);
        let d = validate(&input(Operation::Create, &obj, None), &snap);
        assert_eq!(denials(&d), c.denials, "{}: denials", c.name);
        assert_eq!(d.warnings, c.warnings, "{}: warnings", c.name);
        assert!(d.audit.is_empty(), "{}", c.name);
    }
}

#[test]
fn disabled_propagation_is_a_warning() {
    let mut snap = snapshot(vec![]);
    for t in &mut snap.types {
        t.propagation = false;
    }
    let obj = fed(
        "FederatedDeployment",
        Some("shop"),
        "web",
        deployment(on(&["eu-1"])),
    );
    let d = validate(&input(Operation::Create, &obj, None), &snap);
    assert!(d.allowed());
    assert_eq!(
        d.warnings,
        [
            "propagation is disabled in FederatedTypeConfig \"deployments.apps\", so the object is not propagated until \
          its spec.propagation is Enabled"
        ]
    );
}

#[test]
fn namespace_consistency() {
    struct Case {
        name: &'static str,
        kind: &'static str,
        namespace: &'static str,
        placement: Value,
        policies: Vec<FederationPolicy>,
        baseline: Enforcement,
        denials: &'static [(Reason, &'static str)],
        warnings: &'static [&'static str],
        audit: &'static [(&'static str, &'static str)],
    }
    const NOT_FEDERATED: &str = "namespace \"shop2\" is not federated, so this object would be placed on no cluster: \
                                 create a FederatedNamespace named \"shop2\" in namespace \"shop2\" whose \
                                 spec.placement includes eu-1, then retry";
    const NOT_COVERED: &str = "spec.placement: namespace \"shop\" is not federated to cluster us-1 (its \
                               FederatedNamespace places it on eu-1, eu-2); add it to the FederatedNamespace's \
                               spec.placement, or remove it from this object's spec.placement";
    let cases = [
        Case {
            name: "unfederated namespace",
            kind: "FederatedDeployment",
            namespace: "shop2",
            placement: on(&["eu-1"]),
            policies: vec![],
            baseline: Enforcement::Deny,
            denials: &[(Reason::NamespaceNotFederated, NOT_FEDERATED)],
            warnings: &[],
            audit: &[],
        },
        Case {
            name: "unfederated namespace, only unjoined clusters",
            kind: "FederatedDeployment",
            namespace: "shop2",
            placement: on(&["ap-1"]),
            policies: vec![],
            baseline: Enforcement::Deny,
            denials: &[(
                Reason::NamespaceNotFederated,
                "namespace \"shop2\" is not federated, so this object would be placed on no cluster: create a \
                 FederatedNamespace named \"shop2\" in namespace \"shop2\" whose spec.placement includes the clusters \
                 this object targets, then retry",
            )],
            warnings: &[
                "spec.placement.clusters[0]: cluster \"ap-1\" is not joined (no KubeFedCluster of that name in \
                         kube-federation-system); the object goes there only once it joins",
            ],
            audit: &[],
        },
        Case {
            name: "a cluster the namespace does not cover",
            kind: "FederatedDeployment",
            namespace: "shop",
            placement: json!({"clusterSelector": {}}),
            policies: vec![],
            baseline: Enforcement::Deny,
            denials: &[(Reason::NamespaceNotCovered, NOT_COVERED)],
            warnings: &[],
            audit: &[],
        },
        Case {
            name: "covered by a FederatedNamespace selecting every cluster",
            kind: "FederatedDeployment",
            namespace: "all",
            placement: json!({"clusterSelector": {}}),
            policies: vec![],
            baseline: Enforcement::Deny,
            denials: &[],
            warnings: &[],
            audit: &[],
        },
        Case {
            name: "the FederatedNamespace itself is exempt",
            kind: "FederatedNamespace",
            namespace: "shop2",
            placement: on(&["eu-1"]),
            policies: vec![],
            baseline: Enforcement::Deny,
            denials: &[],
            warnings: &[],
            audit: &[],
        },
        Case {
            name: "baseline Warn",
            kind: "FederatedDeployment",
            namespace: "shop2",
            placement: on(&["eu-1"]),
            policies: vec![],
            baseline: Enforcement::Warn,
            denials: &[],
            warnings: &[NOT_FEDERATED],
            audit: &[],
        },
        Case {
            name: "a selecting policy lowers it to Warn",
            kind: "FederatedDeployment",
            namespace: "shop",
            placement: json!({"clusterSelector": {}}),
            policies: vec![policy("relaxed", json!({"namespaceConsistency": "Warn"}))],
            baseline: Enforcement::Deny,
            denials: &[],
            warnings: &[NOT_COVERED],
            audit: &[],
        },
        Case {
            name: "a selecting policy audits it",
            kind: "FederatedDeployment",
            namespace: "shop",
            placement: json!({"clusterSelector": {}}),
            policies: vec![
                policy("audit-ns", json!({"namespaceConsistency": "Audit"})),
                policy(
                    "other-kind",
                    json!({"match": {"kinds": ["Service"]}, "namespaceConsistency": "Deny"}),
                ),
            ],
            baseline: Enforcement::Deny,
            denials: &[],
            warnings: &[],
            audit: &[("audit-ns", "namespaceConsistency")],
        },
        Case {
            name: "the strictest selecting policy wins",
            kind: "FederatedDeployment",
            namespace: "shop2",
            placement: on(&["eu-1"]),
            policies: vec![
                policy("a", json!({"namespaceConsistency": "Audit"})),
                policy("b", json!({"namespaceConsistency": "Deny"})),
            ],
            baseline: Enforcement::Warn,
            denials: &[(Reason::NamespaceNotFederated, NOT_FEDERATED)],
            warnings: &[],
            audit: &[],
        },
    ];
    for c in cases {
        let mut snap = snapshot(c.policies);
        snap.settings.namespace_consistency = c.baseline;
        let name = if c.kind == "FederatedNamespace" {
            c.namespace
        } else {
            "web"
        };
        let obj = fed(c.kind, Some(c.namespace), name, json!({"placement": c.placement}));
        let d = validate(&input(Operation::Create, &obj, None), &snap);
        assert_eq!(denials(&d), c.denials, "{}: denials", c.name);
        assert_eq!(d.warnings, c.warnings, "{}: warnings", c.name);
        let audit: Vec<(&str, &str)> = d
            .audit
            .iter()
            .map(|a| (a.policy.as_str(), a.violation.rule.as_str()))
            .collect();
        assert_eq!(audit, c.audit, "{}: audit", c.name);
    }
}

#[test]
fn policies_are_routed_by_their_enforcement() {
    let snap = snapshot(vec![
        policy(
            "a-deny-us",
            json!({"match": {"namespaceSelector": {"matchLabels": {"team": "shop"}}}, "deniedClusters": {"names": ["us-1"]}}),
        ),
        policy("b-warn-ha", json!({"enforcement": "Warn", "minClusters": 3})),
        policy(
            "c-audit-spread",
            json!({"enforcement": "Audit", "spread": [{"label": "region", "minDistinct": 2}]}),
        ),
        policy(
            "d-ads-only",
            json!({"match": {"namespaceSelector": {"matchLabels": {"team": "ads"}}}, "maxClusters": 0}),
        ),
    ]);
    let obj = fed(
        "FederatedDeployment",
        Some("all"),
        "web",
        deployment(on(&["eu-1"])),
    );
    let d = validate(&input(Operation::Create, &obj, None), &snap);
    // "all" is not labelled team=shop: only b and c select it.
    assert!(d.allowed(), "{:?}", d.denials);
    assert_eq!(
        d.warnings,
        [
            "policy \"b-warn-ha\": spec.placement resolves to 1 joined cluster (eu-1), but the policy requires at least 3 \
          (minClusters); add 2 clusters, e.g. eu-2, us-1"
        ]
    );
    assert_eq!(
        d.audit,
        [AuditEntry {
            policy: "c-audit-spread".into(),
            violation: PolicyViolation {
                kind: "FederatedDeployment".into(),
                namespace: Some("all".into()),
                name: "web".into(),
                rule: "spread[0]".into(),
                message: "policy \"c-audit-spread\": spec.placement spans 1 distinct value (eu) of cluster label \
                          \"region\", but the policy requires at least 2 (spread[0].minDistinct); add clusters with \
                          other values, e.g. us-1 (region=us)"
                    .into(),
                user: Some("alice".into()),
                time: None,
            },
        }]
    );

    let obj = fed(
        "FederatedDeployment",
        Some("shop"),
        "web",
        deployment(on(&["eu-1", "us-1"])),
    );
    let d = validate(&input(Operation::Create, &obj, None), &snap);
    assert_eq!(
        denials(&d),
        [
            (
                Reason::ClusterDenied,
                "policy \"a-deny-us\": spec.placement.clusters names cluster \"us-1\", which the policy denies \
                 (deniedClusters: names [us-1]); remove it from spec.placement.clusters"
            ),
            (
                Reason::NamespaceNotCovered,
                "spec.placement: namespace \"shop\" is not federated to cluster us-1 (its FederatedNamespace places it \
                 on eu-1, eu-2); add it to the FederatedNamespace's spec.placement, or remove it from this object's \
                 spec.placement"
            ),
        ]
    );
    assert_eq!(d.reason(), Some(Reason::ClusterDenied));
    assert_eq!(
        d.warnings.len(),
        1,
        "the Warn policy still warns: {:?}",
        d.warnings
    );
    assert!(
        d.message().starts_with("2 problems: (1) policy \"a-deny-us\": "),
        "{}",
        d.message()
    );
    assert!(
        d.message().contains("; (2) spec.placement: namespace \"shop\""),
        "{}",
        d.message()
    );
}

#[test]
fn propagate_checks() {
    struct Case {
        name: &'static str,
        operation: Operation,
        spec: Value,
        old_spec: Option<Value>,
        want: Option<&'static [&'static str]>,
    }
    let with_image = |image: &str, placement: Value| {
        json!({"template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}},
               "placement": placement})
    };
    let cases = [
        Case {
            name: "create: every listed cluster, joined or not",
            operation: Operation::Create,
            spec: deployment(on(&["eu-1", "ap-1"])),
            old_spec: None,
            want: Some(&["ap-1", "eu-1"]),
        },
        Case {
            name: "create by selector: every cluster, so label changes cannot widen it",
            operation: Operation::Create,
            spec: deployment(json!({"clusterSelector": {"matchLabels": {"region": "eu"}}})),
            old_spec: None,
            want: Some(&["*", "eu-1", "eu-2"]),
        },
        Case {
            name: "create: no placement, no check",
            operation: Operation::Create,
            spec: json!({"template": {}}),
            old_spec: None,
            want: None,
        },
        Case {
            name: "update of the template: every target",
            operation: Operation::Update,
            spec: with_image("v2", on(&["eu-1", "us-1"])),
            old_spec: Some(with_image("v1", on(&["eu-1", "us-1"]))),
            want: Some(&["eu-1", "us-1"]),
        },
        Case {
            name: "update adding a cluster: only the new one",
            operation: Operation::Update,
            spec: with_image("v1", on(&["eu-1", "us-1"])),
            old_spec: Some(with_image("v1", on(&["eu-1"]))),
            want: Some(&["us-1"]),
        },
        Case {
            name: "update dropping a cluster: narrowing needs nothing",
            operation: Operation::Update,
            spec: with_image("v1", on(&["eu-1"])),
            old_spec: Some(with_image("v1", on(&["eu-1", "us-1"]))),
            want: None,
        },
        Case {
            name: "update from a selector to names it selected: narrowing needs nothing",
            operation: Operation::Update,
            spec: with_image("v1", on(&["eu-1"])),
            old_spec: Some(with_image("v1", json!({"clusterSelector": {}}))),
            want: None,
        },
        Case {
            name: "update of the template of an object placed by selector: every cluster",
            operation: Operation::Update,
            spec: with_image(
                "v2",
                json!({"clusterSelector": {"matchLabels": {"region": "us"}}}),
            ),
            old_spec: Some(with_image(
                "v1",
                json!({"clusterSelector": {"matchLabels": {"region": "us"}}}),
            )),
            want: Some(&["*", "us-1"]),
        },
        Case {
            name: "update of one cluster's overrides: only that cluster",
            operation: Operation::Update,
            spec: {
                let mut s = with_image("v1", on(&["eu-1", "us-1"]));
                s["overrides"] = json!([{"clusterName": "us-1",
                    "clusterOverrides": [{"path": "/spec/replicas", "value": 3}]}]);
                s
            },
            old_spec: Some(with_image("v1", on(&["eu-1", "us-1"]))),
            want: Some(&["us-1"]),
        },
        Case {
            name: "update of template and placement: the new cluster only",
            operation: Operation::Update,
            spec: with_image("v2", on(&["eu-1"])),
            old_spec: Some(with_image("v1", on(&["us-1"]))),
            want: Some(&["eu-1"]),
        },
        Case {
            name: "update leaving spec alone: nothing checked",
            operation: Operation::Update,
            spec: with_image("v1", on(&["eu-1"])),
            old_spec: Some(with_image("v1", on(&["eu-1"]))),
            want: None,
        },
        Case {
            name: "delete: nothing checked",
            operation: Operation::Delete,
            spec: with_image("v1", on(&["eu-1"])),
            old_spec: None,
            want: None,
        },
    ];
    let snap = snapshot(vec![]);
    for c in cases {
        let obj = fed("FederatedDeployment", Some("all"), "web", c.spec);
        let old = c
            .old_spec
            .map(|s| fed("FederatedDeployment", Some("all"), "web", s));
        let d = validate(&input(c.operation, &obj, old.as_ref()), &snap);
        let got = propagated(&d);
        assert_eq!(got.as_deref(), c.want, "{}", c.name);
        if let Some(p) = &d.propagate {
            let field = if p.all_clusters {
                "spec.placement.clusterSelector"
            } else {
                "spec.placement"
            };
            assert_eq!(p.field, field, "{}", c.name);
        }
    }
}

/// The clusters a decision checks `propagate` on, `*` first for "every cluster".
fn propagated(d: &Decision) -> Option<Vec<&str>> {
    d.propagate.as_ref().map(|p| {
        let all = p.all_clusters.then_some("*");
        all.into_iter()
            .chain(p.clusters.iter().map(String::as_str))
            .collect()
    })
}

#[test]
fn updates_that_leave_spec_and_labels_alone_and_deleting_objects_are_not_checked() {
    // A newer Deny policy would refuse the object; the controller must still manage its finalizers.
    let snap = snapshot(vec![policy("none", json!({"maxClusters": 0}))]);
    let old = fed(
        "FederatedDeployment",
        Some("shop2"),
        "web",
        deployment(on(&["eu-1"])),
    );
    let mut new = old.clone();
    new.metadata.finalizers = Some(vec!["kubefed.io/sync-controller".into()]);
    new.metadata.annotations = Some(labels(&[("note", "finalizer added")]));
    let d = validate(&input(Operation::Update, &new, Some(&old)), &snap);
    assert_eq!(d, Decision::default());

    let mut deleting = new.clone();
    deleting.metadata.deletion_timestamp = serde_json::from_value(json!("2025-01-01T00:00:00Z")).ok();
    deleting.data["spec"]["placement"] = on(&["us-1"]);
    let d = validate(&input(Operation::Update, &deleting, Some(&new)), &snap);
    assert_eq!(d, Decision::default());

    // A spec change is checked in full.
    let mut changed = old.clone();
    changed.data["spec"]["placement"] = on(&["eu-1", "eu-2"]);
    let d = validate(&input(Operation::Update, &changed, Some(&old)), &snap);
    let reasons: Vec<Reason> = d.denials.iter().map(|x| x.reason).collect();
    assert_eq!(reasons, [Reason::TooManyClusters, Reason::NamespaceNotFederated]);
}

#[test]
fn label_edits_are_checked_against_the_policies_they_bring_in() {
    // Objects labelled tier=critical need 2 clusters: creating without the label and adding it later must
    // not dodge that.
    let snap = snapshot(vec![policy(
        "critical-ha",
        json!({"match": {"objectSelector": {"matchLabels": {"tier": "critical"}}}, "minClusters": 2}),
    )]);
    let old = fed(
        "FederatedDeployment",
        Some("all"),
        "web",
        deployment(on(&["eu-1"])),
    );
    assert!(validate(&input(Operation::Create, &old, None), &snap).allowed());

    let mut critical = old.clone();
    critical.metadata.labels = Some(labels(&[("tier", "critical")]));
    let d = validate(&input(Operation::Update, &critical, Some(&old)), &snap);
    assert_eq!(d.reason(), Some(Reason::TooFewClusters), "{:?}", d.denials);
    assert!(d.message().contains("critical-ha"), "{}", d.message());
    assert_eq!(d.propagate, None, "a label edit places nothing");

    // A label edit that brings in no violated policy is allowed, with no RBAC question.
    let mut other = old.clone();
    other.metadata.labels = Some(labels(&[("tier", "batch")]));
    let d = validate(&input(Operation::Update, &other, Some(&old)), &snap);
    assert!(d.allowed(), "{:?}", d.denials);
    assert_eq!((d.propagate, d.access), (None, Vec::new()));

    // Removing the label, or turning no labels into an empty map, is not refused.
    let d = validate(&input(Operation::Update, &old, Some(&critical)), &snap);
    assert!(d.allowed(), "{:?}", d.denials);
    let mut empty = old.clone();
    empty.metadata.labels = Some(BTreeMap::new());
    let d = validate(&input(Operation::Update, &empty, Some(&old)), &snap);
    assert_eq!(d, Decision::default(), "no labels and {{}} are the same");

    // An object being deleted stays exempt, whatever its labels.
    let mut deleting = critical.clone();
    deleting.metadata.deletion_timestamp = serde_json::from_value(json!("2025-01-01T00:00:00Z")).ok();
    let d = validate(&input(Operation::Update, &deleting, Some(&old)), &snap);
    assert_eq!(d, Decision::default());
}

fn apply(obj: &DynamicObject, patch: &[json_patch::PatchOperation]) -> DynamicObject {
    let mut value = serde_json::to_value(obj).expect("serializes");
    json_patch::patch(&mut value, patch).expect("the mutation's patch applies");
    serde_json::from_value(value).expect("still an object")
}

#[test]
fn mutation() {
    struct Case {
        name: &'static str,
        namespace: &'static str,
        spec: Value,
        policies: Vec<FederationPolicy>,
        want_spec: Value,
        warnings: &'static [&'static str],
    }
    let eu = json!({"clusterSelector": {"matchLabels": {"region": "eu"}}});
    let shop_default = || {
        vec![
            policy(
                "a-audit",
                json!({"enforcement": "Audit", "defaultPlacement": on(&["us-1"])}),
            ),
            policy(
                "b-shop",
                json!({"match": {"namespaceSelector": {"matchLabels": {"team": "shop"}}},
                       "defaultPlacement": {"clusterSelector": {"matchLabels": {"region": "eu"}}}}),
            ),
            policy("c-all", json!({"defaultPlacement": on(&["eu-1"])})),
        ]
    };
    let cases = [
        Case {
            name: "default placement from the first selecting non-audit policy",
            namespace: "shop",
            spec: json!({"template": {}}),
            policies: shop_default(),
            want_spec: json!({"template": {}, "placement": eu.clone()}),
            warnings: &[
                "spec.placement was not set; it was filled in from the defaultPlacement of FederationPolicy \
                         \"b-shop\"",
            ],
        },
        Case {
            name: "an empty placement is defaulted too",
            namespace: "other",
            spec: json!({"template": {}, "placement": {}}),
            policies: shop_default(),
            want_spec: json!({"template": {}, "placement": on(&["eu-1"])}),
            warnings: &[
                "spec.placement was not set; it was filled in from the defaultPlacement of FederationPolicy \
                         \"c-all\"",
            ],
        },
        Case {
            name: "an explicit empty list is a choice and is kept",
            namespace: "shop",
            spec: json!({"placement": {"clusters": []}}),
            policies: shop_default(),
            want_spec: json!({"placement": {"clusters": []}}),
            warnings: &[],
        },
        Case {
            name: "no policy, no default",
            namespace: "shop",
            spec: json!({"template": {}}),
            policies: vec![],
            want_spec: json!({"template": {}}),
            warnings: &[],
        },
        Case {
            name: "server-set template fields are dropped",
            namespace: "shop",
            spec: json!({"placement": on(&["eu-1"]), "template": {
                "metadata": {"uid": "u", "resourceVersion": "7", "creationTimestamp": "2025-01-01T00:00:00Z",
                    "labels": {"app": "web"}, "managedFields": [{}],
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "shop"}},
                "spec": {"replicas": 2, "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "web"}}}},
                "status": {"replicas": 2}}}),
            policies: vec![],
            want_spec: json!({"placement": on(&["eu-1"]), "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"team": "shop"}},
                "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}}}}}}),
            warnings: &[
                "removed fields an API server sets from spec.template (status, metadata.uid, \
                         metadata.resourceVersion, metadata.creationTimestamp, metadata.managedFields, \
                         metadata.annotations[\"kubectl.kubernetes.io/last-applied-configuration\"], \
                         spec.template.metadata.creationTimestamp); each member cluster sets its own",
            ],
        },
    ];
    for c in cases {
        let snap = snapshot(c.policies);
        let obj = fed("FederatedDeployment", Some(c.namespace), "web", c.spec);
        let m = mutate(&input(Operation::Create, &obj, None), &snap);
        assert_eq!(m.warnings, c.warnings, "{}: warnings", c.name);
        let mutated = apply(&obj, &m.patch);
        assert_eq!(mutated.data["spec"], c.want_spec, "{}: spec", c.name);
        // Idempotent: mutating the result changes nothing.
        let again = mutate(&input(Operation::Create, &mutated, None), &snap);
        assert!(
            again.patch.is_empty(),
            "{}: second mutation {:?}",
            c.name,
            again.patch
        );
        // The defaulted object is then validated like any other.
        let d = validate(&input(Operation::Create, &mutated, None), &snap);
        assert!(
            d.denials.iter().all(|x| x.reason != Reason::Invalid),
            "{}: {:?}",
            c.name,
            d.denials
        );
    }
}

#[test]
fn mutation_leaves_other_kinds_deletes_and_deleting_objects_alone() {
    let snap = snapshot(vec![policy("d", json!({"defaultPlacement": on(&["eu-1"])}))]);
    let obj = fed(
        "FederatedDeployment",
        Some("shop"),
        "web",
        json!({"template": {"status": {}}}),
    );
    assert!(
        mutate(&input(Operation::Delete, &obj, None), &snap)
            .patch
            .is_empty()
    );
    let mut deleting = obj.clone();
    deleting.metadata.deletion_timestamp = serde_json::from_value(json!("2025-01-01T00:00:00Z")).ok();
    assert!(
        mutate(&input(Operation::Update, &deleting, Some(&obj)), &snap)
            .patch
            .is_empty()
    );
    let cluster = object(
        "core.kubefed.io/v1beta1",
        "KubeFedCluster",
        Some(SYSTEM),
        "eu-1",
        json!({}),
    );
    assert!(
        mutate(&input(Operation::Create, &cluster, None), &snap)
            .patch
            .is_empty()
    );
}

#[test]
fn kubefed_config_is_defaulted_once() {
    let snap = snapshot(vec![]);
    let obj = object(
        "core.kubefed.io/v1beta1",
        "KubeFedConfig",
        Some(SYSTEM),
        "kubefed",
        json!({"scope": "Namespaced", "clusterHealthCheck": {"period": "30s"}}),
    );
    let m = mutate(&input(Operation::Create, &obj, None), &snap);
    assert_eq!(m.patch.len(), 1);
    let defaulted = apply(&obj, &m.patch);
    let spec = &defaulted.data["spec"];
    assert_eq!(spec["scope"], "Namespaced");
    assert_eq!(
        spec["clusterHealthCheck"],
        json!({"period": "30s", "failureThreshold": 3, "successThreshold": 1, "timeout": "3s"})
    );
    assert_eq!(spec["leaderElect"]["resourceLock"], "leases");
    assert_eq!(spec["syncController"]["adoptResources"], "Enabled");
    assert!(
        mutate(&input(Operation::Create, &defaulted, None), &snap)
            .patch
            .is_empty()
    );
    let d = validate(&input(Operation::Create, &defaulted, None), &snap);
    assert_eq!(d, Decision::default());
}

fn core_findings(kind: &str, namespace: &str, name: &str, spec: Value, snap: &Snapshot) -> Decision {
    let obj = object("core.kubefed.io/v1beta1", kind, Some(namespace), name, spec);
    validate(&input(Operation::Create, &obj, None), snap)
}

struct CoreCase {
    name: &'static str,
    object_name: &'static str,
    namespace: &'static str,
    spec: Value,
    errors: &'static [&'static str],
    warnings: &'static [&'static str],
}

fn run_core(kind: &str, cases: Vec<CoreCase>) {
    let snap = snapshot(vec![]);
    for c in cases {
        let d = core_findings(kind, c.namespace, c.object_name, c.spec, &snap);
        let errors: Vec<&str> = d.denials.iter().map(|x| x.message.as_str()).collect();
        assert_eq!(errors, c.errors, "{}: errors", c.name);
        assert!(
            d.denials.iter().all(|x| x.reason == Reason::Invalid),
            "{}",
            c.name
        );
        assert_eq!(d.warnings, c.warnings, "{}: warnings", c.name);
        assert!(d.propagate.is_none(), "{}", c.name);
    }
}

fn ftc_spec(target: Value, federated: Value) -> Value {
    json!({"targetType": target, "federatedType": federated, "propagation": "Enabled"})
}

#[test]
fn federated_type_configs() {
    let deploy = json!({"group": "apps", "version": "v1", "kind": "Deployment", "pluralName": "deployments", "scope": "Namespaced"});
    let fdeploy = |scope: &str| {
        json!({"group": "types.kubefed.io", "version": "v1beta1", "kind": "FederatedDeployment",
               "pluralName": "federateddeployments", "scope": scope})
    };
    let widget = json!({"group": "example.com", "version": "v1", "kind": "Widget", "pluralName": "widgets", "scope": "Namespaced"});
    let fwidget = json!({"group": "types.kubefed.io", "version": "v1beta1", "kind": "FederatedWidget",
                         "pluralName": "federatedwidgets", "scope": "Namespaced"});
    run_core(
        "FederatedTypeConfig",
        vec![
            CoreCase {
                name: "a new type",
                object_name: "widgets.example.com",
                namespace: SYSTEM,
                spec: ftc_spec(widget.clone(), fwidget.clone()),
                errors: &[],
                warnings: &[],
            },
            CoreCase {
                name: "the existing config itself (an update)",
                object_name: "deployments.apps",
                namespace: SYSTEM,
                spec: ftc_spec(deploy.clone(), fdeploy("Namespaced")),
                errors: &[],
                warnings: &[],
            },
            CoreCase {
                name: "plural and group defaulted from the name",
                object_name: "widgets.example.com",
                namespace: SYSTEM,
                spec: ftc_spec(
                    json!({"version": "v1", "kind": "Widget", "scope": "Namespaced"}),
                    fwidget.clone(),
                ),
                errors: &[],
                warnings: &[],
            },
            CoreCase {
                name: "name is not plural.group",
                object_name: "gadgets.example.com",
                namespace: SYSTEM,
                spec: ftc_spec(widget.clone(), fwidget.clone()),
                errors: &[
                    "metadata.name \"gadgets.example.com\" must be \"widgets.example.com\" \
                           (<targetType.pluralName>.<targetType.group>, or the plural alone for the core group); \
                           rename the FederatedTypeConfig or fix spec.targetType",
                ],
                warnings: &[],
            },
            CoreCase {
                name: "the name namespaces is reserved",
                object_name: "namespaces",
                namespace: SYSTEM,
                spec: ftc_spec(
                    json!({"version": "v1", "kind": "Widget", "scope": "Namespaced"}),
                    json!({"group": "types.kubefed.io", "version": "v1beta1", "kind": "FederatedWidget",
                           "pluralName": "federatedwidgets", "scope": "Namespaced"}),
                ),
                errors: &[
                    "metadata.name \"namespaces\" is reserved for the core Namespace type; set spec.targetType to \
                           {version: v1, kind: Namespace, scope: Cluster}",
                ],
                warnings: &[],
            },
            CoreCase {
                name: "malformed names",
                object_name: "widgets.example.com",
                namespace: SYSTEM,
                spec: ftc_spec(
                    json!({"group": "example.com", "version": "V1", "kind": "widget", "pluralName": "widgets", "scope": "Namespaced"}),
                    json!({"group": "types.kubefed.io", "version": "v1beta1", "kind": "", "pluralName": "", "scope": "Namespaced"}),
                ),
                errors: &[
                    "spec.targetType.kind \"widget\" is not a CamelCase kind (a capital letter, then letters and \
                     digits), e.g. Deployment",
                    "spec.targetType.version: \"V1\" is not a valid DNS-1123 label: use at most 63 lower-case letters, \
                     digits or '-', starting and ending with a letter or digit (e.g. my-name)",
                    "spec.federatedType.kind is empty; set the CamelCase kind, e.g. Deployment",
                    "spec.federatedType.pluralName is empty; set it, e.g. federated<plural of the target>",
                ],
                warnings: &[],
            },
            CoreCase {
                name: "federated scope differs from the target's",
                object_name: "deployments.apps",
                namespace: SYSTEM,
                spec: ftc_spec(deploy.clone(), fdeploy("Cluster")),
                errors: &[
                    "spec.federatedType.scope is Cluster but must be Namespaced for a target of scope Namespaced; \
                           set it to Namespaced",
                ],
                warnings: &[],
            },
            CoreCase {
                name: "a FederatedNamespace is namespaced",
                object_name: "namespaces",
                namespace: SYSTEM,
                spec: ftc_spec(
                    json!({"version": "v1", "kind": "Namespace", "pluralName": "namespaces", "scope": "Cluster"}),
                    json!({"group": "types.kubefed.io", "version": "v1beta1", "kind": "FederatedNamespace",
                           "pluralName": "federatednamespaces", "scope": "Cluster"}),
                ),
                errors: &[
                    "spec.federatedType.scope is Cluster but must be Namespaced for a target of scope Cluster (a \
                           FederatedNamespace lives in the namespace it federates); set it to Namespaced",
                ],
                warnings: &[],
            },
            CoreCase {
                name: "two configs for one federated kind",
                object_name: "deployments.extensions",
                namespace: SYSTEM,
                spec: ftc_spec(
                    json!({"group": "extensions", "version": "v1beta1", "kind": "Deployment", "pluralName": "deployments", "scope": "Namespaced"}),
                    fdeploy("Namespaced"),
                ),
                errors: &[
                    "spec.federatedType: FederatedTypeConfig \"deployments.apps\" already federates \
                           FederatedDeployment (types.kubefed.io); two configs cannot share a federated type, so \
                           delete one of them",
                ],
                warnings: &[],
            },
            CoreCase {
                name: "unusual federated group and kind, outside the system namespace",
                object_name: "widgets.example.com",
                namespace: "default",
                spec: ftc_spec(
                    widget.clone(),
                    json!({"group": "fed.example.com", "version": "v1", "kind": "MultiWidget",
                           "pluralName": "multiwidgets", "scope": "Namespaced"}),
                ),
                errors: &[],
                warnings: &[
                    "spec.federatedType.group \"fed.example.com\" is not types.kubefed.io: the admission webhook and \
                     the chart cover only types.kubefed.io, so objects of this type are not validated",
                    "spec.federatedType.kind \"MultiWidget\" is not \"FederatedWidget\"; kubectl fed and the docs assume \
                     Federated<Kind>",
                    "the controller reads FederatedTypeConfigs only in namespace kube-federation-system, so this one \
                     has no effect; create it there",
                ],
            },
        ],
    );
}

#[test]
fn kubefed_clusters() {
    let spec = |extra: Value| {
        let mut s = json!({"apiEndpoint": "https://10.0.0.1:6443", "secretRef": {"name": "eu-1-token"}});
        if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
            s.extend(extra.clone());
        }
        s
    };
    // base64 of a PEM header and of "hello".
    let pem = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=";
    run_core(
        "KubeFedCluster",
        vec![
            CoreCase {
                name: "valid",
                object_name: "eu-1",
                namespace: SYSTEM,
                spec: spec(json!({"caBundle": pem, "disabledTLSValidations": ["SubjectName"],
                                  "proxyURL": "http://proxy.example:3128"})),
                errors: &[],
                warnings: &[],
            },
            CoreCase {
                name: "bad endpoint and empty secret",
                object_name: "eu-1",
                namespace: SYSTEM,
                spec: json!({"apiEndpoint": "ftp://10.0.0.1", "secretRef": {"name": ""}}),
                errors: &[
                    "spec.apiEndpoint \"ftp://10.0.0.1\" has scheme \"ftp\"; use https or http; write the member API \
                     server's URL, e.g. https://10.0.0.1:6443",
                    "spec.secretRef.name is empty; name the Secret (in kube-federation-system) whose \"token\" key \
                     authenticates to the member",
                ],
                warnings: &[],
            },
            CoreCase {
                name: "caBundle that is not PEM",
                object_name: "eu-1",
                namespace: SYSTEM,
                spec: spec(json!({"caBundle": "aGVsbG8="})),
                errors: &[
                    "spec.caBundle does not hold a PEM certificate; set it to the base64 of the member CA's PEM \
                           file (e.g. base64 -w0 ca.crt)",
                ],
                warnings: &[],
            },
            CoreCase {
                name: "wildcard with other TLS validations, and a repeat",
                object_name: "eu-1",
                namespace: SYSTEM,
                spec: spec(json!({"disabledTLSValidations": ["*", "SubjectName", "SubjectName"]})),
                errors: &[
                    "spec.disabledTLSValidations lists \"*\" with other values; \"*\" disables every check and \
                           must be the only entry",
                ],
                warnings: &["spec.disabledTLSValidations[2] repeats an earlier entry; remove it"],
            },
            CoreCase {
                name: "proxy without a scheme",
                object_name: "eu-1",
                namespace: SYSTEM,
                spec: spec(json!({"proxyURL": "proxy.example:3128"})),
                errors: &[
                    "spec.proxyURL \"proxy.example:3128\" has no scheme; write a proxy URL such as \
                           http://proxy.example:3128",
                ],
                warnings: &[],
            },
            CoreCase {
                name: "outside the system namespace",
                object_name: "eu-1",
                namespace: "default",
                spec: spec(json!({})),
                errors: &[],
                warnings: &[
                    "the controller reads KubeFedClusters only in namespace kube-federation-system, so this one \
                             has no effect; create it there",
                ],
            },
        ],
    );
}

#[test]
fn kubefed_configs() {
    run_core(
        "KubeFedConfig",
        vec![
            CoreCase {
                name: "empty spec is valid once defaulted",
                object_name: "kubefed",
                namespace: SYSTEM,
                spec: json!({}),
                errors: &[],
                warnings: &[],
            },
            CoreCase {
                name: "durations that do not parse",
                object_name: "kubefed",
                namespace: SYSTEM,
                spec: json!({"controllerDuration": {"availableDelay": "10"}, "clusterHealthCheck": {"period": "-5s"}}),
                errors: &[
                    "spec.controllerDuration.availableDelay: \"10\" is not a duration; write a number with a unit, e.g. \
                     \"10s\", \"1m30s\" or \"500ms\"",
                    "spec.clusterHealthCheck.period: \"-5s\" is negative; durations here must be 0 or more",
                ],
                warnings: &[],
            },
            CoreCase {
                name: "leader election timings out of order",
                object_name: "kubefed",
                namespace: SYSTEM,
                spec: json!({"leaderElect": {"leaseDuration": "10s", "renewDeadline": "10s", "retryPeriod": "15s",
                             "resourceLock": "zookeeper"}}),
                errors: &[
                    "spec.leaderElect.resourceLock \"zookeeper\" is not a lock kind; use one of leases, configmaps, \
                     endpoints, configmapsleases, endpointsleases",
                    "spec.leaderElect.leaseDuration (10s) must be longer than renewDeadline (10s); raise leaseDuration \
                     or lower renewDeadline",
                    "spec.leaderElect.renewDeadline (10s) must be longer than retryPeriod (15s); raise renewDeadline \
                     or lower retryPeriod",
                ],
                warnings: &[],
            },
            CoreCase {
                name: "thresholds and concurrency below 1",
                object_name: "kubefed",
                namespace: SYSTEM,
                spec: json!({"clusterHealthCheck": {"failureThreshold": 0, "successThreshold": -1},
                             "syncController": {"maxConcurrentReconciles": 0}}),
                errors: &[
                    "spec.clusterHealthCheck.failureThreshold is 0; it must be 1 or more",
                    "spec.clusterHealthCheck.successThreshold is -1; it must be 1 or more",
                    "spec.syncController.maxConcurrentReconciles is 0; it must be 1 or more (or unset for the default)",
                ],
                warnings: &[],
            },
            CoreCase {
                name: "feature gates repeated or unknown",
                object_name: "kubefed",
                namespace: SYSTEM,
                spec: json!({"featureGates": [{"name": "PushReconciler", "configuration": "Enabled"},
                    {"name": "PushReconciler", "configuration": "Disabled"}, {"name": "Teleport", "configuration": "Enabled"}]}),
                errors: &[
                    "spec.featureGates[1]: gate \"PushReconciler\" is listed twice (first at [0]); keep one",
                ],
                warnings: &[
                    "spec.featureGates[2]: unknown feature gate \"Teleport\" is ignored; known gates: \
                             PushReconciler, SchedulerPreferences, CrossClusterServiceDiscovery, FederatedIngress, \
                             RawResourceStatusCollection",
                ],
            },
            CoreCase {
                name: "probe timeout not below its period, wrong name and namespace",
                object_name: "other",
                namespace: "default",
                spec: json!({"clusterHealthCheck": {"period": "5s", "timeout": "5s"}}),
                errors: &[],
                warnings: &[
                    "spec.clusterHealthCheck.timeout (5s) is not shorter than its period (5s), so probes overlap; lower \
                     the timeout",
                    "the controller reads only the KubeFedConfig named \"kubefed\", so this one has no effect",
                    "the controller reads the KubeFedConfig only in namespace kube-federation-system, so this one has no \
                     effect; create it there",
                ],
            },
        ],
    );
}

#[test]
fn replica_scheduling_preferences() {
    struct Case {
        name: &'static str,
        spec: Value,
        errors: &'static [&'static str],
        warnings: &'static [&'static str],
        propagate: Option<&'static [&'static str]>,
    }
    let cases = [
        Case {
            name: "weights over every cluster",
            spec: json!({"targetKind": "FederatedDeployment", "totalReplicas": 9, "clusters": {"*": {"weight": 1}}}),
            errors: &[],
            warnings: &[],
            propagate: Some(&["*"]),
        },
        Case {
            name: "no preferences spreads over every cluster",
            spec: json!({"targetKind": "FederatedDeployment", "totalReplicas": 9}),
            errors: &[],
            warnings: &[],
            propagate: Some(&["*"]),
        },
        Case {
            name: "intersected with the placement: only the named clusters",
            spec: json!({"targetKind": "FederatedReplicaSet", "totalReplicas": 3, "intersectWithClusterSelector": true,
                         "clusters": {"*": {"weight": 1}, "eu-1": {"minReplicas": 1}}}),
            errors: &[],
            warnings: &[],
            propagate: Some(&["eu-1"]),
        },
        Case {
            name: "negative total and min above max",
            spec: json!({"targetKind": "FederatedDeployment", "totalReplicas": -1,
                         "clusters": {"eu-1": {"minReplicas": 3, "maxReplicas": 2}}}),
            errors: &["spec.totalReplicas is -1; it must be 0 or more"],
            warnings: &[],
            propagate: Some(&["eu-1"]),
        },
        Case {
            name: "min above max",
            spec: json!({"targetKind": "FederatedDeployment", "totalReplicas": 5,
                         "clusters": {"eu-1": {"minReplicas": 3, "maxReplicas": 2}}}),
            errors: &[
                "spec.clusters[\"eu-1\"].minReplicas (3) is greater than its maxReplicas (2); lower minReplicas \
                       or raise maxReplicas",
            ],
            warnings: &[],
            propagate: Some(&["eu-1"]),
        },
        Case {
            name: "an unjoined cluster",
            spec: json!({"targetKind": "FederatedDeployment", "totalReplicas": 5, "clusters": {"ap-1": {"weight": 1}}}),
            errors: &[],
            warnings: &[
                "spec.clusters[\"ap-1\"]: cluster \"ap-1\" is not joined, so its preferences have no effect yet",
            ],
            propagate: Some(&["ap-1"]),
        },
        Case {
            name: "wrong shape",
            spec: json!({"targetKind": "FederatedJob", "totalReplicas": 5}),
            errors: &[
                "spec: unknown variant `FederatedJob`, expected `FederatedDeployment` or `FederatedReplicaSet`; \
                       fix the field's type or remove it",
            ],
            warnings: &[],
            propagate: None,
        },
    ];
    let snap = snapshot(vec![]);
    for c in cases {
        let obj = object(
            "scheduling.kubefed.io/v1alpha1",
            "ReplicaSchedulingPreference",
            Some("shop"),
            "web",
            c.spec,
        );
        let d = validate(&input(Operation::Create, &obj, None), &snap);
        let errors: Vec<&str> = d.denials.iter().map(|x| x.message.as_str()).collect();
        assert_eq!(errors, c.errors, "{}: errors", c.name);
        assert_eq!(d.warnings, c.warnings, "{}: warnings", c.name);
        let got = propagated(&d);
        assert_eq!(got.as_deref(), c.propagate, "{}: propagate", c.name);
        if let Some(p) = &d.propagate {
            assert_eq!(p.field, "spec.clusters");
        }
    }
}

#[test]
fn federation_policies_are_validated() {
    let snap = snapshot(vec![]);
    let obj = object(
        "policy.kubefed.io/v1alpha1",
        "FederationPolicy",
        None,
        "p",
        json!({"minClusters": 3, "maxClusters": 2}),
    );
    let d = validate(&input(Operation::Create, &obj, None), &snap);
    assert_eq!(
        denials(&d),
        [(
            Reason::Invalid,
            "spec.minClusters (3) is greater than spec.maxClusters (2), so no placement can satisfy the policy; lower \
             minClusters or raise maxClusters"
        )]
    );
    let bad = object(
        "policy.kubefed.io/v1alpha1",
        "FederationPolicy",
        None,
        "p",
        json!({"minClusters": "two"}),
    );
    let d = validate(&input(Operation::Create, &bad, None), &snap);
    assert_eq!(
        denials(&d),
        [(
            Reason::Invalid,
            "spec: invalid type: string \"two\", expected i32; fix the field's type or remove it"
        )]
    );
}

#[test]
fn unknown_kinds_deletes_and_connects_are_allowed() {
    let snap = snapshot(vec![policy("none", json!({"maxClusters": 0}))]);
    let cm = object("v1", "ConfigMap", Some("shop"), "x", json!({}));
    assert_eq!(
        validate(&input(Operation::Create, &cm, None), &snap),
        Decision::default()
    );
    let obj = fed(
        "FederatedDeployment",
        Some("shop"),
        "web",
        deployment(on(&["eu-1"])),
    );
    for op in [Operation::Delete, Operation::Connect] {
        assert_eq!(validate(&input(op, &obj, None), &snap), Decision::default());
    }
}

#[test]
fn messages_and_reasons() {
    let mut d = Decision::default();
    assert_eq!(d.message(), "");
    d.deny(Reason::TooFewClusters, "one");
    assert_eq!(d.message(), "one");
    d.deny(Reason::Invalid, "two");
    assert_eq!(d.message(), "2 problems: (1) one; (2) two");
    assert_eq!(d.reason(), Some(Reason::TooFewClusters));
    assert_eq!(Reason::Invalid.code(), 422);
    assert_eq!(Reason::PropagateForbidden.code(), 403);
    assert_eq!(Reason::PropagateCheckFailed.code(), 500);
    assert_eq!(Reason::SpreadNotMet.to_string(), "SpreadNotMet");

    let deny = propagate_denial("alice", "spec.placement", &["member-2".into()], SYSTEM);
    assert_eq!(deny.reason, Reason::PropagateForbidden);
    assert_eq!(
        deny.message,
        "user \"alice\" may not propagate to cluster \"member-2\": placing objects on a cluster needs verb \"propagate\" \
         on kubefedclusters.core.kubefed.io with resourceName the cluster, in namespace kube-federation-system; remove \
         it from spec.placement, or ask a platform admin for a Role with apiGroups [core.kubefed.io], resources \
         [kubefedclusters], resourceNames [member-2], verbs [propagate]"
    );
    let two = propagate_denial("bob", "spec.clusters", &["a".into(), "b".into()], SYSTEM);
    assert!(
        two.message
            .starts_with("user \"bob\" may not propagate to clusters \"a\", \"b\": "),
        "{}",
        two.message
    );
    assert!(
        two.message.contains("remove them from spec.clusters"),
        "{}",
        two.message
    );
    assert_eq!(
        propagate_check_failed("timeout").message,
        "cannot check the \"propagate\" permission on the target clusters (timeout); retry, and if it persists check \
         the webhook's access to subjectaccessreviews.authorization.k8s.io"
    );
}

#[test]
fn input_from_a_manifest() {
    let obj = fed("FederatedDeployment", Some("shop"), "web", json!({}));
    let i = AdmissionInput::create(&obj);
    assert_eq!(
        (i.group, i.kind, i.namespace, i.name),
        ("types.kubefed.io", "FederatedDeployment", Some("shop"), "web")
    );
    let mut generated = obj.clone();
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("web-".into());
    assert_eq!(AdmissionInput::create(&generated).object_name(), "web-");
}

#[test]
fn native_equivalence_asks_only_what_the_request_does_on_members() {
    let snap = snapshot(vec![]);
    let asked = |d: &Decision| -> Vec<String> { d.access.iter().map(|c| c.access.to_string()).collect() };
    let create = fed(
        "FederatedDeployment",
        Some("all"),
        "web",
        deployment(on(&["eu-1"])),
    );
    let d = validate(&input(Operation::Create, &create, None), &snap);
    assert_eq!(asked(&d), ["create deployments.apps in namespace \"all\""]);
    // Adding a cluster creates there; changing the template updates where it already is.
    let wider = fed(
        "FederatedDeployment",
        Some("all"),
        "web",
        deployment(on(&["eu-1", "us-1"])),
    );
    let d = validate(&input(Operation::Update, &wider, Some(&create)), &snap);
    assert_eq!(asked(&d), ["create deployments.apps in namespace \"all\""]);
    let mut changed = deployment(on(&["eu-1"]));
    changed["template"]["spec"]["replicas"] = json!(2);
    let changed = fed("FederatedDeployment", Some("all"), "web", changed);
    let d = validate(&input(Operation::Update, &changed, Some(&create)), &snap);
    assert_eq!(
        asked(&d),
        ["update deployments.apps \"web\" in namespace \"all\""]
    );
    // Narrowing asks nothing.
    let d = validate(&input(Operation::Update, &create, Some(&wider)), &snap);
    assert!(d.access.is_empty() && d.propagate.is_none(), "{d:?}");
    // Off: nothing asked.
    let mut off = snap.clone();
    off.settings.native_equivalence = false;
    let d = validate(&input(Operation::Create, &create, None), &off);
    assert!(d.access.is_empty());
    // A FederatedNamespace: the namespace itself, by name, cluster-wide.
    let ns = fed(
        "FederatedNamespace",
        Some("all"),
        "all",
        json!({"placement": on(&["eu-1"])}),
    );
    let d = validate(&input(Operation::Create, &ns, None), &snap);
    assert_eq!(asked(&d), ["create namespaces \"all\" (cluster-wide)"]);
}

#[test]
fn unapplicable_overrides_are_denied_with_the_controllers_message() {
    let snap = snapshot(vec![]);
    let mut spec = deployment(on(&["eu-1", "us-1"]));
    spec["overrides"] = json!([{"clusterSelector": {},
        "clusterOverrides": [{"op": "remove", "path": "/spec/doesnotexist/x"}, {"path": "/spec/replicas", "value": "three"}]}]);
    let obj = fed("FederatedDeployment", Some("all"), "web", spec);
    let d = validate(&input(Operation::Create, &obj, None), &snap);
    let got = denials(&d);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, Reason::Invalid);
    assert!(
        got[0]
            .1
            .starts_with("spec.overrides[0].clusterOverrides[0]: remove /spec/doesnotexist/x failed: ")
            && got[0].1.contains(
                "(for clusters \"eu-1\", \"us-1\"; the controller would report ApplyOverridesFailed)"
            ),
        "{}",
        got[0].1
    );
    let check = d.type_check.expect("override values to type-check");
    assert_eq!(
        (check.group.as_str(), check.version.as_str(), check.kind.as_str()),
        ("apps", "v1", "Deployment")
    );
    assert_eq!(check.values.len(), 1);
    assert_eq!(
        check.values[0].field,
        "spec.overrides[0].clusterOverrides[1].value"
    );
}
