//! Validation of FederationPolicy objects themselves: what the webhook refuses (a policy that cannot be
//! evaluated or can never be satisfied) and what it only warns about (a policy that is valid but probably
//! not what its author meant).

use crate::api::{ClusterSet, Enforcement, FederationPolicySpec};
use crate::findings::Findings;
use crate::selector::validate_selector;

/// Checks a FederationPolicy spec. Errors name the field and the fix; warnings flag rules that are valid
/// but suspicious (an `allowedClusters` that allows nothing, a default placement its own policy rejects).
pub fn validate_policy(spec: &FederationPolicySpec) -> Findings {
    let mut f = Findings::default();
    let m = &spec.match_;
    if let Some(sel) = &m.namespace_selector
        && let Err(e) = validate_selector(sel)
    {
        f.error(format!("spec.match.namespaceSelector.{e}"));
    }
    if let Some(sel) = &m.object_selector
        && let Err(e) = validate_selector(sel)
    {
        f.error(format!("spec.match.objectSelector.{e}"));
    }
    for (i, k) in spec.forbidden_kinds.iter().enumerate() {
        if k.kind != "*" && !looks_like_kind(&k.kind) {
            f.error(format!(
                "spec.forbiddenKinds[{i}].kind {:?} is not a kind; write a CamelCase target kind such as \
                 ClusterRoleBinding, or * for every kind of the group",
                k.kind
            ));
        }
        if k.group.contains('/') {
            f.error(format!(
                "spec.forbiddenKinds[{i}].group {:?} holds a version; write the group only, e.g. \
                 rbac.authorization.k8s.io (\"\" for the core group)",
                k.group
            ));
        }
    }
    for (i, kind) in m.kinds.iter().enumerate() {
        if !looks_like_kind(kind) {
            f.error(format!(
                "spec.match.kinds[{i}] {kind:?} is not a kind; write a CamelCase kind such as Deployment or \
                 FederatedDeployment"
            ));
        }
    }
    for (field, set) in [
        ("spec.allowedClusters", &spec.allowed_clusters),
        ("spec.deniedClusters", &spec.denied_clusters),
    ] {
        if let Some(set) = set {
            check_set(field, set, &mut f);
        }
    }
    if let Some(set) = &spec.allowed_clusters
        && set.names.is_empty()
        && set.selector.is_none()
    {
        f.warn(
            "spec.allowedClusters has neither names nor a selector, so it allows no cluster and every selected \
             object violates it; list names, set a selector ({} for every cluster), or remove allowedClusters"
                .to_string(),
        );
    }
    if let (Some(allowed), Some(denied)) = (&spec.allowed_clusters, &spec.denied_clusters) {
        let both: Vec<&str> = allowed
            .names
            .iter()
            .filter(|n| denied.names.contains(n))
            .map(String::as_str)
            .collect();
        if !both.is_empty() {
            f.warn(format!(
                "spec.allowedClusters.names and spec.deniedClusters.names both list {}; deniedClusters wins, so \
                 remove them from allowedClusters",
                both.join(", ")
            ));
        }
    }
    for (field, value) in [
        ("spec.minClusters", spec.min_clusters),
        ("spec.maxClusters", spec.max_clusters),
    ] {
        if let Some(n) = value
            && n < 0
        {
            f.error(format!("{field} is {n}; it must be 0 or more"));
        }
    }
    if let (Some(min), Some(max)) = (spec.min_clusters, spec.max_clusters)
        && min > max
    {
        f.error(format!(
            "spec.minClusters ({min}) is greater than spec.maxClusters ({max}), so no placement can satisfy the \
             policy; lower minClusters or raise maxClusters"
        ));
    }
    for (i, rule) in spec.spread.iter().enumerate() {
        if rule.label.trim().is_empty() {
            f.error(format!(
                "spec.spread[{i}].label is empty; name a KubeFedCluster label such as topology.kubernetes.io/region"
            ));
        }
        if rule.min_distinct < 1 {
            f.error(format!(
                "spec.spread[{i}].minDistinct is {}; it must be 1 or more",
                rule.min_distinct
            ));
        }
        if let Some(max) = spec.max_clusters
            && rule.min_distinct > max
            && max >= 0
        {
            f.error(format!(
                "spec.spread[{i}].minDistinct ({}) is greater than spec.maxClusters ({max}), so no placement can \
                 satisfy the policy; lower minDistinct or raise maxClusters",
                rule.min_distinct
            ));
        }
    }
    if let Some(p) = &spec.default_placement {
        if let Some(sel) = &p.cluster_selector
            && let Err(e) = validate_selector(sel)
        {
            f.error(format!("spec.defaultPlacement.clusterSelector.{e}"));
        }
        for (i, c) in p.clusters.iter().flatten().enumerate() {
            if c.name.is_empty() {
                f.error(format!(
                    "spec.defaultPlacement.clusters[{i}].name is empty; name a KubeFedCluster"
                ));
            }
        }
        if p.clusters.is_none() && p.cluster_selector.is_none() {
            f.warn(
                "spec.defaultPlacement sets neither clusters nor clusterSelector, so it places objects nowhere; \
                 set one of them or remove defaultPlacement"
                    .to_string(),
            );
        }
        if spec.enforcement() == Enforcement::Audit {
            f.warn(
                "spec.defaultPlacement is ignored because the policy is in Audit mode (an audit never changes \
                 objects); use Warn or Deny to have it filled in"
                    .to_string(),
            );
        }
        let listed = p.clusters.iter().flatten().map(|c| c.name.as_str());
        for name in listed {
            let not_allowed = spec
                .allowed_clusters
                .as_ref()
                .is_some_and(|s| !s.names.iter().any(|n| n == name) && s.selector.is_none());
            let denied = spec
                .denied_clusters
                .as_ref()
                .is_some_and(|s| s.names.iter().any(|n| n == name));
            if not_allowed || denied {
                f.warn(format!(
                    "spec.defaultPlacement.clusters lists {name:?}, which this policy's own {} rejects; objects \
                     defaulted by it will violate the policy",
                    if denied { "deniedClusters" } else { "allowedClusters" }
                ));
            }
        }
    }
    f
}

fn check_set(field: &str, set: &ClusterSet, f: &mut Findings) {
    for (i, name) in set.names.iter().enumerate() {
        if name.is_empty() {
            f.error(format!(
                "{field}.names[{i}] is empty; name a KubeFedCluster or remove the entry"
            ));
        }
    }
    if let Some(sel) = &set.selector
        && let Err(e) = validate_selector(sel)
    {
        f.error(format!("{field}.selector.{e}"));
    }
}

/// A CamelCase kind: an ASCII capital letter, then letters and digits.
pub(crate) fn looks_like_kind(kind: &str) -> bool {
    kind.starts_with(|c: char| c.is_ascii_uppercase()) && kind.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> FederationPolicySpec {
        serde_json::from_value(v).expect("test policy spec decodes")
    }

    #[test]
    fn policy_validation_table() {
        struct Case {
            name: &'static str,
            spec: serde_json::Value,
            errors: &'static [&'static str],
            warnings: &'static [&'static str],
        }
        let cases = [
            Case {
                name: "empty policy is valid",
                spec: json!({}),
                errors: &[],
                warnings: &[],
            },
            Case {
                name: "full valid policy",
                spec: json!({"enforcement": "Deny", "match": {"namespaceSelector": {"matchLabels": {"team": "shop"}},
                    "kinds": ["FederatedDeployment", "Service"]},
                    "allowedClusters": {"selector": {"matchLabels": {"region": "eu"}}},
                    "deniedClusters": {"names": ["eu-legacy"]}, "minClusters": 2, "maxClusters": 3,
                    "spread": [{"label": "zone", "minDistinct": 2}],
                    "defaultPlacement": {"clusterSelector": {"matchLabels": {"region": "eu"}}}}),
                errors: &[],
                warnings: &[],
            },
            Case {
                name: "malformed namespace selector",
                spec: json!({"match": {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In"}]}}}),
                errors: &[
                    "spec.match.namespaceSelector.matchExpressions[0].values: operator In needs at least one value",
                ],
                warnings: &[],
            },
            Case {
                name: "bad object selector and forbidden kinds",
                spec: json!({"match": {"objectSelector": {"matchExpressions": [{"key": "tier", "operator": "In"}]}},
                    "forbiddenKinds": [{"group": "rbac.authorization.k8s.io", "kind": "*"},
                                       {"group": "apps/v1", "kind": "deployments"}]}),
                errors: &[
                    "spec.match.objectSelector.matchExpressions[0].values: operator In needs at least one value",
                    "spec.forbiddenKinds[1].kind \"deployments\" is not a kind; write a CamelCase target kind such as ClusterRoleBinding, or * for every kind of the group",
                    "spec.forbiddenKinds[1].group \"apps/v1\" holds a version; write the group only, e.g. rbac.authorization.k8s.io (\"\" for the core group)",
                ],
                warnings: &[],
            },
            Case {
                name: "kind that is a plural",
                spec: json!({"match": {"kinds": ["deployments"]}}),
                errors: &[
                    "spec.match.kinds[0] \"deployments\" is not a kind; write a CamelCase kind such as Deployment or FederatedDeployment",
                ],
                warnings: &[],
            },
            Case {
                name: "empty cluster name and bad selector",
                spec: json!({"allowedClusters": {"names": [""]},
                    "deniedClusters": {"selector": {"matchExpressions": [{"key": "x", "operator": "Is"}]}}}),
                errors: &[
                    "spec.allowedClusters.names[0] is empty; name a KubeFedCluster or remove the entry",
                    "spec.deniedClusters.selector.matchExpressions[0].operator: unknown operator \"Is\"; use In, NotIn, Exists or DoesNotExist",
                ],
                warnings: &[],
            },
            Case {
                name: "allowedClusters that allows nothing",
                spec: json!({"allowedClusters": {}}),
                errors: &[],
                warnings: &[
                    "spec.allowedClusters has neither names nor a selector, so it allows no cluster and every selected object violates it; list names, set a selector ({} for every cluster), or remove allowedClusters",
                ],
            },
            Case {
                name: "allowed and denied overlap",
                spec: json!({"allowedClusters": {"names": ["a", "b"]}, "deniedClusters": {"names": ["b"]}}),
                errors: &[],
                warnings: &[
                    "spec.allowedClusters.names and spec.deniedClusters.names both list b; deniedClusters wins, so remove them from allowedClusters",
                ],
            },
            Case {
                name: "negative and inverted counts",
                spec: json!({"minClusters": 3, "maxClusters": -1}),
                errors: &[
                    "spec.maxClusters is -1; it must be 0 or more",
                    "spec.minClusters (3) is greater than spec.maxClusters (-1), so no placement can satisfy the policy; lower minClusters or raise maxClusters",
                ],
                warnings: &[],
            },
            Case {
                name: "bad spread",
                spec: json!({"maxClusters": 2, "spread": [{"label": "", "minDistinct": 0}, {"label": "region", "minDistinct": 3}]}),
                errors: &[
                    "spec.spread[0].label is empty; name a KubeFedCluster label such as topology.kubernetes.io/region",
                    "spec.spread[0].minDistinct is 0; it must be 1 or more",
                    "spec.spread[1].minDistinct (3) is greater than spec.maxClusters (2), so no placement can satisfy the policy; lower minDistinct or raise maxClusters",
                ],
                warnings: &[],
            },
            Case {
                name: "default placement problems",
                spec: json!({"enforcement": "Audit", "deniedClusters": {"names": ["us-1"]},
                    "defaultPlacement": {"clusters": [{"name": "us-1"}, {"name": ""}]}}),
                errors: &["spec.defaultPlacement.clusters[1].name is empty; name a KubeFedCluster"],
                warnings: &[
                    "spec.defaultPlacement is ignored because the policy is in Audit mode (an audit never changes objects); use Warn or Deny to have it filled in",
                    "spec.defaultPlacement.clusters lists \"us-1\", which this policy's own deniedClusters rejects; objects defaulted by it will violate the policy",
                ],
            },
            Case {
                name: "default placement of nothing and bad selector",
                spec: json!({"defaultPlacement": {}}),
                errors: &[],
                warnings: &[
                    "spec.defaultPlacement sets neither clusters nor clusterSelector, so it places objects nowhere; set one of them or remove defaultPlacement",
                ],
            },
            Case {
                name: "default placement outside allowed names",
                spec: json!({"allowedClusters": {"names": ["eu-1"]}, "defaultPlacement": {"clusters": [{"name": "us-1"}],
                    "clusterSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]}}}),
                errors: &[
                    "spec.defaultPlacement.clusterSelector.matchExpressions[0].values: operator Exists takes no values; remove them",
                ],
                warnings: &[
                    "spec.defaultPlacement.clusters lists \"us-1\", which this policy's own allowedClusters rejects; objects defaulted by it will violate the policy",
                ],
            },
        ];
        for c in cases {
            let got = validate_policy(&spec(c.spec));
            assert_eq!(got.errors, c.errors, "{}: errors", c.name);
            assert_eq!(got.warnings, c.warnings, "{}: warnings", c.name);
        }
    }
}
