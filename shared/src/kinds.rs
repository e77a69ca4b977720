//! Every built-in Kubernetes kind, as `kubectl fed federate` needs to know it offline, and the kinds that
//! must not be federated blindly.
//!
//! The facts — group, version, kind, plural and scope — come from k8s-openapi's [`Resource`] metadata
//! (`URL_PATH_SEGMENT` is the plural; the `Scope` associated type is the scope), not from a hand list, so
//! they are kubectl's. The macro below only names the types; it lists those present in every Kubernetes
//! version this k8s-openapi release supports (1.33 to 1.37), so the table does not depend on which version
//! feature the final binary picks. Kinds of CRDs declared in the same input are read from the CRD itself
//! ([`crd_target_type`]).
//!
//! Refused kinds ([`refusal`]) change how every member cluster behaves as a whole — its API, its admission,
//! its scheduling, its storage or ingress plumbing — or are a member's own system namespaces. Federating one
//! by accident (e.g. from `helm template` output) is hard to undo, so it takes an explicit `--allow-kind`.

use k8s_openapi::{ClusterResourceScope, ListableResource, NamespaceResourceScope, Resource};
use serde_json::Value;

use crate::typeinfo::{Scope, TargetType, default_types};

/// Maps k8s-openapi's scope marker types to [`Scope`].
trait ScopeOf {
    const SCOPE: Scope;
}

impl ScopeOf for NamespaceResourceScope {
    const SCOPE: Scope = Scope::Namespaced;
}

impl ScopeOf for ClusterResourceScope {
    const SCOPE: Scope = Scope::Cluster;
}

/// The target type of a k8s-openapi resource type.
fn of<K>() -> TargetType
where
    K: Resource + ListableResource,
    K::Scope: ScopeOf,
{
    TargetType {
        group: K::GROUP.to_string(),
        version: K::VERSION.to_string(),
        kind: K::KIND.to_string(),
        plural: K::URL_PATH_SEGMENT.to_string(),
        singular: K::KIND.to_ascii_lowercase(),
        scope: <K::Scope as ScopeOf>::SCOPE,
        short_names: Vec::new(),
        // Types with an int32 spec.replicas and a scale subresource.
        has_replicas: matches!(
            (K::GROUP, K::KIND),
            ("apps", "Deployment" | "ReplicaSet" | "StatefulSet") | ("", "ReplicationController")
        ),
    }
}

macro_rules! k8s_kinds {
    ($($path:path),* $(,)?) => {
        vec![$(of::<$path>()),*]
    };
}

/// Every listable built-in kind k8s-openapi knows, with its scope and plural; the ten default types
/// ([`default_types`]) first, with their short names. A kind served in several versions appears once per
/// version, stable versions first.
pub fn builtin_types() -> Vec<TargetType> {
    use k8s_openapi::api as a;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
    let mut types = default_types();
    types.extend(k8s_kinds![
        a::admissionregistration::v1::MutatingWebhookConfiguration,
        a::admissionregistration::v1::ValidatingAdmissionPolicy,
        a::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        a::admissionregistration::v1::ValidatingWebhookConfiguration,
        a::admissionregistration::v1alpha1::MutatingAdmissionPolicy,
        a::admissionregistration::v1alpha1::MutatingAdmissionPolicyBinding,
        a::apiserverinternal::v1alpha1::StorageVersion,
        a::apps::v1::ControllerRevision,
        a::apps::v1::DaemonSet,
        a::apps::v1::Deployment,
        a::apps::v1::ReplicaSet,
        a::apps::v1::StatefulSet,
        a::autoscaling::v2::HorizontalPodAutoscaler,
        a::autoscaling::v1::HorizontalPodAutoscaler,
        a::batch::v1::CronJob,
        a::batch::v1::Job,
        a::certificates::v1::CertificateSigningRequest,
        a::certificates::v1beta1::ClusterTrustBundle,
        a::coordination::v1::Lease,
        a::coordination::v1beta1::LeaseCandidate,
        a::coordination::v1alpha2::LeaseCandidate,
        a::core::v1::ComponentStatus,
        a::core::v1::ConfigMap,
        a::core::v1::Endpoints,
        a::core::v1::Event,
        a::core::v1::LimitRange,
        a::core::v1::Namespace,
        a::core::v1::Node,
        a::core::v1::PersistentVolume,
        a::core::v1::PersistentVolumeClaim,
        a::core::v1::Pod,
        a::core::v1::PodTemplate,
        a::core::v1::ReplicationController,
        a::core::v1::ResourceQuota,
        a::core::v1::Secret,
        a::core::v1::Service,
        a::core::v1::ServiceAccount,
        a::discovery::v1::EndpointSlice,
        a::events::v1::Event,
        a::flowcontrol::v1::FlowSchema,
        a::flowcontrol::v1::PriorityLevelConfiguration,
        a::networking::v1::Ingress,
        a::networking::v1::IngressClass,
        a::networking::v1::IPAddress,
        a::networking::v1::NetworkPolicy,
        a::networking::v1::ServiceCIDR,
        a::node::v1::RuntimeClass,
        a::policy::v1::PodDisruptionBudget,
        a::rbac::v1::ClusterRole,
        a::rbac::v1::ClusterRoleBinding,
        a::rbac::v1::Role,
        a::rbac::v1::RoleBinding,
        a::resource::v1beta2::DeviceClass,
        a::resource::v1beta2::ResourceClaim,
        a::resource::v1beta2::ResourceClaimTemplate,
        a::resource::v1beta2::ResourceSlice,
        a::resource::v1beta1::DeviceClass,
        a::resource::v1beta1::ResourceClaim,
        a::resource::v1beta1::ResourceClaimTemplate,
        a::resource::v1beta1::ResourceSlice,
        a::resource::v1alpha3::DeviceTaintRule,
        a::scheduling::v1::PriorityClass,
        a::storage::v1::CSIDriver,
        a::storage::v1::CSINode,
        a::storage::v1::CSIStorageCapacity,
        a::storage::v1::StorageClass,
        a::storage::v1::VolumeAttachment,
        CustomResourceDefinition,
        APIService,
    ]);
    types
}

/// The target type a CustomResourceDefinition object declares (its storage version, else its first), or
/// `None` if the object is not a well-formed CRD.
pub fn crd_target_type(crd: &Value) -> Option<TargetType> {
    let text = |p: &str| crd.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty());
    if crd.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition")
        || !crd
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"))
    {
        return None;
    }
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array);
    let version = versions
        .and_then(|vs| {
            vs.iter()
                .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .or_else(|| vs.first())
        })
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .or_else(|| text("/spec/version"))?;
    let kind = text("/spec/names/kind")?;
    let scope = match text("/spec/scope")? {
        "Namespaced" => Scope::Namespaced,
        "Cluster" => Scope::Cluster,
        _ => return None,
    };
    Some(TargetType {
        group: text("/spec/group")?.to_string(),
        version: version.to_string(),
        kind: kind.to_string(),
        plural: text("/spec/names/plural")?.to_string(),
        singular: text("/spec/names/singular").map_or_else(|| kind.to_ascii_lowercase(), str::to_string),
        scope,
        short_names: crd
            .pointer("/spec/names/shortNames")
            .and_then(Value::as_array)
            .map(|s| s.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        has_replicas: false,
    })
}

/// Why an object of this group and kind (and name) is not federated unless the user allows its kind, or
/// `None` when it may be federated.
pub fn refusal(group: &str, kind: &str, name: &str) -> Option<&'static str> {
    Some(match (group, kind) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            "a CRD changes the API of every member cluster, and is usually installed and upgraded there by \
             the tool that owns it"
        }
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
        ) => {
            "a webhook configuration sends every member's API requests to a service that must run in that \
             member; one that is not reachable there can block writes to the whole cluster"
        }
        ("apiregistration.k8s.io", "APIService") => {
            "an APIService hands an API group of every member's API server to a service that must run in that \
             member"
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            "a PriorityClass changes how every pod of a member is scheduled and preempted, and members \
             usually define their own"
        }
        ("storage.k8s.io", "StorageClass") => {
            "a StorageClass names a provisioner and parameters specific to each cluster's infrastructure"
        }
        ("networking.k8s.io", "IngressClass") => {
            "an IngressClass names the ingress controller of each cluster"
        }
        ("node.k8s.io", "RuntimeClass") => {
            "a RuntimeClass names a handler that each member's nodes must have"
        }
        ("", "Namespace") if name.starts_with("kube-") => {
            "kube-* namespaces are the system namespaces of each member cluster"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find(kind: &str) -> TargetType {
        builtin_types()
            .into_iter()
            .find(|t| t.kind == kind)
            .unwrap_or_else(|| panic!("{kind} is built in"))
    }

    #[test]
    fn scopes_and_plurals_come_from_k8s_openapi() {
        for (kind, group, plural, scope) in [
            ("StatefulSet", "apps", "statefulsets", Scope::Namespaced),
            ("Role", "rbac.authorization.k8s.io", "roles", Scope::Namespaced),
            (
                "RoleBinding",
                "rbac.authorization.k8s.io",
                "rolebindings",
                Scope::Namespaced,
            ),
            (
                "ClusterRoleBinding",
                "rbac.authorization.k8s.io",
                "clusterrolebindings",
                Scope::Cluster,
            ),
            (
                "HorizontalPodAutoscaler",
                "autoscaling",
                "horizontalpodautoscalers",
                Scope::Namespaced,
            ),
            (
                "NetworkPolicy",
                "networking.k8s.io",
                "networkpolicies",
                Scope::Namespaced,
            ),
            (
                "CustomResourceDefinition",
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                Scope::Cluster,
            ),
            ("Endpoints", "", "endpoints", Scope::Namespaced),
        ] {
            let t = find(kind);
            assert_eq!(
                (t.group.as_str(), t.plural.as_str(), t.scope),
                (group, plural, scope),
                "{kind}"
            );
        }
        assert_eq!(
            find("HorizontalPodAutoscaler").version,
            "v2",
            "stable version first"
        );
        assert!(find("StatefulSet").has_replicas);
        assert_eq!(find("Deployment").short_names, ["deploy"], "default types first");
    }

    #[test]
    fn crds_declare_their_type() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgetz", "shortNames": ["wd"]},
                "versions": [{"name": "v1alpha1", "served": true}, {"name": "v1", "storage": true}]}});
        let t = crd_target_type(&crd).expect("a CRD");
        assert_eq!(
            (
                t.group.as_str(),
                t.version.as_str(),
                t.plural.as_str(),
                t.singular.as_str(),
                t.scope
            ),
            ("example.com", "v1", "widgetz", "widget", Scope::Namespaced)
        );
        assert_eq!(t.short_names, ["wd"]);
        let mut broken = crd.clone();
        broken["spec"]["scope"] = json!("Galaxy");
        assert!(crd_target_type(&broken).is_none());
    }

    #[test]
    fn refused_kinds() {
        assert!(refusal("apiextensions.k8s.io", "CustomResourceDefinition", "x").is_some());
        assert!(
            refusal(
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration",
                "x"
            )
            .is_some()
        );
        assert!(refusal("", "Namespace", "kube-system").is_some());
        assert!(refusal("", "Namespace", "web").is_none());
        assert!(refusal("apps", "Deployment", "x").is_none());
    }
}
