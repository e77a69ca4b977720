//! The KubeFed API as Rust types: `core.kubefed.io/v1beta1` (KubeFedCluster, FederatedTypeConfig,
//! KubeFedConfig), `scheduling.kubefed.io/v1alpha1` (ReplicaSchedulingPreference) and the typed view of every
//! `types.kubefed.io/v1beta1` `Federated<Kind>` (design §3).
//!
//! The field names, JSON shapes and enum spellings are KubeFed's, so existing KubeFed manifests decode
//! unchanged; where we go beyond KubeFed (override `clusterSelector`, aggregated status) the additions are
//! optional fields that KubeFed manifests simply do not set.
//!
//! These types are also the single source of the CRD schemas in `charts/kubefed/crds/` (see
//! [`crate::crds`]): every schema is derived from them with schemars, so a field added here reaches the chart
//! by regenerating it, and the `crds_in_sync` test fails until that is done.
//!
//! Reading is lenient where KubeFed was (most fields optional, free-form strings for values KubeFed never
//! enumerated); writing is typed through the enums and constants of each module.

pub mod cluster;
pub mod config;
pub mod constants;
pub mod federated;
pub mod policy;
pub mod scheduling;
pub mod typeconfig;

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use cluster::{
    ClusterCondition, ClusterConditionType, KubeFedCluster, KubeFedClusterSpec, KubeFedClusterStatus,
    LocalSecretReference, TlsValidation,
};
pub use config::{
    ClusterHealthCheckConfig, DurationConfig, DurationError, FeatureGate, KubeFedConfig, KubeFedConfigSpec,
    LeaderElectConfig, StatusControllerConfig, SyncControllerConfig, parse_duration,
};
pub use federated::{
    AggregateReason, AggregatedStatus, ClusterOverrides, ClusterReference, FederatedClusterStatus,
    FederatedCondition, FederatedObject, FederatedSpec, FederatedStatus, Override, OverrideOperation,
    Placement, PropagationStatus, federated_api_resource,
};
pub use policy::{
    ClusterSet, Enforcement, FederationPolicy, FederationPolicySpec, FederationPolicyStatus, KindRef,
    PolicyMatch, PolicyViolation, SpreadRule,
};
pub use scheduling::{
    ClusterPreferences, ReplicaSchedulingPreference, ReplicaSchedulingPreferenceSpec,
    ReplicaSchedulingPreferenceStatus, RspTargetKind,
};
pub use typeconfig::{
    ApiResourceRef, ControllerStatus, FederatedTypeConfig, FederatedTypeConfigSpec, FederatedTypeConfigStatus,
};

/// An `Enabled` / `Disabled` switch, as KubeFed spells its `PropagationMode`, `StatusCollectionMode`,
/// `ConfigurationMode` (feature gates) and `ResourceAdoption`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Toggle {
    /// The feature is on.
    Enabled,
    /// The feature is off.
    Disabled,
}

impl Toggle {
    /// Whether this is [`Toggle::Enabled`].
    pub fn is_enabled(self) -> bool {
        self == Toggle::Enabled
    }

    /// The wire spelling: `Enabled` or `Disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Toggle::Enabled => "Enabled",
            Toggle::Disabled => "Disabled",
        }
    }
}

impl From<bool> for Toggle {
    fn from(enabled: bool) -> Self {
        if enabled {
            Toggle::Enabled
        } else {
            Toggle::Disabled
        }
    }
}

impl fmt::Display for Toggle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of a condition, as Kubernetes' `ConditionStatus`: `True`, `False` or `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Whether the condition holds is not known.
    Unknown,
}

impl ConditionStatus {
    /// The wire spelling: `True`, `False` or `Unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

impl From<bool> for ConditionStatus {
    fn from(holds: bool) -> Self {
        if holds {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

impl fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A wire value that is not one of an enum's spellings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}; expected one of: {expected}")]
pub struct UnknownValue {
    /// What was being parsed, e.g. `propagation status`.
    pub what: &'static str,
    /// The value given.
    pub value: String,
    /// The accepted spellings, comma-separated.
    pub expected: String,
}

impl FromStr for ConditionStatus {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ConditionStatus::True,
            ConditionStatus::False,
            ConditionStatus::Unknown,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| UnknownValue {
            what: "condition status",
            value: s.to_string(),
            expected: "True, False, Unknown".to_string(),
        })
    }
}

impl FromStr for Toggle {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Toggle::Enabled, Toggle::Disabled]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownValue {
                what: "mode",
                value: s.to_string(),
                expected: "Enabled, Disabled".to_string(),
            })
    }
}

/// Schema fragments for fields whose Rust type does not say what Kubernetes needs to know.
pub(crate) mod schema {
    use schemars::{Schema, SchemaGenerator, json_schema};
    use serde_json::Value;

    /// A free-form JSON object kept as is by the API server (a federated object's `spec.template`,
    /// a cluster's `remoteStatus`).
    pub(crate) fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
        })
    }

    /// Any JSON value — string, number, boolean, object, array — kept as is (an override's `value`).
    /// Structural schemas allow a node without `type` only with this extension.
    pub(crate) fn preserve_unknown_any(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "x-kubernetes-preserve-unknown-fields": true,
        })
    }

    /// For an `Option<Enum>` field: keeps the field's own doc as the description (kube's `OptionalEnum`
    /// rewrite would otherwise replace it with the enum type's doc) and keeps `null` out of the `enum`
    /// values (`nullable: true` already admits it).
    pub(crate) fn optional_enum_field(schema: &mut Schema) {
        let Some(obj) = schema.as_object_mut() else {
            return;
        };
        if let Some(values) = obj.get_mut("enum").and_then(Value::as_array_mut) {
            values.retain(|v| !v.is_null());
        }
        for variant in obj
            .get_mut("anyOf")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(v) = variant.as_object_mut() {
                v.remove("description");
                if let Some(values) = v.get_mut("enum").and_then(Value::as_array_mut) {
                    values.retain(|v| !v.is_null());
                }
            }
        }
    }

    /// Bytes carried as a base64 string (`[]byte` in Go), e.g. a `caBundle`.
    pub(crate) fn base64_bytes(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "byte",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toggles_and_condition_statuses_round_trip_their_spellings() {
        for t in [Toggle::Enabled, Toggle::Disabled] {
            assert_eq!(t.as_str().parse::<Toggle>(), Ok(t));
            assert_eq!(serde_json::to_value(t).ok(), Some(serde_json::json!(t.as_str())));
        }
        for c in [
            ConditionStatus::True,
            ConditionStatus::False,
            ConditionStatus::Unknown,
        ] {
            assert_eq!(c.as_str().parse::<ConditionStatus>(), Ok(c));
            assert_eq!(
                serde_json::to_value(c).ok(),
                Some(serde_json::json!(c.to_string()))
            );
        }
        assert!("enabled".parse::<Toggle>().is_err());
        assert_eq!(Toggle::from(true), Toggle::Enabled);
        assert_eq!(ConditionStatus::from(false), ConditionStatus::False);
    }
}
