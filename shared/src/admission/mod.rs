//! Admission decisions for every kubefed kind: what the webhook's `/validate` and `/mutate` answer, as pure
//! functions of a request and a [`Snapshot`] of the host (design §5, §6). `kubectl fed check` runs the same
//! functions offline.
//!
//! [`validate`] returns a [`Decision`]: denials (each naming the field and the fix), warnings, violations of
//! `Audit` policies to record, and the clusters whose `propagate` permission the caller must check for the
//! requesting user (RBAC needs a SubjectAccessReview, which is I/O; [`propagate_denial`] words the result).
//! [`mutate`] returns the JSON patch that defaults and normalises the object; applying it twice changes
//! nothing the second time.
//!
//! What is checked, by kind (details in each module):
//! - `types.kubefed.io` `Federated*` ([`federated`]): placement shape, overrides (the rules of
//!   [`crate::convert::validate_overrides`], which the controller applies too),
//!   `spec.template` against the FederatedTypeConfig (kind, apiVersion group, `metadata.namespace`), names,
//!   namespace consistency, FederationPolicies, and which clusters need `propagate`. Defaults: placement
//!   from policy; drops server-set template fields.
//! - `core.kubefed.io` FederatedTypeConfig, KubeFedCluster, KubeFedConfig ([`core`]): KubeFed's own
//!   validations; KubeFedConfig is defaulted with [`crate::api::KubeFedConfigSpec::with_defaults`].
//! - `scheduling.kubefed.io` ReplicaSchedulingPreference ([`scheduling`]):
//!   [`crate::scheduling::Preferences::validate`], and `propagate` on the clusters it names.
//! - `policy.kubefed.io` FederationPolicy: [`crate::policy::validate_policy`].
//!
//! Deletes and connects are always allowed. An update that leaves `spec` and labels unchanged (annotations,
//! finalizers) and any change to an object being deleted is allowed without checks, so the controller can
//! always manage finalizers even on an object that a newer policy would refuse. A label edit is checked in
//! full, as policies select objects by their labels.

pub mod access;
pub mod core;
pub mod federated;
pub mod names;
pub mod scheduling;
pub mod schema;
pub mod snapshot;

use std::collections::BTreeSet;

use json_patch::PatchOperation;
use kube::core::DynamicObject;
use serde::Deserialize;
use serde_json::Value;

use crate::api::PolicyViolation;
use crate::api::constants::{CORE_GROUP, SCHEDULING_GROUP};
use crate::api::policy::POLICY_GROUP;
use crate::typeinfo::FEDERATED_GROUP;

pub use crate::findings::{Findings, Reason};
pub use crate::policy::RuledOut;
pub use access::{Access, AccessCheck, Why, access_denial};
pub use schema::{GroupVersionSchema, TypeCheck, TypedValue};
pub use snapshot::{Settings, Snapshot, TypeEntry};

/// The operation of an admission request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// The object is being created.
    Create,
    /// The object is being replaced or patched.
    Update,
    /// The object is being deleted.
    Delete,
    /// A connect (exec, proxy, …).
    Connect,
}

/// The request as the decisions see it (an `AdmissionRequest` minus what they do not use).
#[derive(Clone, Copy, Debug)]
pub struct AdmissionInput<'a> {
    /// What is being done.
    pub operation: Operation,
    /// API group of the object's kind, e.g. `types.kubefed.io`.
    pub group: &'a str,
    /// The object's kind, e.g. `FederatedDeployment`.
    pub kind: &'a str,
    /// The request's namespace (`None` for cluster-scoped objects).
    pub namespace: Option<&'a str>,
    /// The object's name (may be empty on create with `generateName`).
    pub name: &'a str,
    /// The new object (create, update).
    pub object: Option<&'a DynamicObject>,
    /// The object before the change (update, delete).
    pub old_object: Option<&'a DynamicObject>,
    /// The requesting user's name (recorded with audit violations and named in RBAC denials).
    pub user: Option<&'a str>,
    /// Clusters the user is known not to be allowed to `propagate` to (from the webhook's cache), never
    /// suggested in a policy's hint.
    pub ruled_out: Option<&'a dyn RuledOut>,
}

impl<'a> AdmissionInput<'a> {
    /// A create of `object`, as `kubectl fed check` judges a manifest: group and kind from its `apiVersion`
    /// and `kind`, namespace and name from its metadata.
    pub fn create(object: &'a DynamicObject) -> Self {
        let (group, kind) = object.types.as_ref().map_or(("", ""), |t| {
            (
                t.api_version.split_once('/').map_or("", |(g, _)| g),
                t.kind.as_str(),
            )
        });
        Self {
            operation: Operation::Create,
            group,
            kind,
            namespace: object.metadata.namespace.as_deref(),
            name: object.metadata.name.as_deref().unwrap_or_default(),
            object: Some(object),
            old_object: None,
            user: None,
            ruled_out: None,
        }
    }

    /// The object's name: the request's, else the object's `metadata.name`, else its `generateName`.
    pub fn object_name(&self) -> &'a str {
        if !self.name.is_empty() {
            return self.name;
        }
        self.object
            .and_then(|o| o.metadata.name.as_deref().or(o.metadata.generate_name.as_deref()))
            .unwrap_or_default()
    }
}

/// One reason a request is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// Machine-readable reason.
    pub reason: Reason,
    /// What is wrong, naming the field, and how to fix it.
    pub message: String,
}

/// A violation of an `Audit` policy, to be recorded in that policy's status.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    /// The policy's name.
    pub policy: String,
    /// The violation (without `time`; the recorder sets it).
    pub violation: PolicyViolation,
}

/// Clusters whose `propagate` permission must be checked for the requesting user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PropagateCheck {
    /// The clusters, sorted.
    pub clusters: BTreeSet<String>,
    /// The field that puts the object on them (named in the denial), e.g. `spec.placement`.
    pub field: &'static str,
    /// Whether the placement selects clusters by label (or every cluster), so `propagate` is needed on every
    /// cluster — a grant without resourceNames — and label changes cannot widen the user's reach.
    pub all_clusters: bool,
}

/// The answer of [`validate`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// Why the request is refused; empty when it is allowed (before the `propagate` check).
    pub denials: Vec<Denial>,
    /// Warnings for the client (kubectl prints them).
    pub warnings: Vec<String>,
    /// Violations of `Audit` policies to record.
    pub audit: Vec<AuditEntry>,
    /// The `propagate` permissions to check; `None` when the request needs none.
    pub propagate: Option<PropagateCheck>,
    /// Other rights the user needs on the host (native equivalence, RBAC escalation; see [`access`]).
    pub access: Vec<AccessCheck>,
    /// Override values to check against the target kind's schema (the webhook fetches it).
    pub type_check: Option<TypeCheck>,
}

impl Decision {
    /// Whether nothing refuses the request.
    pub fn allowed(&self) -> bool {
        self.denials.is_empty()
    }

    /// Adds a denial.
    pub fn deny(&mut self, reason: Reason, message: impl Into<String>) {
        self.denials.push(Denial {
            reason,
            message: message.into(),
        });
    }

    /// The reason of the first denial.
    pub fn reason(&self) -> Option<Reason> {
        self.denials.first().map(|d| d.reason)
    }

    /// The denials as one message: the only one as is, several as `N problems: (1) …; (2) …`.
    pub fn message(&self) -> String {
        match self.denials.as_slice() {
            [] => String::new(),
            [one] => one.message.clone(),
            many => {
                let parts: Vec<String> = many
                    .iter()
                    .enumerate()
                    .map(|(i, d)| format!("({}) {}", i + 1, d.message))
                    .collect();
                format!("{} problems: {}", many.len(), parts.join("; "))
            }
        }
    }

    fn absorb(&mut self, findings: Findings) {
        for e in findings.errors {
            self.deny(Reason::Invalid, e);
        }
        self.warnings.extend(findings.warnings);
    }
}

/// The answer of [`mutate`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mutation {
    /// JSON patch operations to apply to the object (empty: no change).
    pub patch: Vec<PatchOperation>,
    /// What was changed, for the client.
    pub warnings: Vec<String>,
}

/// Validates a request against the snapshot. See the module docs for what is checked.
pub fn validate(input: &AdmissionInput<'_>, snapshot: &Snapshot) -> Decision {
    let mut d = Decision::default();
    if matches!(input.operation, Operation::Delete | Operation::Connect) {
        return d;
    }
    let Some(object) = input.object else {
        return d;
    };
    if unchanged_or_deleting(input) {
        return d;
    }
    match (input.group, input.kind) {
        (FEDERATED_GROUP, _) => federated::validate(input, object, snapshot, &mut d),
        (CORE_GROUP, "FederatedTypeConfig") => d.absorb(core::validate_type_config(input, object, snapshot)),
        (CORE_GROUP, "KubeFedCluster") => d.absorb(core::validate_cluster(object, snapshot)),
        (CORE_GROUP, "KubeFedConfig") => d.absorb(core::validate_config(object, snapshot)),
        (SCHEDULING_GROUP, "ReplicaSchedulingPreference") => scheduling::validate(object, snapshot, &mut d),
        (POLICY_GROUP, "FederationPolicy") => match decode_spec(object) {
            Ok(spec) => d.absorb(crate::policy::validate_policy(&spec)),
            Err(e) => d.deny(Reason::Invalid, e),
        },
        _ => {}
    }
    d
}

/// The JSON patch that defaults and normalises a request's object. See the module docs.
pub fn mutate(input: &AdmissionInput<'_>, snapshot: &Snapshot) -> Mutation {
    let mut m = Mutation::default();
    if !matches!(input.operation, Operation::Create | Operation::Update) {
        return m;
    }
    let Some(object) = input.object else {
        return m;
    };
    if object.metadata.deletion_timestamp.is_some() {
        return m;
    }
    match (input.group, input.kind) {
        (FEDERATED_GROUP, _) => federated::mutate(input, object, snapshot, &mut m),
        (CORE_GROUP, "KubeFedConfig") => core::default_config(object, &mut m),
        _ => {}
    }
    m
}

/// The denial for a user who may not `propagate` to `clusters` (which `field` puts the object on).
pub fn propagate_denial(user: &str, field: &str, clusters: &[String], system_namespace: &str) -> Denial {
    let list = clusters
        .iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let names = clusters.join(", ");
    let (noun, them) = if clusters.len() == 1 {
        ("cluster", "it")
    } else {
        ("clusters", "them")
    };
    Denial {
        reason: Reason::PropagateForbidden,
        message: format!(
            "user {user:?} may not propagate to {noun} {list}: placing objects on a cluster needs verb \"propagate\" \
             on kubefedclusters.core.kubefed.io with resourceName the cluster, in namespace {system_namespace}; \
             remove {them} from {field}, or ask a platform admin for a Role with apiGroups [core.kubefed.io], \
             resources [kubefedclusters], resourceNames [{names}], verbs [propagate]"
        ),
    }
}

/// The denial for a user who may not `propagate` to every cluster, for a placement by label (`field`).
pub fn propagate_all_denial(user: &str, field: &str, system_namespace: &str) -> Denial {
    Denial {
        reason: Reason::PropagateForbidden,
        message: format!(
            "user {user:?} may not propagate to every cluster: {field} places the object by cluster labels, so a \
             later label change could put it on any cluster, and that needs verb \"propagate\" on all \
             kubefedclusters.core.kubefed.io in namespace {system_namespace} (a grant without resourceNames); list \
             the clusters you may propagate to by name in spec.placement.clusters instead, or ask a platform admin \
             for a Role with apiGroups [core.kubefed.io], resources [kubefedclusters], verbs [propagate] and no \
             resourceNames"
        ),
    }
}

/// Why an AdmissionReview's request cannot come from an API server (it is refused, never allowed): a
/// create or update without `object`, an update without `oldObject`, no `uid`, no user name.
pub fn malformed_request(
    operation: Operation,
    uid: &str,
    user: Option<&str>,
    has_object: bool,
    has_old_object: bool,
) -> Option<Denial> {
    let problem = if uid.is_empty() {
        "request.uid is empty"
    } else if user.is_none_or(str::is_empty) {
        "request.userInfo.username is missing"
    } else if matches!(operation, Operation::Create | Operation::Update) && !has_object {
        "request.object is missing or null for a CREATE or UPDATE"
    } else if operation == Operation::Update && !has_old_object {
        "request.oldObject is missing or null for an UPDATE"
    } else {
        return None;
    };
    Some(Denial {
        reason: Reason::MalformedReview,
        message: format!(
            "malformed AdmissionReview: {problem}; the kubefed webhook answers only reviews sent by the API server"
        ),
    })
}

/// The denial when the `propagate` permission could not be checked at all.
pub fn propagate_check_failed(reason: &str) -> Denial {
    Denial {
        reason: Reason::PropagateCheckFailed,
        message: format!(
            "cannot check the \"propagate\" permission on the target clusters ({reason}); retry, and if it persists \
             check the webhook's access to subjectaccessreviews.authorization.k8s.io"
        ),
    }
}

/// An update that leaves `spec` and `metadata.labels` as they were, or any change to an object that is being
/// deleted. Labels count because FederationPolicies select objects by them: a label edit may bring an object
/// under a policy it would not pass.
fn unchanged_or_deleting(input: &AdmissionInput<'_>) -> bool {
    // No labels and an empty map are the same to a selector.
    fn labels(o: &DynamicObject) -> Option<&std::collections::BTreeMap<String, String>> {
        o.metadata.labels.as_ref().filter(|l| !l.is_empty())
    }
    let Some(object) = input.object else {
        return false;
    };
    if object.metadata.deletion_timestamp.is_some() {
        return true;
    }
    input.operation == Operation::Update
        && input.old_object.is_some_and(|old| {
            old.data.get("spec") == object.data.get("spec") && labels(old) == labels(object)
        })
}

/// Decodes an object's `spec` as `T`; the error names the field.
fn decode_spec<'a, T: Deserialize<'a>>(object: &'a DynamicObject) -> Result<T, String> {
    decode_field(object.data.get("spec").unwrap_or(&Value::Null), "spec")
}

/// Decodes `value` (at `field`) as `T`; a missing (null) value decodes as `T`'s empty form if it has one.
fn decode_field<'a, T: Deserialize<'a>>(value: &'a Value, field: &str) -> Result<T, String> {
    let decoded = if value.is_null() {
        T::deserialize(Value::Object(serde_json::Map::new()))
    } else {
        T::deserialize(value)
    };
    decoded.map_err(|e| format!("{field}: {e}; fix the field's type or remove it"))
}

#[cfg(test)]
mod tests;
