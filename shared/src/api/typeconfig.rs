//! `FederatedTypeConfig` (`core.kubefed.io/v1beta1`, short name `ftc`): enables federation of one target
//! type by naming it and its `Federated<Kind>` (design §3). Namespaced, in the KubeFed system namespace, as
//! in KubeFed; named `<plural>[.<group>]`.
//!
//! [`FederatedTypeConfig::for_target`] builds the config the chart installs for a
//! [`TargetType`], and [`FederatedTypeConfig::target`] turns a config read
//! from the API back into one, applying KubeFed's defaulting of the target's plural and group from the
//! config's name.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Toggle;
use crate::typeinfo::{FEDERATED_GROUP, FEDERATED_VERSION, Scope, TargetType, default_types};

/// Desired state of a FederatedTypeConfig: the target type and its federated type.
// kube's `printcolumn(...)` arguments repeat (`type_ = "string"`), which clippy mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "core.kubefed.io",
    version = "v1beta1",
    kind = "FederatedTypeConfig",
    plural = "federatedtypeconfigs",
    singular = "federatedtypeconfig",
    namespaced,
    status = "FederatedTypeConfigStatus",
    shortname = "ftc",
    category = "kubefed",
    derive = "PartialEq",
    doc = "Enables federation of one target type: names the type and the Federated<Kind> that wraps it.",
    printcolumn(name = "Kind", type_ = "string", json_path = ".spec.targetType.kind"),
    printcolumn(
        name = "Group",
        type_ = "string",
        json_path = ".spec.targetType.group",
        priority = 1
    ),
    printcolumn(name = "Propagation", type_ = "string", json_path = ".spec.propagation"),
    printcolumn(
        name = "Controller",
        type_ = "string",
        json_path = ".status.propagationController"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct FederatedTypeConfigSpec {
    /// The target type. `pluralName` and `group` default from the config's name (`<plural>[.<group>]`).
    pub target_type: ApiResourceRef,
    /// The `Federated<Kind>` type that holds template, placement and overrides for the target type.
    pub federated_type: ApiResourceRef,
    /// Whether objects of the federated type are propagated to member clusters.
    pub propagation: Toggle,
    /// The type that holds collected status (KubeFed's raw status collection); unused by kubefed-rs,
    /// kept so KubeFed configs round-trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_type: Option<ApiResourceRef>,
    /// Whether member objects' status is collected into the federated object's `status.clusters[].remoteStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::schema::optional_enum_field)]
    pub status_collection: Option<Toggle>,
}

/// An API resource as a FederatedTypeConfig names it (KubeFed's `APIResource`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiResourceRef {
    /// API group; empty or absent for the core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// CamelCase kind, e.g. `ConfigMap`.
    pub kind: String,
    /// Lower-case plural resource name, e.g. `configmaps`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plural_name: String,
    /// `Namespaced` or `Cluster`.
    pub scope: Scope,
}

impl ApiResourceRef {
    /// `apiVersion` of the resource: `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// Observed state of a FederatedTypeConfig, written by the controller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederatedTypeConfigStatus {
    /// The `metadata.generation` the controller last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Whether the propagation (sync) controller for this type runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::schema::optional_enum_field)]
    pub propagation_controller: Option<ControllerStatus>,
    /// Whether the status controller for this type runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::schema::optional_enum_field)]
    pub status_controller: Option<ControllerStatus>,
}

/// Whether a per-type controller runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ControllerStatus {
    /// The controller runs.
    Running,
    /// The controller does not run (propagation disabled, or it failed to start).
    NotRunning,
}

impl FederatedTypeConfig {
    /// The config that enables `target`, in `namespace`, named [`TargetType::type_config_name`], with
    /// propagation enabled. The federated type is `types.kubefed.io/v1beta1` `Federated<Kind>`, with the
    /// target's scope except for namespaces (a FederatedNamespace is namespaced).
    pub fn for_target(target: &TargetType, namespace: &str) -> Self {
        let mut ftc = FederatedTypeConfig::new(
            &target.type_config_name(),
            FederatedTypeConfigSpec {
                target_type: ApiResourceRef {
                    group: target.group.clone(),
                    version: target.version.clone(),
                    kind: target.kind.clone(),
                    plural_name: target.plural.clone(),
                    scope: target.scope,
                },
                federated_type: ApiResourceRef {
                    group: FEDERATED_GROUP.to_string(),
                    version: FEDERATED_VERSION.to_string(),
                    kind: target.federated_kind(),
                    plural_name: target.federated_plural(),
                    scope: target.federated_scope(),
                },
                propagation: Toggle::Enabled,
                status_type: None,
                status_collection: None,
            },
        );
        ftc.metadata.namespace = Some(namespace.to_string());
        ftc
    }

    /// The target type this config enables.
    ///
    /// As KubeFed defaults them, an empty `targetType.pluralName` is taken from the config's name (the part
    /// before the first `.`) and an empty `targetType.group` from the rest of the name. Singular name,
    /// short names and `has_replicas` are not in a FederatedTypeConfig: they come from the built-in table
    /// ([`default_types`]) when the group and kind match a default type, else the singular is the
    /// lower-cased kind, there are no short names and `has_replicas` is false.
    pub fn target(&self) -> TargetType {
        let t = &self.spec.target_type;
        let name = self.metadata.name.as_deref().unwrap_or_default();
        let (name_plural, name_group) = match name.split_once('.') {
            Some((plural, group)) => (plural, group),
            None => (name, ""),
        };
        let group = if t.group.is_empty() {
            name_group
        } else {
            t.group.as_str()
        };
        let plural = if t.plural_name.is_empty() {
            name_plural
        } else {
            t.plural_name.as_str()
        };
        let known = default_types()
            .into_iter()
            .find(|d| d.group == group && d.kind == t.kind);
        TargetType {
            group: group.to_string(),
            version: t.version.clone(),
            kind: t.kind.clone(),
            plural: plural.to_string(),
            singular: known
                .as_ref()
                .map_or_else(|| t.kind.to_ascii_lowercase(), |k| k.singular.clone()),
            scope: t.scope,
            short_names: known.as_ref().map(|k| k.short_names.clone()).unwrap_or_default(),
            has_replicas: known.as_ref().is_some_and(|k| k.has_replicas),
        }
    }

    /// Whether propagation is enabled.
    pub fn propagation_enabled(&self) -> bool {
        self.spec.propagation.is_enabled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typeinfo::find_default_type;

    const FTC: &str = r#"
apiVersion: core.kubefed.io/v1beta1
kind: FederatedTypeConfig
metadata:
  name: deployments.apps
  namespace: kube-federation-system
spec:
  federatedType:
    group: types.kubefed.io
    kind: FederatedDeployment
    pluralName: federateddeployments
    scope: Namespaced
    version: v1beta1
  propagation: Enabled
  targetType:
    group: apps
    kind: Deployment
    pluralName: deployments
    scope: Namespaced
    version: v1
status:
  observedGeneration: 1
  propagationController: Running
  statusController: NotRunning
"#;

    #[test]
    fn kubefed_ftc_round_trips_and_matches_for_target() {
        let ftc: FederatedTypeConfig = serde_saphyr::from_str(FTC).expect("valid FTC");
        let deploy = find_default_type("deployments.apps").expect("default type");
        assert_eq!(ftc.target(), deploy);
        assert!(ftc.propagation_enabled());
        assert_eq!(
            ftc.status.as_ref().and_then(|s| s.propagation_controller),
            Some(ControllerStatus::Running)
        );

        let built = FederatedTypeConfig::for_target(&deploy, "kube-federation-system");
        assert_eq!(built.metadata, ftc.metadata);
        assert_eq!(built.spec, ftc.spec);

        let json = serde_json::to_value(&ftc).expect("serializes");
        let back: FederatedTypeConfig = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, ftc);
    }

    #[test]
    fn core_group_is_omitted_and_namespaces_federate_namespaced() {
        let ns = find_default_type("namespaces").expect("default type");
        let ftc = FederatedTypeConfig::for_target(&ns, "kube-federation-system");
        assert_eq!(ftc.metadata.name.as_deref(), Some("namespaces"));
        let json = serde_json::to_value(&ftc.spec).expect("serializes");
        assert_eq!(
            json["targetType"],
            serde_json::json!({"version": "v1", "kind": "Namespace", "pluralName": "namespaces", "scope": "Cluster"})
        );
        assert_eq!(json["federatedType"]["scope"], "Namespaced");
        assert_eq!(json["federatedType"]["kind"], "FederatedNamespace");
        assert_eq!(ftc.target(), ns);
    }

    #[test]
    fn every_default_type_survives_for_target_then_target() {
        for t in default_types() {
            let ftc = FederatedTypeConfig::for_target(&t, "ns");
            assert_eq!(ftc.target(), t, "{}", t.type_config_name());
        }
    }

    #[test]
    fn plural_and_group_default_from_the_name() {
        let ftc: FederatedTypeConfig = serde_json::from_value(serde_json::json!({
            "apiVersion": "core.kubefed.io/v1beta1",
            "kind": "FederatedTypeConfig",
            "metadata": {"name": "widgets.example.com", "namespace": "kube-federation-system"},
            "spec": {
                "targetType": {"version": "v1alpha1", "kind": "Widget", "scope": "Namespaced"},
                "federatedType": {"group": "types.kubefed.io", "version": "v1beta1",
                                  "kind": "FederatedWidget", "pluralName": "federatedwidgets",
                                  "scope": "Namespaced"},
                "propagation": "Disabled",
                "statusCollection": "Enabled"
            }
        }))
        .expect("valid FTC");
        let t = ftc.target();
        assert_eq!((t.group.as_str(), t.plural.as_str()), ("example.com", "widgets"));
        assert_eq!(t.singular, "widget");
        assert!(t.short_names.is_empty() && !t.has_replicas);
        assert!(!ftc.propagation_enabled());
        assert_eq!(ftc.spec.status_collection, Some(Toggle::Enabled));
        assert_eq!(ftc.spec.target_type.api_version(), "v1alpha1");
    }
}
