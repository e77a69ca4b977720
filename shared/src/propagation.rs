//! Member objects: what the controller server-side-applies to each member cluster, whether an existing member
//! object is ours, and how a federated object asks to be deleted (design §3, §4.1, §4.2).
//!
//! [`desired_member_object`] builds the apply body for one cluster:
//! template → identity (`apiVersion`/`kind` of the target, name and namespace of the federated object; a
//! FederatedNamespace becomes the cluster-scoped Namespace it federates) → overrides for that cluster
//! ([`crate::overrides`]) → label `kubefed.io/managed: "true"` (set last, so no override can drop it) →
//! [`retain_for_apply`]. Template labels **and annotations** are kept (KubeFed dropped annotations, §4.2);
//! [`MemberOptions::drop_template_annotations`] (KubeFedConfig `syncController.propagateTemplateAnnotations:
//! Disabled`) drops them as KubeFed did, for a migration window.
//!
//! # Retention with server-side apply
//! KubeFed updated member objects with a full PUT, so every field it did not mean to change had to be copied
//! from the member object into its update first ("retention": `resourceVersion`, finalizers, annotations,
//! Service `clusterIP`/`nodePort`s, ServiceAccount `secrets`, `spec.replicas` with `retainReplicas`) —
//! otherwise the PUT would have wiped them. With server-side apply we only send the fields we own; the API
//! server merges them into the live object and leaves every field owned by someone else (the allocator, the
//! token controller, an HPA, a service mesh) alone. Retention therefore becomes *not claiming* fields:
//! [`retain_for_apply`] removes them from the body instead of copying values in. It never needs to read the
//! member object, so the body is the same on create and update, and there is no race with the member's
//! controllers.
//!
//! One server-side-apply subtlety the controller must know, for `retainReplicas`: a field that our field
//! manager applied once and later omits is *removed* by the API server unless another manager also owns it.
//! So `spec.replicas` must have a second owner before our applies start omitting it. The body is built with
//! `spec.replicas` only when the member does not exist yet (`member_exists == false`); right after creating
//! it, the controller applies [`replicas_pin`] under
//! [`RETAINED_REPLICAS_FIELD_MANAGER`](crate::api::constants::RETAINED_REPLICAS_FIELD_MANAGER), which co-owns the
//! field and never applies again. Our later applies omit `spec.replicas`, the pin keeps it, and whoever
//! scales the member (an HPA, a user) takes it over. A member whose replicas only our apply owns (the pin
//! failed, or `retainReplicas` was switched on later) is pinned at its current value before the next apply
//! (see `sole_replicas_owner` in the controller). A plain create would also keep `spec.replicas`, but it
//! records *every* field under an `Update` entry that no apply of ours ever removes, so fields later dropped
//! from the template would stay on the member.

use serde_json::{Map, Value};

use crate::api::constants::SERVER_METADATA_FIELDS;
use crate::api::constants::{
    DELETE_OPTION_ANNOTATION, MANAGED_LABEL, MANAGED_LABEL_VALUE, ORPHAN_ANNOTATION, ORPHAN_ANNOTATION_VALUE,
    UNMANAGED_LABEL_VALUE,
};
use crate::api::{FederatedObject, PropagationStatus};
use crate::overrides::{OverridesError, ResolvedOverride, apply_overrides, json_kind, overrides_for_cluster};
use crate::placement::ClusterInfo;
use crate::typeinfo::{Scope, TargetType};

/// Server-populated metadata never sent in an apply body (the API server rejects `managedFields`, and the
/// rest belong to the member's API server), plus `finalizers`, which members' controllers own.
fn is_server_metadata(field: &str) -> bool {
    field == "finalizers" || SERVER_METADATA_FIELDS.contains(&field)
}

/// Why a member object could not be built, or a federated object's annotations not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PropagationError {
    /// `spec.template` is not an object.
    #[error("spec.template is {found}, not an object; put the target object's body there")]
    TemplateNotObject {
        /// What it is instead.
        found: &'static str,
    },
    /// `spec.template.metadata` is not an object.
    #[error("spec.template.metadata is {found}, not an object")]
    TemplateMetadataNotObject {
        /// What it is instead.
        found: &'static str,
    },
    /// The federated object has no `metadata.name`.
    #[error("the federated object has no metadata.name")]
    MissingName,
    /// A namespaced federated object without `metadata.namespace`.
    #[error("{kind} {name:?} is namespaced but has no metadata.namespace")]
    MissingNamespace {
        /// The federated kind.
        kind: String,
        /// The object's name.
        name: String,
    },
    /// The overrides could not be computed or applied (status `ApplyOverridesFailed`).
    #[error(transparent)]
    Overrides(#[from] OverridesError),
    /// An override removed or replaced a part of the object kubefed needs (`metadata`, `metadata.labels`).
    #[error("after overrides, {field} is {found}, not an object; the overrides must keep it an object")]
    OverriddenShape {
        /// The field.
        field: &'static str,
        /// What it is instead.
        found: &'static str,
    },
    /// The `kubefed.io/deleteoption` annotation is not JSON DeleteOptions.
    #[error(
        "annotation kubefed.io/deleteoption is not a JSON object of DeleteOptions ({reason}); write it like \
         {{\"propagationPolicy\":\"Background\"}}"
    )]
    InvalidDeleteOption {
        /// What is wrong.
        reason: String,
    },
}

impl PropagationError {
    /// The per-cluster status to report for this error: `ApplyOverridesFailed` for override failures,
    /// `ComputeResourceFailed` otherwise.
    pub fn status(&self) -> PropagationStatus {
        match self {
            PropagationError::Overrides(_) | PropagationError::OverriddenShape { .. } => {
                PropagationStatus::ApplyOverridesFailed
            }
            _ => PropagationStatus::ComputeResourceFailed,
        }
    }
}

/// The body to server-side-apply to `cluster` for `fed` (see the module docs for the steps).
///
/// `member_exists`: whether the member object already exists. Only used with `spec.retainReplicas: true`,
/// where `spec.replicas` is kept for the first create and left out afterwards (module docs explain why the
/// controller creates such a member with a POST).
///
/// Pure and deterministic: the same inputs give the same body, so the controller can compare bodies to skip
/// unchanged applies.
pub fn desired_member_object(
    fed: &FederatedObject,
    target: &TargetType,
    cluster: &ClusterInfo,
    member_exists: bool,
) -> Result<Value, PropagationError> {
    desired_member_object_with(fed, target, cluster, member_exists, MemberOptions::default())
}

/// Control-plane settings that change how member objects are built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberOptions {
    /// KubeFed's semantics: the template's `metadata.annotations` are not propagated (annotations set by
    /// overrides still are). Off by default.
    pub drop_template_annotations: bool,
}

/// [`desired_member_object`] with `options`.
pub fn desired_member_object_with(
    fed: &FederatedObject,
    target: &TargetType,
    cluster: &ClusterInfo,
    member_exists: bool,
    options: MemberOptions,
) -> Result<Value, PropagationError> {
    let source = MemberSource {
        template: &fed.spec.template,
        name: fed.metadata.name.as_deref(),
        namespace: fed.metadata.namespace.as_deref(),
        retain_replicas: fed.spec.retain_replicas,
    };
    build_member(&source, target, member_exists, options, || {
        overrides_for_cluster(&fed.spec.overrides, cluster)
    })
}

/// The parts of a federated object its member objects are built from, borrowed: the admission webhook holds
/// them separately and need not assemble (clone) a [`FederatedObject`] to build a member object.
#[derive(Clone, Copy, Debug)]
pub struct MemberSource<'a> {
    /// `spec.template`.
    pub template: &'a Value,
    /// `metadata.name`.
    pub name: Option<&'a str>,
    /// `metadata.namespace`.
    pub namespace: Option<&'a str>,
    /// `spec.retainReplicas`.
    pub retain_replicas: Option<bool>,
}

/// [`desired_member_object`] from borrowed parts and the cluster's override operations `ops` (from
/// [`overrides_for_cluster`], or [`crate::overrides::resolve_for_cluster`] once the overrides are
/// validated): the same steps and errors, in the same order.
pub fn member_object_from(
    source: &MemberSource<'_>,
    target: &TargetType,
    ops: Result<&[ResolvedOverride], OverridesError>,
    member_exists: bool,
) -> Result<Value, PropagationError> {
    build_member(source, target, member_exists, MemberOptions::default(), || ops)
}

/// Whether [`member_object_from`] certainly succeeds with `ops`, found without building the member object:
/// the steps run on a skeleton of the template that keeps only what the operations can reach. `false`
/// means "not certain" (the caller builds the object for the real outcome and message).
///
/// Why the skeleton gives the same success: an operation on an object reads only the keys its JSON Pointer
/// names, and every operation's pointer is known up front, so objects keep just the keys some pointer (or
/// `metadata.labels`, which the managed label needs) goes through. Arrays are kept whole, since adding or
/// removing an element shifts the indices later pointers use; scalars are kept as they are. The admission
/// webhook checks overrides this way for every cluster a request touches (cloning a large template per
/// request was the biggest part of its decision).
pub fn overrides_apply(source: &MemberSource<'_>, target: &TargetType, ops: &[ResolvedOverride]) -> bool {
    let mut paths: Vec<Vec<std::borrow::Cow<'_, str>>> = Vec::with_capacity(ops.len() + 1);
    for o in ops {
        if json_patch::jsonptr::Pointer::parse(o.path.as_str()).is_err() {
            return false;
        }
        // RFC 6901 tokens: `~1` is `/`, then `~0` is `~`.
        let tokens = o.path.strip_prefix('/').map_or_else(Vec::new, |rest| {
            rest.split('/')
                .map(|t| {
                    if t.contains('~') {
                        std::borrow::Cow::Owned(t.replace("~1", "/").replace("~0", "~"))
                    } else {
                        std::borrow::Cow::Borrowed(t)
                    }
                })
                .collect()
        });
        paths.push(tokens);
    }
    // The steps before and after the operations touch only the identity fields (apiVersion, kind,
    // metadata) and metadata.labels. When no operation reaches them, those steps succeed exactly when their
    // own checks on the template do, and the operations run on the spec alone: no identity fields to build.
    let reaches_identity = paths.iter().any(|p| {
        p.first()
            .is_none_or(|t| matches!(t.as_ref(), "apiVersion" | "kind" | "metadata"))
    });
    if !reaches_identity {
        // The most common override, one operation on a field reached through objects only (replicas, an
        // image tag under a map): certain without copying or patching anything.
        if let ([op], [tokens]) = (ops, paths.as_slice())
            && one_op_through_objects_applies(source.template, op.op, tokens)
        {
            return identity_steps_succeed(source, target);
        }
        let refs: Vec<&[std::borrow::Cow<'_, str>]> = paths.iter().map(Vec::as_slice).collect();
        let mut skeleton = match skeleton_of(source.template, &refs) {
            obj @ Value::Object(_) => obj,
            Value::Null => Value::Object(Map::new()),
            _ => return false,
        };
        return identity_steps_succeed(source, target) && apply_overrides(&mut skeleton, ops).is_ok();
    }
    paths.push(vec!["metadata".into(), "labels".into()]);
    let refs: Vec<&[std::borrow::Cow<'_, str>]> = paths.iter().map(Vec::as_slice).collect();
    let obj = match skeleton_of(source.template, &refs) {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        _ => return false,
    };
    build_member_on(obj, source, target, false, MemberOptions::default(), || {
        Ok::<_, OverridesError>(ops)
    })
    .is_ok()
}

/// Whether one operation on `tokens` certainly applies to `template` when every step of its path is an object
/// key: `add` needs the parent object, `replace` and `remove` the key too (as json-patch). `false` means "not
/// certain" (arrays, missing parents, anything else): the general check decides.
fn one_op_through_objects_applies(
    template: &Value,
    op: crate::api::OverrideOperation,
    tokens: &[std::borrow::Cow<'_, str>],
) -> bool {
    let Some((last, parents)) = tokens.split_last() else {
        return false;
    };
    let mut node = template;
    for t in parents {
        match node.as_object().and_then(|m| m.get(t.as_ref())) {
            Some(child) => node = child,
            None => return false,
        }
    }
    let Some(parent) = node.as_object() else {
        return false;
    };
    match op {
        crate::api::OverrideOperation::Add => true,
        crate::api::OverrideOperation::Replace | crate::api::OverrideOperation::Remove => {
            parent.contains_key(last.as_ref())
        }
    }
}

/// Whether [`build_member_on`]'s own steps (name, namespace, metadata and labels being objects) succeed on
/// `source` when no override touches `apiVersion`, `kind` or `metadata`.
fn identity_steps_succeed(source: &MemberSource<'_>, target: &TargetType) -> bool {
    let object_or_absent = |v: Option<&Value>| v.is_none_or(|v| v.is_null() || v.is_object());
    let metadata = source.template.get("metadata");
    source.name.is_some()
        && (target.is_namespace() || target.scope == Scope::Cluster || source.namespace.is_some())
        && object_or_absent(metadata)
        && object_or_absent(metadata.and_then(|m| m.get("labels")))
}

/// `node` with, in objects, only the keys on `paths` (token lists relative to `node`); arrays and scalars
/// whole.
fn skeleton_of(node: &Value, paths: &[&[std::borrow::Cow<'_, str>]]) -> Value {
    let Value::Object(map) = node else {
        return node.clone();
    };
    let mut out = Map::new();
    for (i, path) in paths.iter().enumerate() {
        let Some((first, _)) = path.split_first() else {
            continue;
        };
        // Each key once, with every path through it.
        if paths[..i].iter().any(|p| p.first() == Some(first)) {
            continue;
        }
        let Some(child) = map.get(first.as_ref()) else {
            continue;
        };
        let rest: Vec<&[std::borrow::Cow<'_, str>]> = paths[i..]
            .iter()
            .filter(|p| p.first() == Some(first))
            .map(|p| &p[1..])
            .collect();
        out.insert(first.to_string(), skeleton_of(child, &rest));
    }
    Value::Object(out)
}

/// The steps of [`desired_member_object`]; `ops` is asked for where the overrides are applied, so errors
/// come in the same order whoever resolves them.
fn build_member<O: std::borrow::Borrow<[ResolvedOverride]>>(
    source: &MemberSource<'_>,
    target: &TargetType,
    member_exists: bool,
    options: MemberOptions,
    ops: impl FnOnce() -> Result<O, OverridesError>,
) -> Result<Value, PropagationError> {
    let obj = match source.template {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        other => {
            return Err(PropagationError::TemplateNotObject {
                found: json_kind(other),
            });
        }
    };
    build_member_on(obj, source, target, member_exists, options, ops)
}

/// [`build_member`] from `obj`, the template's fields (or a skeleton of them).
fn build_member_on<O: std::borrow::Borrow<[ResolvedOverride]>>(
    mut obj: Map<String, Value>,
    source: &MemberSource<'_>,
    target: &TargetType,
    member_exists: bool,
    options: MemberOptions,
    ops: impl FnOnce() -> Result<O, OverridesError>,
) -> Result<Value, PropagationError> {
    let name = source
        .name
        .map(str::to_string)
        .ok_or(PropagationError::MissingName)?;
    let (name, namespace) = if target.is_namespace() {
        // A FederatedNamespace lives in the namespace it federates, with the same name.
        (source.namespace.map_or(name, str::to_string), None)
    } else {
        match target.scope {
            Scope::Cluster => (name, None),
            Scope::Namespaced => {
                let Some(ns) = source.namespace else {
                    return Err(PropagationError::MissingNamespace {
                        kind: target.federated_kind(),
                        name,
                    });
                };
                (name, Some(ns.to_string()))
            }
        }
    };
    obj.insert("apiVersion".into(), Value::String(target.api_version()));
    obj.insert("kind".into(), Value::String(target.kind.clone()));
    let meta = object_field(&mut obj, "metadata")
        .map_err(|found| PropagationError::TemplateMetadataNotObject { found })?;
    meta.insert("name".into(), Value::String(name));
    meta.remove("generateName");
    if options.drop_template_annotations {
        meta.remove("annotations");
    }
    match namespace {
        Some(ns) => meta.insert("namespace".into(), Value::String(ns)),
        None => meta.remove("namespace"),
    };

    let ops = ops()?;
    let mut body = Value::Object(obj);
    apply_overrides(&mut body, ops.borrow())?;

    // Overrides cannot replace the whole object (the empty path is refused), so this is still an object.
    if let Value::Object(obj) = &mut body {
        let meta = object_field(obj, "metadata").map_err(|found| PropagationError::OverriddenShape {
            field: "metadata",
            found,
        })?;
        let labels = object_field(meta, "labels").map_err(|found| PropagationError::OverriddenShape {
            field: "metadata.labels",
            found,
        })?;
        labels.insert(MANAGED_LABEL.into(), Value::String(MANAGED_LABEL_VALUE.into()));
    }

    let retain_replicas = source.retain_replicas == Some(true) && member_exists;
    retain_for_apply(&mut body, target, retain_replicas);
    Ok(body)
}

/// The apply body that pins `spec.replicas` of the member object `desired` (its identity) at `replicas`,
/// to be applied under [`RETAINED_REPLICAS_FIELD_MANAGER`](crate::api::constants::RETAINED_REPLICAS_FIELD_MANAGER)
/// (see the module docs). `None` when `desired` is
/// not an object with a name.
pub fn replicas_pin(desired: &Value, replicas: i64) -> Option<Value> {
    let meta = desired.get("metadata")?;
    let mut identity = Map::new();
    identity.insert("name".into(), meta.get("name")?.clone());
    if let Some(ns) = meta.get("namespace") {
        identity.insert("namespace".into(), ns.clone());
    }
    Some(serde_json::json!({
        "apiVersion": desired.get("apiVersion")?,
        "kind": desired.get("kind")?,
        "metadata": identity,
        "spec": {"replicas": replicas},
    }))
}

/// The object at `obj[key]`, created when absent or null; `Err` with the kind of what is there otherwise.
fn object_field<'a>(
    obj: &'a mut Map<String, Value>,
    key: &str,
) -> Result<&'a mut Map<String, Value>, &'static str> {
    let field = obj.entry(key).or_insert(Value::Null);
    if field.is_null() {
        *field = Value::Object(Map::new());
    }
    match field {
        Value::Object(m) => Ok(m),
        other => Err(json_kind(other)),
    }
}

/// Removes from an apply `body` the fields that belong to the member cluster, so our field manager never
/// claims them (see the module docs for why this replaces KubeFed's copying of member values):
///
/// - always: `status`, and server-populated metadata (`resourceVersion`, `uid`, `generation`,
///   `creationTimestamp`, `deletionTimestamp`, `managedFields`, `selfLink`, `finalizers`, …);
/// - `spec.replicas` when `retain_replicas` (pass `spec.retainReplicas && member exists`);
/// - Service: `spec.clusterIP`, `spec.clusterIPs`, `spec.healthCheckNodePort` and each port's `nodePort`
///   when unset in the template (empty, zero or null) — the member allocates them;
/// - ServiceAccount: `secrets` when the template has none (empty or null) — the token controller may fill it.
///
/// Values set explicitly in the template (a pinned `nodePort`, a `clusterIP: None` headless Service, listed
/// `secrets`) are kept: the user asked for them.
pub fn retain_for_apply(body: &mut Value, target: &TargetType, retain_replicas: bool) {
    let Value::Object(obj) = body else {
        return;
    };
    obj.remove("status");
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        meta.retain(|field, _| !is_server_metadata(field));
    }
    if retain_replicas && let Some(Value::Object(spec)) = obj.get_mut("spec") {
        spec.remove("replicas");
    }
    if !target.group.is_empty() {
        return;
    }
    match target.kind.as_str() {
        "Service" => {
            if let Some(Value::Object(spec)) = obj.get_mut("spec") {
                for f in ["clusterIP", "clusterIPs", "healthCheckNodePort"] {
                    if spec.get(f).is_some_and(is_unset) {
                        spec.remove(f);
                    }
                }
                if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                    for port in ports.iter_mut() {
                        if let Value::Object(p) = port
                            && p.get("nodePort").is_some_and(is_unset)
                        {
                            p.remove("nodePort");
                        }
                    }
                }
            }
        }
        "ServiceAccount" if obj.get("secrets").is_some_and(is_unset) => {
            obj.remove("secrets");
        }
        _ => {}
    }
}

/// Whether a template value means "not set": null, `""`, `0`, `[]` or `{}`.
fn is_unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) => false,
    }
}

/// Whether a member object is ours, by its `kubefed.io/managed` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Managed {
    /// Labelled `"true"`: ours to update and delete.
    Yes,
    /// No label (or another value): not ours; adopt it or report `AlreadyExists`, per KubeFedConfig.
    No,
    /// Labelled `"false"`: never touch it; report `ManagedLabelFalse`.
    ExplicitlyUnmanaged,
}

/// Reads the `kubefed.io/managed` label of a member object (as JSON).
pub fn is_managed(member: &Value) -> Managed {
    match member
        .pointer("/metadata/labels")
        .and_then(|l| l.get(MANAGED_LABEL))
        .and_then(Value::as_str)
    {
        Some(MANAGED_LABEL_VALUE) => Managed::Yes,
        Some(UNMANAGED_LABEL_VALUE) => Managed::ExplicitlyUnmanaged,
        _ => Managed::No,
    }
}

/// Whether deleting `fed` should leave the member copies in place (`kubefed.io/orphan: "true"`).
pub fn orphan_requested(fed: &FederatedObject) -> bool {
    annotation(fed, ORPHAN_ANNOTATION) == Some(ORPHAN_ANNOTATION_VALUE)
}

/// A JSON merge patch that removes our `kubefed.io/managed` label from an orphaned member copy.
pub fn orphan_patch() -> Value {
    serde_json::json!({"metadata": {"labels": {MANAGED_LABEL: null}}})
}

/// The JSON `DeleteOptions` of the `kubefed.io/deleteoption` annotation, to send as the body of member
/// deletes; `None` without the annotation. Errors when it is not a JSON object.
///
/// ```
/// # use kubefed_core::{api::{FederatedObject, FederatedSpec}, propagation::delete_options};
/// # use kube::core::ApiResource;
/// # let ar = ApiResource::erase::<kubefed_core::api::KubeFedCluster>(&());
/// let mut fed = FederatedObject::new("web", &ar, FederatedSpec::default());
/// fed.metadata.annotations = Some([("kubefed.io/deleteoption".to_string(),
///     r#"{"propagationPolicy":"Orphan"}"#.to_string())].into());
/// assert_eq!(delete_options(&fed)?, Some(serde_json::json!({"propagationPolicy": "Orphan"})));
/// # Ok::<(), kubefed_core::propagation::PropagationError>(())
/// ```
pub fn delete_options(fed: &FederatedObject) -> Result<Option<Value>, PropagationError> {
    let Some(raw) = annotation(fed, DELETE_OPTION_ANNOTATION) else {
        return Ok(None);
    };
    let value: Value = serde_json::from_str(raw).map_err(|e| PropagationError::InvalidDeleteOption {
        reason: e.to_string(),
    })?;
    if !value.is_object() {
        return Err(PropagationError::InvalidDeleteOption {
            reason: format!("it is {}", json_kind(&value)),
        });
    }
    Ok(Some(value))
}

fn annotation<'a>(fed: &'a FederatedObject, key: &str) -> Option<&'a str> {
    fed.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    #[test]
    fn replicas_pin_names_the_object_and_only_its_replicas() {
        let desired = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"replicas": 3, "template": {}}
        });
        assert_eq!(
            replicas_pin(&desired, 5),
            Some(serde_json::json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"replicas": 5}
            }))
        );
        assert_eq!(replicas_pin(&serde_json::json!({"kind": "Deployment"}), 1), None);
    }
    use crate::api::{FederatedSpec, federated_api_resource};
    use crate::typeinfo::find_default_type;

    fn fed(kind: &str, name: &str, namespace: Option<&str>, spec: Value) -> (FederatedObject, TargetType) {
        let ty = find_default_type(kind).expect("default type");
        let spec: FederatedSpec = serde_json::from_value(spec).expect("test spec decodes");
        let mut obj = FederatedObject::new(name, &federated_api_resource(&ty), spec);
        obj.metadata.namespace = namespace.map(str::to_string);
        (obj, ty)
    }

    fn eu1() -> ClusterInfo {
        ClusterInfo::new(
            "eu-1",
            BTreeMap::from([("region".to_string(), "eu".to_string())]),
            true,
        )
    }

    /// The skeleton check says "applies" only when the member object really builds, and for every such
    /// case here (it is exact for these, not merely safe).
    #[test]
    fn overrides_apply_agrees_with_building_the_member() {
        let template = json!({
            "metadata": {"labels": {"app": "web"}, "annotations": {"a/b": "1"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx", "env": [{"name": "A"}]},
                {"name": "side", "image": "envoy"}
            ]}}, "strategy": {"type": "Recreate"}}
        });
        let ops = |list: Value| -> Vec<ResolvedOverride> {
            let entries: Vec<crate::api::ClusterOverrides> =
                serde_json::from_value(json!([{"clusterName": "eu-1", "clusterOverrides": list}]))
                    .expect("overrides decode");
            overrides_for_cluster(&entries, &eu1()).expect("valid overrides")
        };
        let cases = [
            (
                "replace replicas",
                template.clone(),
                json!([{"path": "/spec/replicas", "value": 5}]),
            ),
            (
                "replace missing",
                template.clone(),
                json!([{"path": "/spec/paused", "value": true}]),
            ),
            (
                "add missing key",
                template.clone(),
                json!([{"op": "add", "path": "/spec/paused", "value": true}]),
            ),
            (
                "add under missing parent",
                template.clone(),
                json!([{"op": "add", "path": "/spec/nothing/x", "value": 1}]),
            ),
            (
                "remove missing",
                template.clone(),
                json!([{"op": "remove", "path": "/spec/nothing"}]),
            ),
            (
                "remove then reuse index",
                template.clone(),
                json!([
                {"op": "remove", "path": "/spec/template/spec/containers/0"},
                {"path": "/spec/template/spec/containers/0/image", "value": "x"}]),
            ),
            (
                "remove then index gone",
                template.clone(),
                json!([
                {"op": "remove", "path": "/spec/template/spec/containers/0"},
                {"path": "/spec/template/spec/containers/1/image", "value": "x"}]),
            ),
            (
                "into an added value",
                template.clone(),
                json!([
                {"op": "add", "path": "/spec/extra", "value": {"a": {"b": 1}}},
                {"path": "/spec/extra/a/b", "value": 2}]),
            ),
            (
                "escaped key",
                template.clone(),
                json!([{"path": "/metadata/annotations/a~1b", "value": "2"}]),
            ),
            (
                "escaped key missing",
                template.clone(),
                json!([{"path": "/metadata/annotations/a~1c", "value": "2"}]),
            ),
            (
                "labels made a string",
                template.clone(),
                json!([{"path": "/metadata/labels", "value": "x"}]),
            ),
            (
                "labels removed",
                template.clone(),
                json!([{"op": "remove", "path": "/metadata/labels"}]),
            ),
            (
                "through a scalar",
                template.clone(),
                json!([{"path": "/spec/replicas/x", "value": 1}]),
            ),
            (
                "array append",
                template.clone(),
                json!([
                {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "c"}}]),
            ),
            (
                "array index too far",
                template.clone(),
                json!([
                {"op": "add", "path": "/spec/template/spec/containers/5", "value": {"name": "c"}}]),
            ),
            (
                "metadata not an object",
                json!({"metadata": "x", "spec": {}}),
                json!([{"path": "/spec/a", "value": 1}]),
            ),
            (
                "template not an object",
                json!("x"),
                json!([{"op": "add", "path": "/spec", "value": 1}]),
            ),
            (
                "null template",
                Value::Null,
                json!([{"op": "add", "path": "/spec", "value": {}}]),
            ),
            (
                "labels not an object, spec override",
                json!({"metadata": {"labels": "x"}, "spec": {"replicas": 1}}),
                json!([{"path": "/spec/replicas", "value": 2}]),
            ),
            (
                "metadata null, spec override",
                json!({"metadata": null, "spec": {"replicas": 1}}),
                json!([{"path": "/spec/replicas", "value": 2}]),
            ),
            (
                "replace apiVersion",
                template.clone(),
                json!([{"path": "/apiVersion", "value": "apps/v2"}]),
            ),
            (
                "remove apiVersion",
                template.clone(),
                json!([{"op": "remove", "path": "/apiVersion"}]),
            ),
            (
                "remove annotations",
                template.clone(),
                json!([{"op": "remove", "path": "/metadata/annotations"}]),
            ),
            (
                "add at the root",
                template.clone(),
                json!([{"op": "add", "path": "/data", "value": {"a": "b"}}]),
            ),
            (
                "replace an escaped key in spec",
                json!({"spec": {"x~y/z": 1}}),
                json!([{"path": "/spec/x~0y~1z", "value": 2}]),
            ),
            (
                "replace a slash as a path step",
                json!({"spec": {"x~y/z": 1}}),
                json!([{"path": "/spec/x~0y/z", "value": 2}]),
            ),
            (
                "remove a key of an object",
                template.clone(),
                json!([{"op": "remove", "path": "/spec/strategy/type"}]),
            ),
            (
                "replace through a null",
                json!({"spec": {"strategy": null}}),
                json!([{"path": "/spec/strategy/type", "value": "Recreate"}]),
            ),
            (
                "add to a key that is an array",
                template.clone(),
                json!([{"op": "add", "path": "/spec/template/spec/containers", "value": []}]),
            ),
        ];
        let ty = find_default_type("deployments").expect("default type");
        for (name, template, list) in cases {
            let ops = ops(list);
            let source = MemberSource {
                template: &template,
                name: Some("web"),
                namespace: Some("shop"),
                retain_replicas: None,
            };
            let built = member_object_from(&source, &ty, Ok(&ops), true).is_ok();
            assert_eq!(overrides_apply(&source, &ty, &ops), built, "{name}");
            // Without a name, or a namespace for a namespaced kind, nothing builds.
            for (name_, namespace) in [(None, Some("shop")), (Some("web"), None)] {
                let source = MemberSource {
                    name: name_,
                    namespace,
                    ..source
                };
                let built = member_object_from(&source, &ty, Ok(&ops), true).is_ok();
                assert!(!built, "{name}: builds without a name or namespace");
                assert_eq!(
                    overrides_apply(&source, &ty, &ops),
                    built,
                    "{name} {name_:?} {namespace:?}"
                );
            }
        }
    }

    #[test]
    fn member_objects_for_every_default_type() {
        struct Case {
            name: &'static str,
            kind: &'static str,
            fed_name: &'static str,
            namespace: Option<&'static str>,
            spec: Value,
            member_exists: bool,
            want: Value,
        }
        let managed = json!({"kubefed.io/managed": "true"});
        let cases = [
            Case {
                name: "Deployment, labels+annotations kept, override applied",
                kind: "deployments",
                fed_name: "web",
                namespace: Some("shop"),
                spec: json!({
                    "template": {"metadata": {"labels": {"app": "web"}, "annotations": {"team": "a"}},
                                 "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}},
                    "overrides": [{"clusterName": "eu-1", "clusterOverrides": [{"path": "/spec/replicas", "value": 5}]}]
                }),
                member_exists: true,
                want: json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "shop",
                                 "labels": {"app": "web", "kubefed.io/managed": "true"}, "annotations": {"team": "a"}},
                    "spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
                }),
            },
            Case {
                name: "Deployment with retainReplicas, member exists: replicas not claimed (even if overridden)",
                kind: "deployments",
                fed_name: "web",
                namespace: Some("shop"),
                spec: json!({
                    "template": {"spec": {"replicas": 3}},
                    "retainReplicas": true,
                    "overrides": [{"clusterName": "eu-1", "clusterOverrides": [{"path": "/spec/replicas", "value": 5}]}]
                }),
                member_exists: true,
                want: json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "shop", "labels": managed}, "spec": {}}),
            },
            Case {
                name: "Deployment with retainReplicas, first create keeps replicas",
                kind: "deployments",
                fed_name: "web",
                namespace: Some("shop"),
                spec: json!({"template": {"spec": {"replicas": 3}}, "retainReplicas": true}),
                member_exists: false,
                want: json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "shop", "labels": managed}, "spec": {"replicas": 3}}),
            },
            Case {
                name: "Deployment with retainReplicas: false",
                kind: "deployments",
                fed_name: "web",
                namespace: Some("shop"),
                spec: json!({"template": {"spec": {"replicas": 3}}, "retainReplicas": false}),
                member_exists: true,
                want: json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "shop", "labels": managed}, "spec": {"replicas": 3}}),
            },
            Case {
                name: "ReplicaSet",
                kind: "replicasets",
                fed_name: "rs",
                namespace: Some("shop"),
                spec: json!({"template": {"spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}}}}}),
                member_exists: false,
                want: json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": "rs", "namespace": "shop", "labels": managed},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}}}}),
            },
            Case {
                name: "Service: allocated fields not claimed, pinned nodePort kept",
                kind: "services",
                fed_name: "svc",
                namespace: Some("shop"),
                spec: json!({"template": {"spec": {
                    "type": "NodePort", "clusterIP": "", "clusterIPs": [], "healthCheckNodePort": 0,
                    "ports": [{"name": "http", "port": 80, "nodePort": 0}, {"name": "admin", "port": 81, "nodePort": 30081},
                              {"name": "metrics", "port": 9090}]}}}),
                member_exists: true,
                want: json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "svc", "namespace": "shop", "labels": managed},
                    "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80},
                        {"name": "admin", "port": 81, "nodePort": 30081}, {"name": "metrics", "port": 9090}]}}),
            },
            Case {
                name: "headless Service keeps clusterIP None",
                kind: "services",
                fed_name: "db",
                namespace: Some("shop"),
                spec: json!({"template": {"spec": {"clusterIP": "None", "ports": [{"port": 5432}]}}}),
                member_exists: true,
                want: json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "db", "namespace": "shop", "labels": managed},
                    "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}}),
            },
            Case {
                name: "ServiceAccount without secrets",
                kind: "serviceaccounts",
                fed_name: "bot",
                namespace: Some("shop"),
                spec: json!({"template": {"secrets": [], "automountServiceAccountToken": false}}),
                member_exists: true,
                want: json!({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "bot", "namespace": "shop", "labels": managed},
                    "automountServiceAccountToken": false}),
            },
            Case {
                name: "ServiceAccount with listed secrets keeps them",
                kind: "serviceaccounts",
                fed_name: "bot",
                namespace: Some("shop"),
                spec: json!({"template": {"secrets": [{"name": "tok"}]}}),
                member_exists: true,
                want: json!({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "bot", "namespace": "shop", "labels": managed},
                    "secrets": [{"name": "tok"}]}),
            },
            Case {
                name: "Namespace → cluster-scoped member Namespace",
                kind: "namespaces",
                fed_name: "shop",
                namespace: Some("shop"),
                spec: json!({"template": {"metadata": {"labels": {"env": "prod"}}}}),
                member_exists: false,
                want: json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "shop", "labels": {"env": "prod", "kubefed.io/managed": "true"}}}),
            },
            Case {
                name: "ClusterRole is cluster-scoped, template namespace dropped",
                kind: "clusterroles",
                fed_name: "reader",
                namespace: None,
                spec: json!({"template": {"metadata": {"namespace": "oops"},
                    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}}),
                member_exists: false,
                want: json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": "reader", "labels": managed},
                    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
            },
            Case {
                name: "ConfigMap, server metadata and status stripped, template name ignored",
                kind: "configmaps",
                fed_name: "cfg",
                namespace: Some("shop"),
                spec: json!({"template": {
                    "metadata": {"name": "other", "namespace": "elsewhere", "resourceVersion": "12", "uid": "u",
                                 "finalizers": ["x"], "managedFields": [], "creationTimestamp": null},
                    "data": {"k": "v"}, "status": {}}}),
                member_exists: true,
                want: json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "cfg", "namespace": "shop", "labels": managed}, "data": {"k": "v"}}),
            },
            Case {
                name: "Secret, label-selected override",
                kind: "secrets",
                fed_name: "s",
                namespace: Some("shop"),
                spec: json!({"template": {"type": "Opaque", "stringData": {"k": "v"}},
                    "overrides": [{"clusterSelector": {"matchLabels": {"region": "eu"}},
                                   "clusterOverrides": [{"path": "/stringData/k", "value": "eu"}]}]}),
                member_exists: false,
                want: json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "s", "namespace": "shop", "labels": managed},
                    "type": "Opaque", "stringData": {"k": "eu"}}),
            },
            Case {
                name: "Ingress",
                kind: "ingresses",
                fed_name: "ing",
                namespace: Some("shop"),
                spec: json!({"template": {"spec": {"rules": [{"host": "shop.example.com"}]}}}),
                member_exists: false,
                want: json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                    "metadata": {"name": "ing", "namespace": "shop", "labels": managed},
                    "spec": {"rules": [{"host": "shop.example.com"}]}}),
            },
            Case {
                name: "Job",
                kind: "jobs",
                fed_name: "once",
                namespace: Some("shop"),
                spec: json!({"template": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox"}]}}}}}),
                member_exists: false,
                want: json!({"apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": "once", "namespace": "shop", "labels": managed},
                    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}),
            },
            Case {
                name: "override cannot remove the managed label",
                kind: "configmaps",
                fed_name: "cfg",
                namespace: Some("shop"),
                spec: json!({"template": {"metadata": {"labels": {"a": "b"}}},
                    "overrides": [{"clusterName": "eu-1", "clusterOverrides": [{"op": "remove", "path": "/metadata/labels"}]}]}),
                member_exists: false,
                want: json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "cfg", "namespace": "shop", "labels": managed}}),
            },
        ];
        for c in cases {
            let (obj, ty) = fed(c.kind, c.fed_name, c.namespace, c.spec);
            let got = desired_member_object(&obj, &ty, &eu1(), c.member_exists);
            assert_eq!(got, Ok(c.want), "{}", c.name);
        }
    }

    #[test]
    fn member_object_errors() {
        struct Case {
            name: &'static str,
            kind: &'static str,
            namespace: Option<&'static str>,
            spec: Value,
            want_status: PropagationStatus,
            want: &'static str,
        }
        let cases = [
            Case {
                name: "override fails",
                kind: "deployments",
                namespace: Some("shop"),
                spec: json!({"template": {"spec": {}},
                    "overrides": [{"clusterName": "eu-1", "clusterOverrides": [{"op": "add", "path": "/spec/template/spec/x", "value": 1}]}]}),
                want_status: PropagationStatus::ApplyOverridesFailed,
                want: "spec.overrides[0].clusterOverrides[0]: add /spec/template/spec/x failed",
            },
            Case {
                name: "override makes labels a string",
                kind: "configmaps",
                namespace: Some("shop"),
                spec: json!({"template": {"metadata": {"labels": {}}},
                    "overrides": [{"clusterName": "eu-1", "clusterOverrides": [{"path": "/metadata/labels", "value": "x"}]}]}),
                want_status: PropagationStatus::ApplyOverridesFailed,
                want: "after overrides, metadata.labels is a string",
            },
            Case {
                name: "template not an object",
                kind: "configmaps",
                namespace: Some("shop"),
                spec: json!({"template": "x"}),
                want_status: PropagationStatus::ComputeResourceFailed,
                want: "spec.template is a string, not an object",
            },
            Case {
                name: "template metadata not an object",
                kind: "configmaps",
                namespace: Some("shop"),
                spec: json!({"template": {"metadata": []}}),
                want_status: PropagationStatus::ComputeResourceFailed,
                want: "spec.template.metadata is an array",
            },
            Case {
                name: "namespaced without namespace",
                kind: "secrets",
                namespace: None,
                spec: json!({"template": {}}),
                want_status: PropagationStatus::ComputeResourceFailed,
                want: "FederatedSecret \"x\" is namespaced but has no metadata.namespace",
            },
        ];
        for c in cases {
            let (obj, ty) = fed(c.kind, "x", c.namespace, c.spec);
            let err = desired_member_object(&obj, &ty, &eu1(), true).expect_err(c.name);
            assert_eq!(err.status(), c.want_status, "{}", c.name);
            assert!(err.to_string().starts_with(c.want), "{}: {err}", c.name);
        }
    }

    #[test]
    fn desired_object_is_deterministic_and_stable_under_empty_template() {
        let (obj, ty) = fed("configmaps", "cfg", Some("shop"), json!({}));
        let a = desired_member_object(&obj, &ty, &eu1(), true);
        assert_eq!(a, desired_member_object(&obj, &ty, &eu1(), true));
        assert_eq!(
            a,
            Ok(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cfg", "namespace": "shop", "labels": {"kubefed.io/managed": "true"}}}))
        );
    }

    #[test]
    fn managed_label() {
        struct Case {
            name: &'static str,
            member: Value,
            want: Managed,
        }
        let cases = [
            Case {
                name: "true",
                member: json!({"metadata": {"labels": {"kubefed.io/managed": "true"}}}),
                want: Managed::Yes,
            },
            Case {
                name: "false",
                member: json!({"metadata": {"labels": {"kubefed.io/managed": "false"}}}),
                want: Managed::ExplicitlyUnmanaged,
            },
            Case {
                name: "absent",
                member: json!({"metadata": {"labels": {"app": "x"}}}),
                want: Managed::No,
            },
            Case {
                name: "no labels",
                member: json!({"metadata": {}}),
                want: Managed::No,
            },
            Case {
                name: "other value",
                member: json!({"metadata": {"labels": {"kubefed.io/managed": "yes"}}}),
                want: Managed::No,
            },
            Case {
                name: "not an object",
                member: json!(null),
                want: Managed::No,
            },
        ];
        for c in cases {
            assert_eq!(is_managed(&c.member), c.want, "{}", c.name);
        }
    }

    #[test]
    fn orphan_and_delete_options() {
        struct Case {
            name: &'static str,
            annotations: &'static [(&'static str, &'static str)],
            orphan: bool,
            delete: Result<Option<Value>, &'static str>,
        }
        let cases = [
            Case {
                name: "none",
                annotations: &[],
                orphan: false,
                delete: Ok(None),
            },
            Case {
                name: "orphan",
                annotations: &[("kubefed.io/orphan", "true")],
                orphan: true,
                delete: Ok(None),
            },
            Case {
                name: "orphan false",
                annotations: &[("kubefed.io/orphan", "false")],
                orphan: false,
                delete: Ok(None),
            },
            Case {
                name: "delete options",
                annotations: &[(
                    "kubefed.io/deleteoption",
                    r#"{"propagationPolicy":"Foreground","gracePeriodSeconds":5}"#,
                )],
                orphan: false,
                delete: Ok(Some(
                    json!({"propagationPolicy": "Foreground", "gracePeriodSeconds": 5}),
                )),
            },
            Case {
                name: "not JSON",
                annotations: &[("kubefed.io/deleteoption", "Foreground")],
                orphan: false,
                delete: Err(
                    "annotation kubefed.io/deleteoption is not a JSON object of DeleteOptions (expected",
                ),
            },
            Case {
                name: "not an object",
                annotations: &[("kubefed.io/deleteoption", "[1]")],
                orphan: false,
                delete: Err(
                    "annotation kubefed.io/deleteoption is not a JSON object of DeleteOptions (it is an array)",
                ),
            },
        ];
        for c in cases {
            let (mut obj, _) = fed("configmaps", "cfg", Some("shop"), json!({}));
            obj.metadata.annotations = Some(
                c.annotations
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect(),
            );
            assert_eq!(orphan_requested(&obj), c.orphan, "{}", c.name);
            match (delete_options(&obj), c.delete) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{}", c.name),
                (Err(e), Err(want)) => assert!(e.to_string().starts_with(want), "{}: {e}", c.name),
                (got, want) => panic!("{}: got {got:?}, want {want:?}", c.name),
            }
        }
        assert_eq!(
            orphan_patch(),
            json!({"metadata": {"labels": {"kubefed.io/managed": null}}})
        );
    }

    #[test]
    fn retention_only_touches_core_service_and_serviceaccount() {
        // A CRD kind named Service in another group keeps its fields.
        let mut ty = find_default_type("services").expect("default type");
        ty.group = "example.com".into();
        let mut body = json!({"spec": {"clusterIP": "", "replicas": 1}, "status": {"x": 1}});
        retain_for_apply(&mut body, &ty, false);
        assert_eq!(body, json!({"spec": {"clusterIP": "", "replicas": 1}}));
        // Non-object bodies are left alone.
        let mut s = json!("x");
        retain_for_apply(&mut s, &ty, true);
        assert_eq!(s, json!("x"));
    }

    #[test]
    fn kubefed_semantics_drop_template_annotations_but_not_overridden_ones() {
        let (obj, ty) = fed(
            "deployments",
            "web",
            Some("shop"),
            json!({
                "template": {"metadata": {"labels": {"app": "web"}, "annotations": {"team": "a"}},
                             "spec": {"template": {"metadata": {"annotations": {"pod": "kept"}}}}},
                "overrides": [{"clusterName": "eu-1", "clusterOverrides": [
                    {"op": "add", "path": "/metadata/annotations", "value": {"per-cluster": "yes"}}]}]
            }),
        );
        let kubefed = MemberOptions {
            drop_template_annotations: true,
        };
        let got = desired_member_object_with(&obj, &ty, &eu1(), true, kubefed).expect("builds");
        assert_eq!(got["metadata"]["annotations"], json!({"per-cluster": "yes"}));
        assert_eq!(got["metadata"]["labels"]["app"], "web");
        // The pod template is the workload's spec, not the object's metadata: unchanged either way.
        assert_eq!(
            got["spec"]["template"]["metadata"]["annotations"],
            json!({"pod": "kept"})
        );

        let other = ClusterInfo::new("us-1", BTreeMap::new(), true);
        let got = desired_member_object_with(&obj, &ty, &other, true, kubefed).expect("builds");
        assert!(got["metadata"].get("annotations").is_none(), "{got}");
        let default = desired_member_object(&obj, &ty, &other, true).expect("builds");
        assert_eq!(default["metadata"]["annotations"], json!({"team": "a"}));
    }
}
