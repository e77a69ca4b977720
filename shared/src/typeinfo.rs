//! What kubefed knows about a target type (the plain kind a `Federated<Kind>` wraps) and the built-in
//! table of the types KubeFed federates by default. The table lets `kubectl fed federate` work offline and
//! is the single source for the chart's default FederatedTypeConfigs and Federated CRDs.

use serde::{Deserialize, Serialize};

/// API group of the federated types (`Federated<Kind>`).
pub const FEDERATED_GROUP: &str = "types.kubefed.io";
/// API version of the federated types.
pub const FEDERATED_VERSION: &str = "v1beta1";

/// Whether objects of a type live in a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Scope {
    Namespaced,
    Cluster,
}

/// A target type: the plain Kubernetes kind that a federated type wraps.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TargetType {
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Lower-case plural resource name, e.g. `deployments`.
    pub plural: String,
    /// Lower-case singular name, e.g. `deployment`.
    pub singular: String,
    pub scope: Scope,
    /// kubectl short names of the target, e.g. `deploy`.
    pub short_names: Vec<String>,
    /// Whether the target has an int32 `spec.replicas` (enables `spec.retainReplicas`).
    pub has_replicas: bool,
}

impl TargetType {
    /// `apiVersion` of the target: `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Name of this type's FederatedTypeConfig: `<plural>` for the core group, else `<plural>.<group>`.
    pub fn type_config_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Kind of the federated type, e.g. `FederatedDeployment`.
    pub fn federated_kind(&self) -> String {
        format!("Federated{}", self.kind)
    }

    /// Plural of the federated type, e.g. `federateddeployments`.
    pub fn federated_plural(&self) -> String {
        format!("federated{}", self.plural)
    }

    /// Singular of the federated type, e.g. `federateddeployment`.
    pub fn federated_singular(&self) -> String {
        format!("federated{}", self.singular)
    }

    /// Short names of the federated type: `f<short>` for each short name of the target.
    pub fn federated_short_names(&self) -> Vec<String> {
        self.short_names.iter().map(|s| format!("f{s}")).collect()
    }

    /// Scope of the federated type. Namespaces are cluster-scoped, but a FederatedNamespace lives inside
    /// the namespace it federates (design §3), so it is namespaced.
    pub fn federated_scope(&self) -> Scope {
        if self.is_namespace() {
            Scope::Namespaced
        } else {
            self.scope
        }
    }

    /// Whether this is the core `Namespace` type.
    pub fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.kind == "Namespace"
    }

    /// Whether `name` (kind, plural, singular, short name or `plural.group`, case-insensitive) names this type.
    pub fn matches(&self, name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        n == self.kind.to_ascii_lowercase()
            || n == self.plural
            || n == self.singular
            || n == self.type_config_name()
            || self.short_names.contains(&n)
    }
}

fn t(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    scope: Scope,
    short: &[&str],
    replicas: bool,
) -> TargetType {
    TargetType {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        scope,
        short_names: short.iter().map(|s| (*s).to_string()).collect(),
        has_replicas: replicas,
    }
}

/// The types federated by default (design §3), as the chart installs them.
pub fn default_types() -> Vec<TargetType> {
    use Scope::*;
    vec![
        t(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            Cluster,
            &[],
            false,
        ),
        t("", "v1", "ConfigMap", "configmaps", Namespaced, &["cm"], false),
        t(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            Namespaced,
            &["deploy"],
            true,
        ),
        t(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            Namespaced,
            &["ing"],
            false,
        ),
        t("batch", "v1", "Job", "jobs", Namespaced, &[], false),
        t("", "v1", "Namespace", "namespaces", Cluster, &["ns"], false),
        t(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            Namespaced,
            &["rs"],
            true,
        ),
        t("", "v1", "Secret", "secrets", Namespaced, &[], false),
        t(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            Namespaced,
            &["sa"],
            false,
        ),
        t("", "v1", "Service", "services", Namespaced, &["svc"], false),
    ]
}

/// Finds a default type by kind, plural, singular, short name or `plural.group`.
pub fn find_default_type(name: &str) -> Option<TargetType> {
    default_types().into_iter().find(|t| t.matches(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kubefed_conventions() {
        let d = find_default_type("deploy").expect("deployments are a default type");
        assert_eq!(d.type_config_name(), "deployments.apps");
        assert_eq!(d.federated_kind(), "FederatedDeployment");
        assert_eq!(d.federated_plural(), "federateddeployments");
        assert_eq!(d.federated_short_names(), vec!["fdeploy"]);
        assert_eq!(d.api_version(), "apps/v1");
        let cm = find_default_type("ConfigMap").expect("configmaps are a default type");
        assert_eq!(cm.type_config_name(), "configmaps");
        assert_eq!(cm.api_version(), "v1");
    }

    #[test]
    fn federated_namespace_is_namespaced() {
        let ns = find_default_type("namespaces").expect("namespaces are a default type");
        assert_eq!(ns.scope, Scope::Cluster);
        assert_eq!(ns.federated_scope(), Scope::Namespaced);
        let cr = find_default_type("clusterroles.rbac.authorization.k8s.io").expect("default");
        assert_eq!(cr.federated_scope(), Scope::Cluster);
    }

    #[test]
    fn lookup_is_case_insensitive_and_rejects_unknown() {
        assert!(find_default_type("SVC").is_some());
        assert!(find_default_type("statefulsets").is_none());
        assert_eq!(default_types().len(), 10);
    }
}
