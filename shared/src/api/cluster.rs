//! `KubeFedCluster` (`core.kubefed.io/v1beta1`, short name `kfc`): a member cluster joined to the host,
//! with how to reach it (endpoint, CA, token Secret) and its health as last probed (design §3).
//!
//! Times in the status are `metav1.Time` (RFC 3339). Condition fields KubeFed marked optional are
//! `Option` here too, and so is `lastProbeTime` (KubeFed required it): a status written by another tool
//! without it must still decode, or one odd cluster would stop the whole cluster controller.

use k8s_openapi::ByteString;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ConditionStatus;

/// Desired state of a KubeFedCluster: how to connect to the member cluster.
// kube's `printcolumn(...)` arguments repeat (`type_ = "string"`), which clippy mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "core.kubefed.io",
    version = "v1beta1",
    kind = "KubeFedCluster",
    plural = "kubefedclusters",
    singular = "kubefedcluster",
    namespaced,
    status = "KubeFedClusterStatus",
    shortname = "kfc",
    category = "kubefed",
    derive = "PartialEq",
    doc = "A member cluster joined to the federation: where its API server is and how to authenticate to it.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type=='Ready')].status"
    ),
    printcolumn(
        name = "Kubernetes-Version",
        type_ = "string",
        json_path = ".status.kubernetesVersion"
    ),
    printcolumn(
        name = "API-Endpoint",
        type_ = "string",
        json_path = ".spec.apiEndpoint",
        priority = 1
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct KubeFedClusterSpec {
    /// The API endpoint of the member cluster: a URL, hostname, hostname:port, IP or IP:port.
    pub api_endpoint: String,

    /// PEM certificate authority bundle to verify the member's serving certificate (base64 on the wire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::base64_bytes")]
    pub ca_bundle: Option<ByteString>,

    /// The Secret, in the KubeFedCluster's namespace, whose `token` key authenticates to the member.
    pub secret_ref: LocalSecretReference,

    /// TLS checks to skip when connecting: `*` (all; then the only entry), `SubjectName`, `ValidityPeriod`.
    #[serde(
        rename = "disabledTLSValidations",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub disabled_tls_validations: Vec<TlsValidation>,

    /// HTTP(S) proxy to reach the member's API server through.
    #[serde(rename = "proxyURL", default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
}

/// A reference to a Secret in the referring object's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LocalSecretReference {
    /// Name of the Secret.
    pub name: String,
}

/// A TLS verification that can be disabled for a member cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum TlsValidation {
    /// Every check (`*`).
    #[serde(rename = "*")]
    All,
    /// That the certificate names the endpoint's host.
    SubjectName,
    /// That the certificate is within its validity period.
    ValidityPeriod,
}

/// Observed state of a KubeFedCluster, written by the cluster health controller.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubeFedClusterStatus {
    /// Current conditions: `Ready`, `Offline`, `ConfigMalformed`, at most one of each type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<ClusterCondition>,
    /// Availability zones the cluster's nodes are in, e.g. `us-east1-a`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// Region all the cluster's nodes are in, e.g. `us-east1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The member API server's git version, e.g. `v1.34.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
}

impl KubeFedClusterStatus {
    /// The condition of type `type_`, if present.
    pub fn condition(&self, type_: ClusterConditionType) -> Option<&ClusterCondition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether the `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.condition(ClusterConditionType::Ready)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }
}

impl KubeFedCluster {
    /// Whether the cluster's `Ready` condition is `True` (no status: not ready).
    pub fn is_ready(&self) -> bool {
        self.status.as_ref().is_some_and(KubeFedClusterStatus::is_ready)
    }
}

/// Type of a [`ClusterCondition`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ClusterConditionType {
    /// The cluster's `/healthz` answered `ok`.
    Ready,
    /// The cluster could not be reached.
    Offline,
    /// The KubeFedCluster or its Secret cannot be turned into a client configuration.
    ConfigMalformed,
}

impl ClusterConditionType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterConditionType::Ready => "Ready",
            ClusterConditionType::Offline => "Offline",
            ClusterConditionType::ConfigMalformed => "ConfigMalformed",
        }
    }
}

impl std::fmt::Display for ClusterConditionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One aspect of a member cluster's health.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCondition {
    /// Which aspect: `Ready`, `Offline` or `ConfigMalformed`.
    #[serde(rename = "type")]
    pub type_: ClusterConditionType,
    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// When the condition was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// When the condition last changed status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason for the last transition, e.g. `ClusterReady`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable explanation of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;

    const KUBEFED_CLUSTER: &str = r#"
apiVersion: core.kubefed.io/v1beta1
kind: KubeFedCluster
metadata:
  name: cluster2
  namespace: kube-federation-system
spec:
  apiEndpoint: https://172.17.0.3:6443
  caBundle: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=
  secretRef:
    name: cluster2-shb2x
  disabledTLSValidations:
  - SubjectName
  proxyURL: http://proxy.example:3128
status:
  conditions:
  - type: Ready
    status: "True"
    lastProbeTime: "2019-06-03T21:09:13Z"
    lastTransitionTime: "2019-06-03T21:08:53Z"
    reason: ClusterReady
    message: /healthz responded with ok
  - type: Offline
    status: "False"
    lastProbeTime: "2019-06-03T21:09:13Z"
  kubernetesVersion: v1.34.1
  region: us-east1
  zones:
  - us-east1-b
"#;

    #[test]
    fn kubefed_cluster_round_trips() {
        let c: KubeFedCluster = serde_saphyr::from_str(KUBEFED_CLUSTER).expect("valid KubeFedCluster");
        assert_eq!(c.spec.api_endpoint, "https://172.17.0.3:6443");
        assert_eq!(c.spec.secret_ref.name, "cluster2-shb2x");
        assert!(
            c.spec
                .ca_bundle
                .as_ref()
                .is_some_and(|b| b.0.starts_with(b"-----BEGIN"))
        );
        assert_eq!(c.spec.disabled_tls_validations, vec![TlsValidation::SubjectName]);
        assert_eq!(c.spec.proxy_url.as_deref(), Some("http://proxy.example:3128"));
        assert!(c.is_ready());
        let status = c.status.as_ref().expect("status");
        assert_eq!(status.kubernetes_version.as_deref(), Some("v1.34.1"));
        assert_eq!(
            status.condition(ClusterConditionType::Offline).map(|c| c.status),
            Some(ConditionStatus::False)
        );

        let json = serde_json::to_value(&c).expect("serializes");
        assert_eq!(
            json["spec"]["disabledTLSValidations"],
            serde_json::json!(["SubjectName"])
        );
        assert_eq!(json["spec"]["proxyURL"], "http://proxy.example:3128");
        assert_eq!(
            json["spec"]["caBundle"],
            "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM="
        );
        assert_eq!(
            json["status"]["conditions"][0]["lastProbeTime"],
            "2019-06-03T21:09:13Z"
        );
        let back: KubeFedCluster = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, c);
    }

    #[test]
    fn minimal_cluster_and_wildcard_tls() {
        let c: KubeFedCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "core.kubefed.io/v1beta1",
            "kind": "KubeFedCluster",
            "metadata": {"name": "c1"},
            "spec": {"apiEndpoint": "https://c1:6443", "secretRef": {"name": "c1"},
                     "disabledTLSValidations": ["*"]}
        }))
        .expect("valid");
        assert_eq!(c.spec.disabled_tls_validations, vec![TlsValidation::All]);
        assert!(c.spec.ca_bundle.is_none());
        assert!(!c.is_ready());
        let json = serde_json::to_value(&c.spec).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"apiEndpoint": "https://c1:6443", "secretRef": {"name": "c1"},
                               "disabledTLSValidations": ["*"]})
        );
        assert_eq!(KubeFedCluster::api_version(&()), "core.kubefed.io/v1beta1");
    }
}
