//! The state of the host the admission decisions read: joined clusters, FederatedNamespaces, Namespace
//! labels, FederationPolicies and FederatedTypeConfigs, plus the webhook's own settings.
//!
//! It is plain data so the same decisions run in the webhook (built from informer caches, shared behind an
//! `Arc` until something changes) and offline in `kubectl fed check` (built from files or one listing).
//! [`Snapshot::new`] sorts everything, so decisions iterate in a stable order and look clusters up by
//! binary search.

use std::collections::BTreeMap;

use crate::api::constants::DEFAULT_SYSTEM_NAMESPACE;
use crate::api::{ApiResourceRef, Enforcement, FederatedTypeConfig, FederationPolicy, Placement};
use crate::placement::ClusterInfo;
use crate::typeinfo::TargetType;

/// Settings of the decisions that are not in the cluster state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The namespace kubefed runs in (KubeFedClusters, FederatedTypeConfigs, the KubeFedConfig live there).
    pub system_namespace: String,
    /// How namespace consistency is enforced when no selecting policy says otherwise.
    pub namespace_consistency: Enforcement,
    /// Native equivalence: a federated object also needs the user's rights to create/update its target
    /// kind on the host, and Kubernetes' RBAC escalation rules (see [`super::access`]). Default on.
    pub native_equivalence: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            system_namespace: DEFAULT_SYSTEM_NAMESPACE.to_string(),
            namespace_consistency: Enforcement::Deny,
            native_equivalence: true,
        }
    }
}

/// One enabled federated type, from its FederatedTypeConfig.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeEntry {
    /// The FederatedTypeConfig's name, e.g. `deployments.apps`.
    pub config_name: String,
    /// The target type (plural and group defaulted from the name, as KubeFed does).
    pub target: TargetType,
    /// The federated type as the FederatedTypeConfig names it.
    pub federated: ApiResourceRef,
    /// Whether propagation is enabled.
    pub propagation: bool,
}

impl TypeEntry {
    /// The entry for a FederatedTypeConfig.
    pub fn from_config(ftc: &FederatedTypeConfig) -> Self {
        Self {
            config_name: ftc.metadata.name.clone().unwrap_or_default(),
            target: ftc.target(),
            federated: ftc.spec.federated_type.clone(),
            propagation: ftc.propagation_enabled(),
        }
    }
}

/// What the decisions know about the host. Build with [`Snapshot::new`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Joined clusters (KubeFedClusters in the system namespace), sorted by name.
    pub clusters: Vec<ClusterInfo>,
    /// `spec.placement` of each FederatedNamespace, by namespace (only those named after their namespace).
    pub federated_namespaces: BTreeMap<String, Placement>,
    /// Labels of each Namespace, by name.
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// FederationPolicies, sorted by name.
    pub policies: Vec<FederationPolicy>,
    /// Enabled federated types, sorted by FederatedTypeConfig name.
    pub types: Vec<TypeEntry>,
    /// Settings.
    pub settings: Settings,
}

impl Snapshot {
    /// A snapshot with everything sorted (see the module docs).
    pub fn new(
        mut clusters: Vec<ClusterInfo>,
        federated_namespaces: BTreeMap<String, Placement>,
        namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
        mut policies: Vec<FederationPolicy>,
        mut types: Vec<TypeEntry>,
        settings: Settings,
    ) -> Self {
        clusters.sort_by(|a, b| a.name.cmp(&b.name));
        clusters.dedup_by(|a, b| a.name == b.name);
        policies.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        types.sort_by(|a, b| a.config_name.cmp(&b.config_name));
        Self {
            clusters,
            federated_namespaces,
            namespace_labels,
            policies,
            types,
            settings,
        }
    }

    /// The joined cluster `name`.
    pub fn cluster(&self, name: &str) -> Option<&ClusterInfo> {
        self.clusters
            .binary_search_by(|c| c.name.as_str().cmp(name))
            .ok()
            .and_then(|i| self.clusters.get(i))
    }

    /// The enabled type whose federated type is `group`/`kind`.
    pub fn type_for_federated(&self, group: &str, kind: &str) -> Option<&TypeEntry> {
        self.types
            .iter()
            .find(|t| t.federated.kind == kind && t.federated.group == group)
    }
}
