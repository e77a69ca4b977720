//! What joining a member cluster leaves behind, decided once: the names of the member-side identity
//! (ServiceAccount, token Secret, ClusterRole and binding) and of the host-side Secret, the RBAC rules the
//! identity gets, and when two KubeFedClusters point at the same member.
//!
//! # The grant (design §4.7)
//! KubeFed's `kubefedctl join` bound the member identity to `*` on `*`. Ours gets only what the controller
//! does in a member: for each *enabled* federated type (a FederatedTypeConfig with propagation enabled) the
//! target resource with get/list/watch (the member index) and create/update/patch/delete (propagation,
//! cleanup); read access to namespaces (namespaced objects land only in existing namespaces); and
//! `GET /healthz` and `GET /version` (the health check and `status.kubernetesVersion`); and what the
//! Multi-Cluster Services controller needs ([`mcs_rules`]).
//! [`member_rules`] is the single derivation — `kubectl fed join`, `enable` and `disable` all call it, so a
//! member's grant always follows the enabled types.
//!
//! RBAC types are special: the API server lets an identity create a Role or ClusterRole only with rights it
//! holds itself, or with the `escalate` verb (and a binding only with `bind`). Federating `clusterroles` or
//! `roles` therefore needs `escalate`/`bind`, which make the identity as powerful as an admin of the member;
//! [`grant_warnings`] says so, so the user sees it when joining.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::typeinfo::TargetType;

/// Label on every object `kubectl fed join` creates, host and member side (the standard "managed by" label).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "kubectl-fed";
/// Label naming the joined cluster, on every object `kubectl fed join` creates.
pub const CLUSTER_NAME_LABEL: &str = "kubefed.io/cluster-name";
/// Annotation on a KubeFedCluster: the member-side ServiceAccount as `namespace/name`, so `unjoin` removes
/// the identity `join` made whatever host name was used.
pub const MEMBER_IDENTITY_ANNOTATION: &str = "kubefed.io/member-service-account";
/// Annotation on a KubeFedCluster: the kubeconfig context join reached the member with, so `enable` and
/// `disable` can update the member's grant from the same kubeconfig.
pub const MEMBER_CONTEXT_ANNOTATION: &str = "kubefed.io/member-context";
/// Annotation on a KubeFedCluster: `minimal` or `admin`, the `--rbac` join used (an admin grant is never
/// narrowed by `enable`/`disable`).
pub const MEMBER_RBAC_ANNOTATION: &str = "kubefed.io/member-rbac";

/// Verbs on each enabled type's target resource.
pub const TARGET_VERBS: &[&str] = &["get", "list", "watch", "create", "update", "patch", "delete"];
/// Extra verbs the API server requires to create RBAC objects carrying rights the creator lacks.
pub const RBAC_VERBS: &[&str] = &["bind", "escalate"];
/// Non-resource URLs the controller reads in a member.
pub const NON_RESOURCE_URLS: &[&str] = &["/healthz", "/version"];

/// The rules of the member identity for the given enabled target types: one rule per API group (resources
/// sorted), namespaces readable whether or not they are federated, and the health and version URLs. The
/// same input always gives the same rules, in the same order, so re-applying is a no-op.
///
/// ```
/// let types = vec![kubefed_core::find_default_type("configmaps").expect("default")];
/// let rules = kubefed_core::membership::member_rules(&types);
/// assert_eq!(rules[0].resources, Some(vec!["configmaps".to_string()]));
/// assert!(!rules.iter().any(|r| r.resources.as_ref().is_some_and(|res| res.contains(&"*".to_string()))));
/// ```
pub fn member_rules(enabled: &[TargetType]) -> Vec<PolicyRule> {
    // (group, escalating?) → resources. RBAC kinds get their own rule so the extra verbs apply to them only.
    let mut by_group: BTreeMap<(String, bool), BTreeSet<String>> = BTreeMap::new();
    let mut namespaces_enabled = false;
    for t in enabled {
        if t.is_namespace() {
            namespaces_enabled = true;
        }
        by_group
            .entry((t.group.clone(), is_rbac_type(t)))
            .or_default()
            .insert(t.plural.clone());
    }
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    let mut rules: Vec<PolicyRule> = by_group
        .into_iter()
        .map(|((group, rbac), resources)| {
            let mut verbs = strings(TARGET_VERBS);
            if rbac {
                verbs.extend(strings(RBAC_VERBS));
            }
            PolicyRule {
                api_groups: Some(vec![group]),
                resources: Some(resources.into_iter().collect()),
                verbs,
                ..PolicyRule::default()
            }
        })
        .collect();
    if !namespaces_enabled {
        rules.push(PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["namespaces".into()]),
            verbs: strings(&["get", "list", "watch"]),
            ..PolicyRule::default()
        });
    }
    rules.extend(mcs_rules());
    rules.push(PolicyRule {
        non_resource_urls: Some(strings(NON_RESOURCE_URLS)),
        verbs: vec!["get".into()],
        ..PolicyRule::default()
    });
    rules
}

/// What the Multi-Cluster Services controller (`crate::mcs`) does in a member: read ServiceExports and
/// write their status (the `Valid` and `Conflict` conditions), read Services and EndpointSlices (the
/// exported endpoints), and write ServiceImports, EndpointSlices and the derived Services that carry
/// clusterset IPs (the imports). Part of every grant, so a
/// joined cluster takes part in the clusterset without a second step.
pub fn mcs_rules() -> Vec<PolicyRule> {
    let rule = |group: &str, resources: &[&str], verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(resources.iter().map(|s| (*s).to_string()).collect()),
        verbs: verbs.iter().map(|s| (*s).to_string()).collect(),
        ..PolicyRule::default()
    };
    vec![
        rule(
            crate::mcs::MCS_GROUP,
            &["serviceexports"],
            &["get", "list", "watch"],
        ),
        rule(
            crate::mcs::MCS_GROUP,
            &["serviceexports/status"],
            &["get", "patch", "update"],
        ),
        rule(
            crate::mcs::MCS_GROUP,
            &["serviceimports", "serviceimports/status"],
            TARGET_VERBS,
        ),
        // Read: the exported Services; write: the derived Services that carry clusterset IPs.
        rule("", &["services"], TARGET_VERBS),
        rule("discovery.k8s.io", &["endpointslices"], TARGET_VERBS),
    ]
}

/// Rules that grant everything (`--rbac=admin`, KubeFed's behaviour): an explicit opt-in.
pub fn admin_rules() -> Vec<PolicyRule> {
    vec![
        PolicyRule {
            api_groups: Some(vec!["*".into()]),
            resources: Some(vec!["*".into()]),
            verbs: vec!["*".into()],
            ..PolicyRule::default()
        },
        PolicyRule {
            non_resource_urls: Some(vec!["*".into()]),
            verbs: vec!["get".into()],
            ..PolicyRule::default()
        },
    ]
}

/// What the user should know about a grant for these enabled types: RBAC types need `escalate`/`bind`.
pub fn grant_warnings(enabled: &[TargetType]) -> Vec<String> {
    let rbac: BTreeSet<String> = enabled
        .iter()
        .filter(|t| is_rbac_type(t))
        .map(TargetType::type_config_name)
        .collect();
    if rbac.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "the enabled type{} {} need{} the escalate and bind verbs in the member, which let the member identity \
         grant itself any right there; disable {} (`kubectl fed disable TYPE`) if you do not federate RBAC objects",
        if rbac.len() == 1 { "" } else { "s" },
        rbac.iter().cloned().collect::<Vec<_>>().join(", "),
        if rbac.len() == 1 { "s" } else { "" },
        if rbac.len() == 1 { "it" } else { "them" },
    )]
}

fn is_rbac_type(t: &TargetType) -> bool {
    t.group == "rbac.authorization.k8s.io"
}

/// The names of what joining `cluster` creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinNames {
    /// The joined cluster's name (the KubeFedCluster's).
    pub cluster: String,
    /// The kubefed system namespace, on the host and in the member.
    pub namespace: String,
    /// The member-side ServiceAccount (KubeFed's `<cluster>-<host>`).
    pub service_account: String,
    /// The member-side token Secret of the ServiceAccount.
    pub member_secret: String,
    /// The member-side ClusterRole and ClusterRoleBinding (KubeFed's `kubefed-controller-manager:<sa>`).
    pub cluster_role: String,
    /// The host-side Secret the KubeFedCluster's `secretRef` names.
    pub host_secret: String,
}

impl JoinNames {
    /// Names for joining `cluster` (a DNS-1123 label) to the host named `host` (any string: a kubeconfig
    /// context name is made a label by [`dns_label`]).
    pub fn new(cluster: &str, host: &str, namespace: &str) -> Self {
        let service_account = dns_label(&format!("{cluster}-{}", dns_label(host)));
        Self::with_service_account(cluster, namespace, &service_account)
    }

    /// Names when the member-side ServiceAccount is already known (from [`MEMBER_IDENTITY_ANNOTATION`]).
    pub fn with_service_account(cluster: &str, namespace: &str, service_account: &str) -> Self {
        Self {
            cluster: cluster.to_string(),
            namespace: namespace.to_string(),
            service_account: service_account.to_string(),
            member_secret: format!("{service_account}-token"),
            cluster_role: format!("kubefed-controller-manager:{service_account}"),
            host_secret: format!("{cluster}-token"),
        }
    }

    /// The labels put on every object of this join.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
            (CLUSTER_NAME_LABEL.to_string(), self.cluster.clone()),
        ])
    }

    /// The member's ClusterRole with `rules`.
    pub fn cluster_role(&self, rules: Vec<PolicyRule>) -> ClusterRole {
        ClusterRole {
            metadata: ObjectMeta {
                name: Some(self.cluster_role.clone()),
                labels: Some(self.labels()),
                ..ObjectMeta::default()
            },
            rules: Some(rules),
            ..ClusterRole::default()
        }
    }

    /// The member's ClusterRoleBinding of the ClusterRole to the ServiceAccount.
    pub fn cluster_role_binding(&self) -> ClusterRoleBinding {
        ClusterRoleBinding {
            metadata: ObjectMeta {
                name: Some(self.cluster_role.clone()),
                labels: Some(self.labels()),
                ..ObjectMeta::default()
            },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: self.cluster_role.clone(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: self.service_account.clone(),
                namespace: Some(self.namespace.clone()),
                ..Subject::default()
            }]),
        }
    }

    /// `namespace/name` of the ServiceAccount, the value of [`MEMBER_IDENTITY_ANNOTATION`].
    pub fn identity_annotation(&self) -> String {
        format!("{}/{}", self.namespace, self.service_account)
    }
}

/// Makes any text a DNS-1123 label: lower case, runs of other characters become `-`, at most 63
/// characters, no `-` at either end; `cluster` when nothing is left.
pub fn dns_label(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(63));
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.trim_matches('-').chars().take(63).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "cluster".into() } else { out }
}

/// An API endpoint in a form where equal endpoints compare equal: lower-case scheme and host, `https://`
/// added when missing, no trailing `/`, and the default port `:443` dropped.
pub fn normalize_endpoint(endpoint: &str) -> String {
    let e = endpoint.trim().trim_end_matches('/');
    let (scheme, rest) = match e.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("https".to_string(), e),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{p}")),
        None => (rest, String::new()),
    };
    let mut authority = authority.to_ascii_lowercase();
    if scheme == "https"
        && let Some(stripped) = authority.strip_suffix(":443")
    {
        authority = stripped.to_string();
    }
    format!("{scheme}://{authority}{path}")
}

/// Whether a cluster registered with (`endpoint`, `ca`) is the one at (`other_endpoint`, `other_ca`): same
/// normalized endpoint and same CA bundle (surrounding whitespace ignored). Two API servers behind one URL
/// with one CA cannot be told apart, and are treated as one.
pub fn same_cluster(
    endpoint: &str,
    ca: Option<&[u8]>,
    other_endpoint: &str,
    other_ca: Option<&[u8]>,
) -> bool {
    let trim = |b: Option<&[u8]>| b.map(|b| b.trim_ascii().to_vec()).unwrap_or_default();
    normalize_endpoint(endpoint) == normalize_endpoint(other_endpoint) && trim(ca) == trim(other_ca)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typeinfo::{default_types, find_default_type};

    fn rule_for<'a>(rules: &'a [PolicyRule], group: &str, resource: &str) -> Option<&'a PolicyRule> {
        rules.iter().find(|r| {
            r.api_groups
                .as_ref()
                .is_some_and(|g| g.iter().any(|g| g == group))
                && r.resources
                    .as_ref()
                    .is_some_and(|res| res.iter().any(|x| x == resource))
        })
    }

    #[test]
    fn rules_cover_the_enabled_types_and_nothing_else() {
        let types: Vec<TargetType> = ["deployments", "configmaps", "services"]
            .iter()
            .filter_map(|n| find_default_type(n))
            .collect();
        let rules = member_rules(&types);
        let deploy = rule_for(&rules, "apps", "deployments").expect("deployments rule");
        assert_eq!(deploy.verbs, TARGET_VERBS);
        let core = rule_for(&rules, "", "configmaps").expect("core rule");
        assert_eq!(
            core.resources.as_deref(),
            Some(&["configmaps".to_string(), "services".to_string()][..])
        );
        let ns = rule_for(&rules, "", "namespaces").expect("namespaces readable");
        assert_eq!(ns.verbs, ["get", "list", "watch"]);
        assert!(rule_for(&rules, "", "secrets").is_none());
        assert!(rule_for(&rules, "rbac.authorization.k8s.io", "clusterroles").is_none());
        let urls = rules.last().and_then(|r| r.non_resource_urls.clone());
        assert_eq!(urls, Some(vec!["/healthz".to_string(), "/version".to_string()]));
        for r in &rules {
            assert!(!r.verbs.iter().any(|v| v == "*"), "{r:?}");
            assert!(!r.resources.iter().flatten().any(|v| v == "*"), "{r:?}");
        }
        // Deterministic: the same set in another order gives the same rules.
        let mut reversed = types.clone();
        reversed.reverse();
        assert_eq!(member_rules(&reversed), rules);
    }

    #[test]
    fn every_grant_lets_the_mcs_controller_work() {
        let rules = member_rules(&[]);
        let slices = rule_for(&rules, "discovery.k8s.io", "endpointslices").expect("endpointslices rule");
        assert!(slices.verbs.iter().any(|v| v == "create") && slices.verbs.iter().any(|v| v == "delete"));
        let exports = rule_for(&rules, "multicluster.x-k8s.io", "serviceexports").expect("exports rule");
        assert!(
            !exports.verbs.iter().any(|v| v == "update"),
            "exports are only read"
        );
        assert!(rule_for(&rules, "multicluster.x-k8s.io", "serviceexports/status").is_some());
        assert!(rule_for(&rules, "multicluster.x-k8s.io", "serviceimports").is_some());
        let services = rule_for(&rules, "", "services").expect("services rule");
        assert_eq!(
            services.verbs, TARGET_VERBS,
            "derived Services carry clusterset IPs"
        );
    }

    #[test]
    fn enabled_namespaces_get_write_verbs_once() {
        let types = vec![find_default_type("namespaces").expect("default")];
        let rules = member_rules(&types);
        let ns: Vec<_> = rules
            .iter()
            .filter(|r| r.resources.iter().flatten().any(|x| x == "namespaces"))
            .collect();
        assert_eq!(ns.len(), 1);
        assert_eq!(ns[0].verbs, TARGET_VERBS);
    }

    #[test]
    fn rbac_types_get_escalate_and_a_warning() {
        let all = default_types();
        let rules = member_rules(&all);
        let cr = rule_for(&rules, "rbac.authorization.k8s.io", "clusterroles").expect("clusterroles");
        assert!(cr.verbs.iter().any(|v| v == "escalate") && cr.verbs.iter().any(|v| v == "bind"));
        let core = rule_for(&rules, "", "secrets").expect("secrets");
        assert!(!core.verbs.iter().any(|v| v == "escalate"));
        let warnings = grant_warnings(&all);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("clusterroles.rbac.authorization.k8s.io needs the escalate"),
            "{}",
            warnings[0]
        );
        assert!(grant_warnings(&[find_default_type("cm").expect("default")]).is_empty());
    }

    #[test]
    fn names_follow_kubefedctl() {
        let n = JoinNames::new("member-1", "Host_Ctx@Admin", "kube-federation-system");
        assert_eq!(n.service_account, "member-1-host-ctx-admin");
        assert_eq!(
            n.cluster_role,
            "kubefed-controller-manager:member-1-host-ctx-admin"
        );
        assert_eq!(n.member_secret, "member-1-host-ctx-admin-token");
        assert_eq!(n.host_secret, "member-1-token");
        assert_eq!(
            n.identity_annotation(),
            "kube-federation-system/member-1-host-ctx-admin"
        );
        let b = n.cluster_role_binding();
        assert_eq!(b.role_ref.name, n.cluster_role);
        assert_eq!(
            b.subjects.as_ref().and_then(|s| s[0].namespace.as_deref()),
            Some("kube-federation-system")
        );
        assert_eq!(
            n.labels().get(CLUSTER_NAME_LABEL).map(String::as_str),
            Some("member-1")
        );
    }

    #[test]
    fn dns_labels() {
        for (input, want) in [
            ("host", "host"),
            ("kind-Host", "kind-host"),
            ("arn:aws:eks:eu/x", "arn-aws-eks-eu-x"),
            ("--", "cluster"),
            ("", "cluster"),
        ] {
            assert_eq!(dns_label(input), want, "{input:?}");
        }
        let long = dns_label(&format!("{}-x", "a".repeat(62)));
        assert_eq!(long.len(), 62, "{long}");
        assert!(crate::admission::names::dns1123_label(&long).is_ok());
    }

    #[test]
    fn same_cluster_ignores_spelling() {
        let ca = Some(&b"-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"[..]);
        assert!(same_cluster("https://10.0.0.1:443/", ca, "10.0.0.1", ca));
        assert!(same_cluster(
            "HTTPS://Example.com:6443",
            ca,
            "https://example.com:6443/",
            ca
        ));
        assert!(!same_cluster(
            "https://example.com:6443",
            ca,
            "https://example.com:6444",
            ca
        ));
        assert!(!same_cluster(
            "https://example.com:6443",
            ca,
            "https://example.com:6443",
            None
        ));
        assert_eq!(normalize_endpoint("http://a:443"), "http://a:443");
    }
}
