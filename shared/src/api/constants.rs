//! Names shared by every part of kubefed: API groups and versions, the label, finalizer and annotations
//! put on objects, and the field managers we write with. KubeFed's spellings, so objects created by
//! KubeFed are recognised and objects created by us are recognised by KubeFed tooling.

pub use crate::typeinfo::{FEDERATED_GROUP, FEDERATED_VERSION};

/// API group of KubeFedCluster, FederatedTypeConfig and KubeFedConfig.
pub const CORE_GROUP: &str = "core.kubefed.io";
/// API version of [`CORE_GROUP`].
pub const CORE_VERSION: &str = "v1beta1";
/// `apiVersion` of the core types.
pub const CORE_API_VERSION: &str = "core.kubefed.io/v1beta1";

/// API group of ReplicaSchedulingPreference.
pub const SCHEDULING_GROUP: &str = "scheduling.kubefed.io";
/// API version of [`SCHEDULING_GROUP`].
pub const SCHEDULING_VERSION: &str = "v1alpha1";
/// `apiVersion` of ReplicaSchedulingPreference.
pub const SCHEDULING_API_VERSION: &str = "scheduling.kubefed.io/v1alpha1";

/// `apiVersion` of every `Federated<Kind>`.
pub const FEDERATED_API_VERSION: &str = "types.kubefed.io/v1beta1";

/// Label on every member object we manage. `"true"`: ours; `"false"`: the member object must never be
/// touched (design §3).
pub const MANAGED_LABEL: &str = "kubefed.io/managed";
/// The value of [`MANAGED_LABEL`] on objects we manage.
pub const MANAGED_LABEL_VALUE: &str = "true";
/// The value of [`MANAGED_LABEL`] that makes us leave a member object alone.
pub const UNMANAGED_LABEL_VALUE: &str = "false";

/// Finalizer the sync controller puts on federated objects so member copies are removed first.
pub const SYNC_CONTROLLER_FINALIZER: &str = "kubefed.io/sync-controller";

/// Annotation on a federated object: `"true"` means deleting it leaves the member copies in place (with
/// [`MANAGED_LABEL`] removed).
pub const ORPHAN_ANNOTATION: &str = "kubefed.io/orphan";
/// The value of [`ORPHAN_ANNOTATION`] that orphans member copies.
pub const ORPHAN_ANNOTATION_VALUE: &str = "true";

/// Annotation on a federated object holding JSON `DeleteOptions` used when deleting member copies.
pub const DELETE_OPTION_ANNOTATION: &str = "kubefed.io/deleteoption";

/// Field manager of the controller's server-side applies (member objects and status).
pub const CONTROLLER_FIELD_MANAGER: &str = "kubefed-controller";
/// Field manager that co-owns `spec.replicas` of a `retainReplicas` member object, so the controller's later
/// applies, which omit it, leave it in place (see `kubefed_core::propagation`, "Retention").
pub const RETAINED_REPLICAS_FIELD_MANAGER: &str = "kubefed-controller-replicas";
/// Field manager of `kubectl fed`'s server-side applies.
pub const KUBECTL_FED_FIELD_MANAGER: &str = "kubectl-fed";

/// Namespace KubeFed's control plane runs in by default; FederatedTypeConfigs, KubeFedClusters and the
/// KubeFedConfig live there.
pub const DEFAULT_SYSTEM_NAMESPACE: &str = "kube-federation-system";
/// Name of the KubeFedConfig the control plane reads.
pub const KUBEFED_CONFIG_NAME: &str = "kubefed";

/// Key of the token in the Secret a KubeFedCluster's `secretRef` names.
pub const CLUSTER_SECRET_TOKEN_KEY: &str = "token";

/// `metadata` fields an API server writes (kubefedctl's `systemMetadataFields` plus the newer ones): removed
/// from templates on conversion and admission, and never sent in an apply body to a member.
pub const SERVER_METADATA_FIELDS: &[&str] = &[
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "ownerReferences",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_are_group_slash_version() {
        assert_eq!(CORE_API_VERSION, format!("{CORE_GROUP}/{CORE_VERSION}"));
        assert_eq!(
            SCHEDULING_API_VERSION,
            format!("{SCHEDULING_GROUP}/{SCHEDULING_VERSION}")
        );
        assert_eq!(
            FEDERATED_API_VERSION,
            format!("{FEDERATED_GROUP}/{FEDERATED_VERSION}")
        );
    }
}
