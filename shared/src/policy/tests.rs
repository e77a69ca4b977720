use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// eu-1 (region=eu, tier=prod), eu-2 (region=eu), us-1 (region=us, tier=prod), sorted by name.
fn clusters() -> Vec<ClusterInfo> {
    vec![
        ClusterInfo::new("eu-1", labels(&[("region", "eu"), ("tier", "prod")]), true),
        ClusterInfo::new("eu-2", labels(&[("region", "eu")]), true),
        ClusterInfo::new("us-1", labels(&[("region", "us"), ("tier", "prod")]), false),
    ]
}

fn policy(name: &str, spec: serde_json::Value) -> FederationPolicy {
    let mut p: FederationPolicy = serde_json::from_value(json!({
        "apiVersion": "policy.kubefed.io/v1alpha1", "kind": "FederationPolicy",
        "metadata": {"name": name}, "spec": spec
    }))
    .expect("test policy decodes");
    p.metadata.name = Some(name.to_string());
    p
}

/// Targets naming `named`; the joined ones are those of [`clusters`].
fn targets<'a>(all: &'a [ClusterInfo], named: &[&str], by_selector: bool) -> Targets<'a> {
    Targets {
        named: named.iter().map(|s| (*s).to_string()).collect(),
        joined: all.iter().filter(|c| named.contains(&c.name.as_str())).collect(),
        by_selector,
    }
}

const DEPLOY: Subject<'static> = Subject {
    kind: "FederatedDeployment",
    target_kind: Some("Deployment"),
    target_group: Some("apps"),
    labels: None,
    namespace: Some("shop"),
    name: "web",
};

#[test]
fn selection_by_kind_and_namespace() {
    struct Case {
        name: &'static str,
        spec: serde_json::Value,
        subject: Subject<'static>,
        namespace_labels: Option<&'static [(&'static str, &'static str)]>,
        want: bool,
    }
    let cluster_role = Subject {
        kind: "FederatedClusterRole",
        target_kind: Some("ClusterRole"),
        target_group: Some("rbac.authorization.k8s.io"),
        labels: None,
        namespace: None,
        name: "reader",
    };
    let cases = [
        Case {
            name: "empty match selects everything",
            spec: json!({}),
            subject: DEPLOY,
            namespace_labels: None,
            want: true,
        },
        Case {
            name: "empty match selects cluster-scoped",
            spec: json!({}),
            subject: cluster_role,
            namespace_labels: None,
            want: true,
        },
        Case {
            name: "federated kind",
            spec: json!({"match": {"kinds": ["FederatedDeployment"]}}),
            subject: DEPLOY,
            namespace_labels: None,
            want: true,
        },
        Case {
            name: "target kind",
            spec: json!({"match": {"kinds": ["Service", "Deployment"]}}),
            subject: DEPLOY,
            namespace_labels: None,
            want: true,
        },
        Case {
            name: "other kind",
            spec: json!({"match": {"kinds": ["Service"]}}),
            subject: DEPLOY,
            namespace_labels: None,
            want: false,
        },
        Case {
            name: "namespace labels match",
            spec: json!({"match": {"namespaceSelector": {"matchLabels": {"team": "shop"}}}}),
            subject: DEPLOY,
            namespace_labels: Some(&[("team", "shop")]),
            want: true,
        },
        Case {
            name: "namespace labels do not match",
            spec: json!({"match": {"namespaceSelector": {"matchLabels": {"team": "shop"}}}}),
            subject: DEPLOY,
            namespace_labels: Some(&[("team", "ads")]),
            want: false,
        },
        Case {
            name: "unknown namespace matches by its name label",
            spec: json!({"match": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}}}),
            subject: DEPLOY,
            namespace_labels: None,
            want: true,
        },
        Case {
            name: "namespace selector never selects cluster-scoped objects",
            spec: json!({"match": {"namespaceSelector": {}}}),
            subject: cluster_role,
            namespace_labels: None,
            want: false,
        },
        Case {
            name: "both conditions must hold",
            spec: json!({"match": {"kinds": ["Service"], "namespaceSelector": {"matchLabels": {"team": "shop"}}}}),
            subject: DEPLOY,
            namespace_labels: Some(&[("team", "shop")]),
            want: false,
        },
    ];
    for c in cases {
        let policies = [policy("p", c.spec)];
        let ns = c.namespace_labels.map(labels);
        let (selected, broken) = selecting(&policies, &c.subject, ns.as_ref());
        assert!(broken.is_empty(), "{}", c.name);
        assert_eq!(selected.len(), usize::from(c.want), "{}", c.name);
    }
}

#[test]
fn a_malformed_namespace_selector_fails_closed() {
    let policies = [policy(
        "broken",
        json!({"match": {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Equals", "values": ["a"]}]}}}),
    )];
    let (selected, broken) = selecting(&policies, &DEPLOY, None);
    assert!(selected.is_empty());
    assert_eq!(
        broken,
        vec![Violation {
            policy: "broken".into(),
            enforcement: Enforcement::Deny,
            rule: "match".into(),
            reason: Reason::PolicyInvalid,
            message: "policy \"broken\": spec.match.namespaceSelector.matchExpressions[0].operator: unknown operator \
                      \"Equals\"; use In, NotIn, Exists or DoesNotExist; the policy cannot be evaluated until a \
                      platform admin fixes it"
                .into(),
        }]
    );
}

#[test]
fn rules() {
    struct Case {
        name: &'static str,
        spec: serde_json::Value,
        named: &'static [&'static str],
        by_selector: bool,
        want: &'static [(&'static str, Reason, &'static str)],
    }
    let cases = [
        Case {
            name: "no rules, no violation",
            spec: json!({}),
            named: &["eu-1", "us-1"],
            by_selector: false,
            want: &[],
        },
        Case {
            name: "allowed by label, one listed cluster outside",
            spec: json!({"allowedClusters": {"selector": {"matchLabels": {"region": "eu"}}}}),
            named: &["eu-1", "us-1"],
            by_selector: false,
            want: &[(
                "allowedClusters",
                Reason::ClusterNotAllowed,
                "policy \"p\": spec.placement.clusters names cluster \"us-1\", which the policy does not allow \
                 (allowedClusters: labels region=eu); remove it from spec.placement.clusters; allowed: eu-1, eu-2",
            )],
        },
        Case {
            name: "allowed by name, selector selects others",
            spec: json!({"allowedClusters": {"names": ["eu-1"]}}),
            named: &["eu-1", "eu-2", "us-1"],
            by_selector: true,
            want: &[(
                "allowedClusters",
                Reason::ClusterNotAllowed,
                "policy \"p\": spec.placement.clusterSelector selects clusters \"eu-2\", \"us-1\", which the policy \
                 does not allow (allowedClusters: names [eu-1]); narrow spec.placement.clusterSelector to allowed \
                 clusters, or list allowed clusters in spec.placement.clusters: eu-1",
            )],
        },
        Case {
            name: "an unjoined listed cluster has no labels",
            spec: json!({"allowedClusters": {"selector": {"matchLabels": {"region": "eu"}}}}),
            named: &["ap-1", "eu-1"],
            by_selector: false,
            want: &[(
                "allowedClusters",
                Reason::ClusterNotAllowed,
                "policy \"p\": spec.placement.clusters names cluster \"ap-1\", which the policy does not allow \
                 (allowedClusters: labels region=eu); remove it from spec.placement.clusters; allowed: eu-1, eu-2",
            )],
        },
        Case {
            name: "allowed set that allows nothing joined",
            spec: json!({"allowedClusters": {"names": ["ap-1"]}}),
            named: &["eu-1"],
            by_selector: false,
            want: &[(
                "allowedClusters",
                Reason::ClusterNotAllowed,
                "policy \"p\": spec.placement.clusters names cluster \"eu-1\", which the policy does not allow \
                 (allowedClusters: names [ap-1]); no joined cluster is allowed; ask a platform admin",
            )],
        },
        Case {
            name: "denied by name via selector",
            spec: json!({"deniedClusters": {"names": ["us-1"]}}),
            named: &["eu-1", "eu-2", "us-1"],
            by_selector: true,
            want: &[(
                "deniedClusters",
                Reason::ClusterDenied,
                "policy \"p\": spec.placement.clusterSelector selects cluster \"us-1\", which the policy denies \
                 (deniedClusters: names [us-1]); narrow spec.placement.clusterSelector so it does not select it \
                 (e.g. a matchExpressions NotIn), or list clusters in spec.placement.clusters",
            )],
        },
        Case {
            name: "denied by expression, listed",
            spec: json!({"deniedClusters": {"selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["prod"]}]}}}),
            named: &["eu-1", "eu-2", "us-1"],
            by_selector: false,
            want: &[(
                "deniedClusters",
                Reason::ClusterDenied,
                "policy \"p\": spec.placement.clusters names clusters \"eu-1\", \"us-1\", which the policy denies \
                 (deniedClusters: labels tier in (prod)); remove them from spec.placement.clusters",
            )],
        },
        Case {
            name: "denied wins over allowed",
            spec: json!({"allowedClusters": {"selector": {}}, "deniedClusters": {"names": ["eu-2"]}}),
            named: &["eu-2"],
            by_selector: false,
            want: &[(
                "deniedClusters",
                Reason::ClusterDenied,
                "policy \"p\": spec.placement.clusters names cluster \"eu-2\", which the policy denies \
                 (deniedClusters: names [eu-2]); remove it from spec.placement.clusters",
            )],
        },
        Case {
            name: "too few clusters suggests acceptable ones",
            spec: json!({"minClusters": 2, "deniedClusters": {"names": ["eu-2"]}}),
            named: &["eu-1"],
            by_selector: false,
            want: &[(
                "minClusters",
                Reason::TooFewClusters,
                "policy \"p\": spec.placement resolves to 1 joined cluster (eu-1), but the policy requires at least 2 \
                 (minClusters); add 1 cluster, e.g. us-1",
            )],
        },
        Case {
            name: "unjoined clusters do not count towards the minimum",
            spec: json!({"minClusters": 1}),
            named: &["ap-1"],
            by_selector: false,
            want: &[(
                "minClusters",
                Reason::TooFewClusters,
                "policy \"p\": spec.placement resolves to no joined cluster, but the policy requires at least 1 \
                 (minClusters); add 1 cluster, e.g. eu-1",
            )],
        },
        Case {
            name: "minimum met",
            spec: json!({"minClusters": 2, "maxClusters": 2}),
            named: &["eu-1", "us-1"],
            by_selector: false,
            want: &[],
        },
        Case {
            name: "too many clusters via selector",
            spec: json!({"maxClusters": 1}),
            named: &["eu-1", "eu-2", "us-1"],
            by_selector: true,
            want: &[(
                "maxClusters",
                Reason::TooManyClusters,
                "policy \"p\": spec.placement resolves to 3 joined clusters (eu-1, eu-2, us-1), but the policy allows \
                 at most 1 (maxClusters); narrow spec.placement.clusterSelector so it selects at most 1",
            )],
        },
        Case {
            name: "too many listed clusters",
            spec: json!({"maxClusters": 2}),
            named: &["eu-1", "eu-2", "us-1"],
            by_selector: false,
            want: &[(
                "maxClusters",
                Reason::TooManyClusters,
                "policy \"p\": spec.placement resolves to 3 joined clusters (eu-1, eu-2, us-1), but the policy allows \
                 at most 2 (maxClusters); remove 1 cluster from spec.placement.clusters",
            )],
        },
        Case {
            name: "spread not met",
            spec: json!({"spread": [{"label": "region", "minDistinct": 2}]}),
            named: &["eu-1", "eu-2"],
            by_selector: false,
            want: &[(
                "spread[0]",
                Reason::SpreadNotMet,
                "policy \"p\": spec.placement spans 1 distinct value (eu) of cluster label \"region\", but the policy \
                 requires at least 2 (spread[0].minDistinct); add clusters with other values, e.g. us-1 (region=us)",
            )],
        },
        Case {
            name: "clusters without the label do not count",
            spec: json!({"spread": [{"label": "region", "minDistinct": 1}, {"label": "tier", "minDistinct": 1}]}),
            named: &["eu-2"],
            by_selector: false,
            want: &[(
                "spread[1]",
                Reason::SpreadNotMet,
                "policy \"p\": spec.placement spans no value of cluster label \"tier\", but the policy requires at \
                 least 1 (spread[1].minDistinct); add clusters with other values, e.g. eu-1 (tier=prod)",
            )],
        },
        Case {
            name: "spread met",
            spec: json!({"spread": [{"label": "region", "minDistinct": 2}]}),
            named: &["eu-2", "us-1"],
            by_selector: false,
            want: &[],
        },
        Case {
            name: "every broken rule, in rule order",
            spec: json!({"allowedClusters": {"names": ["eu-1", "eu-2"]}, "deniedClusters": {"names": ["eu-2"]},
                "minClusters": 3, "spread": [{"label": "region", "minDistinct": 2}]}),
            named: &["eu-2"],
            by_selector: false,
            want: &[
                (
                    "deniedClusters",
                    Reason::ClusterDenied,
                    "policy \"p\": spec.placement.clusters names cluster \"eu-2\", which the policy denies \
                     (deniedClusters: names [eu-2]); remove it from spec.placement.clusters",
                ),
                (
                    "minClusters",
                    Reason::TooFewClusters,
                    "policy \"p\": spec.placement resolves to 1 joined cluster (eu-2), but the policy requires at \
                     least 3 (minClusters); add 2 clusters, e.g. eu-1",
                ),
                (
                    "spread[0]",
                    Reason::SpreadNotMet,
                    "policy \"p\": spec.placement spans 1 distinct value (eu) of cluster label \"region\", but the \
                     policy requires at least 2 (spread[0].minDistinct); no other joined cluster has another value; \
                     ask a platform admin",
                ),
            ],
        },
        Case {
            name: "a malformed cluster set fails closed",
            spec: json!({"allowedClusters": {"selector": {"matchExpressions": [{"key": "region", "operator": "In"}]}}}),
            named: &["eu-1"],
            by_selector: false,
            want: &[(
                "allowedClusters",
                Reason::PolicyInvalid,
                "policy \"p\": spec.allowedClusters.selector.matchExpressions[0].values: operator In needs at least \
                 one value; the policy cannot be evaluated until a platform admin fixes it",
            )],
        },
    ];
    let all = clusters();
    for c in cases {
        let p = policy("p", c.spec);
        let got = check(&[&p], &targets(&all, c.named, c.by_selector), &all);
        let got: Vec<(&str, Reason, &str)> = got
            .iter()
            .map(|v| (v.rule.as_str(), v.reason, v.message.as_str()))
            .collect();
        assert_eq!(got, c.want, "{}", c.name);
    }
}

#[test]
fn several_policies_apply_in_name_order_with_their_own_enforcement() {
    let all = clusters();
    let policies = [
        policy("a-warn", json!({"enforcement": "Warn", "maxClusters": 1})),
        policy("b-deny", json!({"deniedClusters": {"names": ["us-1"]}})),
        policy("c-audit", json!({"enforcement": "Audit", "minClusters": 3})),
        policy(
            "d-other-kind",
            json!({"match": {"kinds": ["Service"]}, "maxClusters": 0}),
        ),
    ];
    let (selected, broken) = selecting(&policies, &DEPLOY, None);
    assert!(broken.is_empty());
    let got = check(&selected, &targets(&all, &["eu-1", "us-1"], false), &all);
    let got: Vec<(&str, Enforcement, &str)> = got
        .iter()
        .map(|v| (v.policy.as_str(), v.enforcement, v.rule.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("a-warn", Enforcement::Warn, "maxClusters"),
            ("b-deny", Enforcement::Deny, "deniedClusters"),
            ("c-audit", Enforcement::Audit, "minClusters"),
        ]
    );
}

#[test]
fn default_placement_from_the_first_non_audit_policy_by_name() {
    let placement = |region: &str| json!({"clusterSelector": {"matchLabels": {"region": region}}});
    let policies = [
        policy(
            "a-audit",
            json!({"enforcement": "Audit", "defaultPlacement": placement("ap")}),
        ),
        policy("b-none", json!({})),
        policy(
            "c-eu",
            json!({"enforcement": "Warn", "defaultPlacement": placement("eu")}),
        ),
        policy("d-us", json!({"defaultPlacement": placement("us")})),
    ];
    let refs: Vec<&FederationPolicy> = policies.iter().collect();
    assert_eq!(
        default_placement(&refs).and_then(|p| p.metadata.name.as_deref()),
        Some("c-eu")
    );
    assert!(default_placement(&refs[..2]).is_none());
}

#[test]
fn namespace_consistency_is_the_strictest_set_or_the_baseline() {
    let policies = [
        policy("a", json!({"namespaceConsistency": "Audit"})),
        policy("b", json!({})),
        policy("c", json!({"namespaceConsistency": "Warn"})),
        policy("d", json!({"namespaceConsistency": "Warn"})),
    ];
    let refs: Vec<&FederationPolicy> = policies.iter().collect();
    assert_eq!(
        namespace_consistency(&refs, Enforcement::Deny),
        (Enforcement::Warn, Some("c"))
    );
    assert_eq!(
        namespace_consistency(&refs[..1], Enforcement::Deny),
        (Enforcement::Audit, Some("a"))
    );
    assert_eq!(
        namespace_consistency(&refs[1..2], Enforcement::Deny),
        (Enforcement::Deny, None)
    );
    assert_eq!(
        namespace_consistency(&[], Enforcement::Warn),
        (Enforcement::Warn, None)
    );
}

#[test]
fn selectors_and_sets_are_described_like_kubectl() {
    let sel: LabelSelector = serde_json::from_value(json!({
        "matchLabels": {"region": "eu"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "zone", "operator": "NotIn", "values": ["z"]},
            {"key": "gpu", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"}
        ]
    }))
    .expect("selector");
    assert_eq!(
        describe_selector(&sel),
        "region=eu,tier in (a,b),zone notin (z),gpu,!legacy"
    );
    assert_eq!(describe_selector(&LabelSelector::default()), "{} (every cluster)");
    let set = ClusterSet {
        names: vec!["a".into(), "b".into()],
        selector: Some(sel),
    };
    assert!(describe_set(&set).starts_with("names [a, b] or labels region=eu,"));
    assert_eq!(describe_set(&ClusterSet::default()), "none");
}

#[test]
fn object_selector_matches_the_objects_own_labels() {
    let policies = [
        policy(
            "db",
            json!({"match": {"objectSelector": {"matchLabels": {"tier": "db"}}}}),
        ),
        policy(
            "broken",
            json!({"match": {"objectSelector": {"matchExpressions": [{"key": "tier", "operator": "In"}]}}}),
        ),
    ];
    let db = BTreeMap::from([("tier".to_string(), "db".to_string())]);
    let web = BTreeMap::from([("tier".to_string(), "web".to_string())]);
    let names = |s: &[&FederationPolicy]| -> Vec<String> {
        s.iter().filter_map(|p| p.metadata.name.clone()).collect()
    };
    let subject = |labels| Subject { labels, ..DEPLOY };
    let (selected, broken) = selecting(&policies, &subject(Some(&db)), None);
    assert_eq!(names(&selected), ["db"]);
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0].rule, "match");
    assert!(
        broken[0]
            .message
            .contains("spec.match.objectSelector.matchExpressions[0].values")
    );
    let (selected, _) = selecting(&policies, &subject(Some(&web)), None);
    assert!(selected.is_empty());
    let (selected, _) = selecting(&policies, &subject(None), None);
    assert!(
        selected.is_empty(),
        "an object without labels does not match tier=db"
    );
}

#[test]
fn forbidden_kinds_by_group_and_kind_or_wildcard() {
    let policies = [
        policy(
            "no-rbac",
            json!({"forbiddenKinds": [{"group": "rbac.authorization.k8s.io", "kind": "*"}]}),
        ),
        policy(
            "no-crb",
            json!({"enforcement": "Warn", "forbiddenKinds": [{"group": "rbac.authorization.k8s.io", "kind": "ClusterRoleBinding"}]}),
        ),
    ];
    let refs: Vec<&FederationPolicy> = policies.iter().collect();
    let role = Subject {
        kind: "FederatedClusterRole",
        target_kind: Some("ClusterRole"),
        target_group: Some("rbac.authorization.k8s.io"),
        labels: None,
        namespace: None,
        name: "r",
    };
    let got = check_kind(&refs, &role);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].policy.as_str(), got[0].reason, got[0].message.as_str()),
        (
            "no-rbac",
            Reason::KindForbidden,
            "policy \"no-rbac\": ClusterRole.rbac.authorization.k8s.io may not be federated (forbiddenKinds); create \
             it on each member cluster directly, or ask a platform admin"
        )
    );
    let crb = Subject {
        target_kind: Some("ClusterRoleBinding"),
        ..role
    };
    assert_eq!(check_kind(&refs, &crb).len(), 2);
    assert!(check_kind(&refs, &DEPLOY).is_empty());
}

#[test]
fn hints_never_suggest_a_cluster_a_deny_policy_or_rbac_rules_out() {
    let all = clusters();
    let policies = [
        policy("a-warn", json!({"enforcement": "Warn", "minClusters": 2})),
        policy("b-deny", json!({"deniedClusters": {"names": ["eu-2"]}})),
    ];
    let refs: Vec<&FederationPolicy> = policies.iter().collect();
    // Without b-deny the hint would be eu-2, the first acceptable cluster by name.
    let got = check_with(
        &refs[..1],
        &targets(&all, &["eu-1"], false),
        &all,
        &BTreeSet::<String>::new(),
    );
    assert!(
        got[0].message.ends_with("add 1 cluster, e.g. eu-2"),
        "{}",
        got[0].message
    );
    let got = check_with(
        &refs,
        &targets(&all, &["eu-1"], false),
        &all,
        &BTreeSet::<String>::new(),
    );
    assert_eq!(got.len(), 1);
    assert!(
        got[0].message.ends_with("add 1 cluster, e.g. us-1"),
        "{}",
        got[0].message
    );
    // Everything else ruled out by RBAC: no suggestion at all.
    let ruled_out: BTreeSet<String> = all.iter().map(|c| c.name.clone()).collect();
    let got = check_with(&refs, &targets(&all, &["eu-1"], false), &all, &ruled_out);
    assert!(
        got[0]
            .message
            .ends_with("no other joined cluster is acceptable to the policy; ask a platform admin"),
        "{}",
        got[0].message
    );
}
