//! Admission of `types.kubefed.io` `Federated<Kind>` objects.
//!
//! Validation, in the order its messages appear:
//! 1. **Shape**: `spec.placement`, `spec.overrides` and `spec.retainReplicas` decode; `spec.template` is an
//!    object.
//! 2. **Type**: the FederatedTypeConfig that federates the kind (a warning when there is none or its
//!    propagation is disabled); `spec.template.kind` equals the target kind and `spec.template.apiVersion` is
//!    in the target's group, when set; `spec.template.metadata.namespace`, when set, equals the object's
//!    namespace (and is absent for cluster-scoped targets); names: a FederatedNamespace is named after its
//!    namespace, a FederatedService has a DNS-1035 name.
//! 3. **Placement**: cluster names are not empty, a malformed `clusterSelector` is refused; duplicate or
//!    unjoined names, `clusters` shadowing `clusterSelector`, and placements that select nothing are
//!    warnings.
//! 4. **Overrides**: [`validate_overrides`] (targets, selectors, ops, JSON Pointers, forbidden paths,
//!    duplicates, with warnings for clusters outside the placement list).
//! 5. **Policies**: the selecting FederationPolicies' rules ([`crate::policy`]).
//! 6. **Namespace consistency**: a namespaced object (other than a FederatedNamespace) that targets clusters
//!    needs a FederatedNamespace, and every joined target cluster must be in its placement.
//! 7. **What the request does on members**: on create, every cluster the placement names or selects; on
//!    update, the clusters it adds and those whose member object changes (built with the controller's
//!    [`desired_member_object`](crate::propagation::desired_member_object) when only overrides changed). Removed clusters are never checked, so
//!    narrowing is always possible.
//! 8. **Overrides on those clusters**, applied with the controller's code: a failure is denied with the
//!    controller's message; override values are handed to the webhook for a schema type check.
//! 9. **RBAC** for the webhook to ask: `propagate` on those clusters, or on every cluster for a placement by
//!    label; and native equivalence ([`super::access`]): the target kind's `create`/`update` and the RBAC
//!    escalation rules.
//!
//! Mutation fills `spec.placement` from the first selecting policy's `defaultPlacement` when the object sets
//! neither `clusters` nor `clusterSelector`, and removes from `spec.template` what an API server writes:
//! `status`, the server-set `metadata` fields (uid, resourceVersion, generation, timestamps, managedFields,
//! ownerReferences, selfLink) of the template and of its pod template, and the annotations in
//! [`STRIPPED_ANNOTATIONS`] — what a copy of `kubectl get -o yaml` carries. No bookkeeping labels are needed:
//! the controller finds federated objects by their type, not by label.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, RemoveOperation};
use kube::core::DynamicObject;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::access::{NativeTarget, RBAC_GROUP, native_checks};
use super::names::dns1035_label;
use super::schema::{TypeCheck, TypedValue};
use super::{
    AdmissionInput, AuditEntry, Decision, Mutation, Operation, PropagateCheck, Reason, Snapshot, TypeEntry,
};
use crate::api::constants::SERVER_METADATA_FIELDS;
use crate::api::{
    ClusterOverrides, Enforcement, OverrideOperation, Placement, PolicyViolation, PropagationStatus,
};
use crate::convert::{STRIPPED_ANNOTATIONS, validate_overrides};
use crate::overrides::{OverridesError, ResolvedOverride, overrides_for_cluster, resolve_for_cluster};
use crate::placement::ClusterInfo;
use crate::placement::resolve_placement;
use crate::policy::{self, Subject, Targets, Violation};
use crate::propagation::{MemberSource, PropagationError, member_object_from, overrides_apply};
use crate::selector::validate_selector;
use crate::typeinfo::Scope;

/// Most member objects built per request to check overrides (bounds the work on objects placed widely).
const MAX_MEMBER_CHECKS: usize = 256;

/// The typed parts of a federated object's spec.
struct Spec<'a> {
    template: Option<&'a Value>,
    placement: Placement,
    overrides: Vec<ClusterOverrides>,
    retain_replicas: Option<bool>,
}

fn parse(object: &DynamicObject) -> Result<Spec<'_>, String> {
    let spec = object.data.get("spec");
    let field = |key: &str| spec.and_then(|s| s.get(key)).filter(|v| !v.is_null());
    let placement = match field("placement") {
        Some(v) => Placement::deserialize(v).map_err(|e| shape_error("spec.placement", &e))?,
        None => Placement::default(),
    };
    let overrides = match field("overrides") {
        Some(v) => Vec::<ClusterOverrides>::deserialize(v).map_err(|e| shape_error("spec.overrides", &e))?,
        None => Vec::new(),
    };
    let retain_replicas = match field("retainReplicas") {
        Some(v) => Some(bool::deserialize(v).map_err(|e| shape_error("spec.retainReplicas", &e))?),
        None => None,
    };
    Ok(Spec {
        template: field("template"),
        placement,
        overrides,
        retain_replicas,
    })
}

fn shape_error(field: &str, e: &serde_json::Error) -> String {
    format!("{field}: {e}; fix the field's type (see `kubectl explain` for the federated type)")
}

/// What the federated kind is, from its FederatedTypeConfig if any.
struct KindInfo<'s> {
    entry: Option<&'s TypeEntry>,
    /// A FederatedNamespace.
    namespace_type: bool,
    /// The target is cluster-scoped (and not a Namespace).
    cluster_scoped: bool,
}

fn kind_info<'s>(input: &AdmissionInput<'_>, snapshot: &'s Snapshot) -> KindInfo<'s> {
    let entry = snapshot.type_for_federated(input.group, input.kind);
    let namespace_type = entry.map_or(input.kind == "FederatedNamespace", |e| e.target.is_namespace());
    let cluster_scoped =
        !namespace_type && entry.map_or(input.namespace.is_none(), |e| e.target.scope == Scope::Cluster);
    KindInfo {
        entry,
        namespace_type,
        cluster_scoped,
    }
}

/// The clusters `placement` puts an object on now (see [`Targets`]); `Err` for a malformed selector.
fn targets<'s>(placement: &Placement, snapshot: &'s Snapshot) -> Result<Targets<'s>, String> {
    if let Some(list) = &placement.clusters {
        // What `resolve_placement` gives for a list (the joined clusters it names, by name: the snapshot's
        // clusters are sorted and unique), without building the set of their names.
        return Ok(Targets {
            named: list
                .iter()
                .filter(|c| !c.name.is_empty())
                .map(|c| c.name.clone())
                .collect(),
            joined: snapshot
                .clusters
                .iter()
                .filter(|c| list.iter().any(|r| r.name == c.name))
                .collect(),
            by_selector: false,
        });
    }
    let joined_names =
        resolve_placement(placement, &snapshot.clusters, "spec.placement").map_err(|e| e.to_string())?;
    let joined = joined_names.iter().filter_map(|n| snapshot.cluster(n)).collect();
    Ok(Targets {
        named: joined_names,
        joined,
        by_selector: placement.cluster_selector.is_some(),
    })
}

pub(super) fn validate(
    input: &AdmissionInput<'_>,
    object: &DynamicObject,
    snapshot: &Snapshot,
    d: &mut Decision,
) {
    let spec = match parse(object) {
        Ok(spec) => spec,
        Err(e) => return d.deny(Reason::Invalid, e),
    };
    let info = kind_info(input, snapshot);
    let namespace = input.namespace.or(object.metadata.namespace.as_deref());
    let name = input.object_name();
    let system_namespace = snapshot.settings.system_namespace.as_str();

    match info.entry {
        None => d.warnings.push(format!(
            "no FederatedTypeConfig federates {} ({}), so the object is stored but not propagated; enable its \
             target type with a FederatedTypeConfig in {system_namespace}",
            input.kind, input.group
        )),
        Some(e) if !e.propagation => d.warnings.push(format!(
            "propagation is disabled in FederatedTypeConfig {:?}, so the object is not propagated until its \
             spec.propagation is Enabled",
            e.config_name
        )),
        Some(_) => {}
    }
    check_names(&info, namespace, name, d);
    check_template(&spec, &info, namespace, name, d);
    let placement_ok = check_placement(&spec.placement, snapshot, d);
    let overrides_ok = check_overrides(&spec, snapshot, d);
    if spec.retain_replicas == Some(true)
        && let Some(e) = info.entry
        && !e.target.has_replicas
    {
        d.warnings.push(format!(
            "spec.retainReplicas has no effect: {} has no spec.replicas; remove it",
            e.target.kind
        ));
    }
    if !placement_ok {
        return;
    }
    let Ok(mut targets) = targets(&spec.placement, snapshot) else {
        return;
    };

    // Policies.
    let subject = Subject {
        kind: input.kind,
        target_kind: info.entry.map(|e| e.target.kind.as_str()),
        target_group: info.entry.map(|e| e.target.group.as_str()),
        labels: object.metadata.labels.as_ref(),
        namespace: if info.cluster_scoped { None } else { namespace },
        name,
    };
    let labels = subject.namespace.and_then(|n| snapshot.namespace_labels.get(n));
    let (selected, mut violations) = policy::selecting(&snapshot.policies, &subject, labels);
    violations.extend(policy::check_kind(&selected, &subject));
    let nothing_ruled_out = BTreeSet::<String>::new();
    violations.extend(policy::check_with(
        &selected,
        &targets,
        &snapshot.clusters,
        input.ruled_out.unwrap_or(&nothing_ruled_out),
    ));

    // Namespace consistency.
    if !info.namespace_type
        && !info.cluster_scoped
        && !targets.named.is_empty()
        && let Some(ns) = namespace
        && let Some((reason, message)) = namespace_consistency(ns, &targets, snapshot)
    {
        let (enforcement, by) =
            policy::namespace_consistency(&selected, snapshot.settings.namespace_consistency);
        violations.push(Violation {
            policy: by.unwrap_or_default().to_string(),
            enforcement,
            rule: "namespaceConsistency".to_string(),
            reason,
            message,
        });
    }
    for v in violations {
        route(v, &subject, input.user, d);
    }

    // What the request does on members: the clusters it adds and those whose member object it changes.
    let old = match (input.operation, input.old_object) {
        (Operation::Update, Some(old)) => parse(old).ok().map(|s| (old, s)),
        _ => None,
    };
    let members = Members::new(input, object, &spec, info.entry, snapshot);
    let (added, changed) = match &old {
        Some((old_object, old_spec)) => {
            let old_members = Members::new(input, old_object, old_spec, info.entry, snapshot);
            let old_named = targets_of(&old_spec.placement, snapshot);
            let added: BTreeSet<String> = targets.named.difference(&old_named).cloned().collect();
            let kept = targets.named.intersection(&old_named);
            let changed = member_changes(&members, &old_members, kept);
            (added, changed)
        }
        None => (std::mem::take(&mut targets.named), BTreeSet::new()),
    };
    let (creates, updates) = (!added.is_empty(), !changed.is_empty());
    let touched: BTreeSet<String> = if changed.is_empty() {
        added
    } else {
        added.union(&changed).cloned().collect()
    };

    // Overrides, applied with the controller's own code on the clusters the request touches.
    let bodies = check_members(&spec, &members, &touched, overrides_ok, d);

    // RBAC: propagate.
    let by_selector = spec.placement.clusters.is_none() && spec.placement.cluster_selector.is_some();
    let placement_changed = old.as_ref().is_none_or(|(_, o)| o.placement != spec.placement);
    let touched_any = !touched.is_empty();
    let all_clusters = by_selector && (placement_changed || touched_any);
    if touched_any || all_clusters {
        d.propagate = Some(PropagateCheck {
            clusters: touched,
            field: if by_selector {
                "spec.placement.clusterSelector"
            } else {
                "spec.placement"
            },
            all_clusters,
        });
    }

    // RBAC: native equivalence.
    if snapshot.settings.native_equivalence
        && let Some(entry) = info.entry
        && touched_any
    {
        let t = &entry.target;
        let target = NativeTarget {
            group: &t.group,
            resource: &t.plural,
            kind: &t.kind,
            namespace: if info.namespace_type || info.cluster_scoped {
                None
            } else {
                namespace
            },
            name: if info.namespace_type {
                namespace.unwrap_or(name)
            } else {
                name
            },
            is_namespace: info.namespace_type,
        };
        let bodies: Vec<&Value> = bodies.iter().collect();
        d.access = native_checks(input.user.unwrap_or_default(), &target, creates, updates, &bodies);
    }
}

/// The clusters `placement` names or selects now (empty when its selector is malformed).
fn targets_of(placement: &Placement, snapshot: &Snapshot) -> BTreeSet<String> {
    targets(placement, snapshot).map(|t| t.named).unwrap_or_default()
}

/// Member objects of one version of a federated object, built on demand with the controller's code
/// ([`member_object_from`], the steps of `desired_member_object`) from the borrowed parts of the object.
struct Members<'a, 's> {
    spec: &'a Spec<'a>,
    source: MemberSource<'a>,
    entry: Option<&'s TypeEntry>,
    snapshot: &'s Snapshot,
}

impl<'a, 's> Members<'a, 's> {
    fn new(
        input: &AdmissionInput<'a>,
        object: &'a DynamicObject,
        spec: &'a Spec<'a>,
        entry: Option<&'s TypeEntry>,
        snapshot: &'s Snapshot,
    ) -> Self {
        // As the controller sees the stored object: a name (the request's when generated), a namespace.
        let name = object
            .metadata
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(input.object_name());
        let namespace = object.metadata.namespace.as_deref().or(input.namespace);
        Self {
            spec,
            source: MemberSource {
                template: spec.template.unwrap_or(&Value::Null),
                name: Some(name),
                namespace,
                retain_replicas: spec.retain_replicas,
            },
            entry,
            snapshot,
        }
    }

    /// What the controller knows of `cluster`: its labels if joined, none otherwise.
    fn info(&self, cluster: &str) -> Cow<'s, ClusterInfo> {
        match self.snapshot.cluster(cluster) {
            Some(info) => Cow::Borrowed(info),
            None => Cow::Owned(ClusterInfo::new(cluster, BTreeMap::new(), false)),
        }
    }

    /// The override operations for `cluster`, in the order the controller applies them.
    fn ops(&self, cluster: &str) -> Result<Vec<ResolvedOverride>, OverridesError> {
        overrides_for_cluster(&self.spec.overrides, &self.info(cluster))
    }

    /// Whether the member object with the operations `ops` certainly builds (see [`overrides_apply`]).
    fn certainly_applies(&self, ops: &[ResolvedOverride]) -> bool {
        self.entry
            .is_some_and(|e| overrides_apply(&self.source, &e.target, ops))
    }

    /// The member object with the operations `ops`; `None` without a FederatedTypeConfig (no member
    /// objects).
    fn body(
        &self,
        ops: Result<&[ResolvedOverride], OverridesError>,
    ) -> Option<Result<Value, PropagationError>> {
        let entry = self.entry?;
        Some(member_object_from(&self.source, &entry.target, ops, true))
    }
}

/// The clusters among `kept` (in both versions' placement) whose member object differs between them.
fn member_changes<'c>(
    new: &Members<'_, '_>,
    old: &Members<'_, '_>,
    kept: impl Iterator<Item = &'c String>,
) -> BTreeSet<String> {
    let same_body =
        new.spec.template == old.spec.template && new.spec.retain_replicas == old.spec.retain_replicas;
    if same_body && new.spec.overrides == old.spec.overrides {
        return BTreeSet::new();
    }
    if !same_body {
        // The template changes every member.
        return kept.cloned().collect();
    }
    // Only the overrides changed: a member changes when the operations applied to it do (template and
    // retainReplicas being equal, the controller builds it from those alone).
    kept.filter(|c| new.ops(c) != old.ops(c)).cloned().collect()
}

/// Checks the overrides of each `touched` cluster with the controller's code: an override the controller
/// could not apply is denied with the controller's message; override values are handed over for a type
/// check. Returns the member objects of RBAC kinds (for the escalation rules).
///
/// Only clusters with operations are built, each distinct list of operations once: the body is the
/// template plus the operations, whatever the cluster.
fn check_members(
    spec: &Spec<'_>,
    members: &Members<'_, '_>,
    touched: &BTreeSet<String>,
    overrides_ok: bool,
    d: &mut Decision,
) -> Vec<Value> {
    let mut bodies = Vec::new();
    let Some(entry) = members.entry else {
        return bodies;
    };
    if !overrides_ok {
        // Already refused by the structural check, with a better message.
        return bodies;
    }
    let rbac = entry.target.group == RBAC_GROUP;
    // The controller's message, with the clusters it happens on (the same message once).
    let mut failures: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut seen: Vec<(Vec<ResolvedOverride>, Option<String>)> = Vec::new();
    let failed =
        |e: PropagationError| (e.status() == PropagationStatus::ApplyOverridesFailed).then(|| e.to_string());
    for cluster in touched.iter().take(MAX_MEMBER_CHECKS) {
        let info = members.info(cluster);
        // Validated above: resolving cannot fail on structure.
        let ops = resolve_for_cluster(&spec.overrides, &info);
        let outcome = if rbac {
            match members.body(ops.as_deref().map_err(Clone::clone)) {
                Some(Ok(body)) => {
                    bodies.push(body);
                    None
                }
                Some(Err(e)) => failed(e),
                None => None,
            }
        } else {
            let Ok(ops) = ops else {
                continue;
            };
            if ops.is_empty() {
                continue;
            }
            if let Some((_, outcome)) = seen.iter().find(|(o, _)| *o == ops) {
                outcome.clone()
            } else {
                let outcome = if members.certainly_applies(&ops) {
                    None
                } else {
                    match members.body(Ok(&ops)) {
                        Some(Err(e)) => failed(e),
                        _ => None,
                    }
                };
                seen.push((ops, outcome.clone()));
                outcome
            }
        };
        if let Some(message) = outcome {
            failures.entry(message).or_default().push(cluster);
        }
    }
    for (message, clusters) in failures {
        let list = clusters
            .iter()
            .map(|c| format!("{c:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        d.deny(
            Reason::Invalid,
            format!(
                "{message} (for cluster{} {list}; the controller would report ApplyOverridesFailed); fix the \
                 override or the template",
                if clusters.len() == 1 { "" } else { "s" }
            ),
        );
    }
    let mut values = Vec::new();
    for (i, entry_) in spec.overrides.iter().enumerate() {
        for (j, o) in entry_.cluster_overrides.iter().enumerate() {
            let Ok(op) = o.operation() else { continue };
            if op == OverrideOperation::Remove {
                continue;
            }
            if let Some(value) = o.value.as_ref().filter(|v| !v.is_null()) {
                values.push(TypedValue {
                    field: format!("spec.overrides[{i}].clusterOverrides[{j}].value"),
                    path: o.path.clone(),
                    value: value.clone(),
                });
            }
        }
    }
    if !values.is_empty() && !touched.is_empty() {
        let t = &entry.target;
        d.type_check = Some(TypeCheck {
            group: t.group.clone(),
            version: t.version.clone(),
            kind: t.kind.clone(),
            values,
        });
    }
    bodies
}

/// Hands a violation to its enforcement: a denial, a warning, or an audit record for its policy.
fn route(v: Violation, subject: &Subject<'_>, user: Option<&str>, d: &mut Decision) {
    match v.enforcement {
        Enforcement::Deny => d.deny(v.reason, v.message),
        Enforcement::Warn => d.warnings.push(v.message),
        Enforcement::Audit if v.policy.is_empty() => d.warnings.push(v.message),
        Enforcement::Audit => d.audit.push(AuditEntry {
            policy: v.policy,
            violation: PolicyViolation {
                kind: subject.kind.to_string(),
                namespace: subject.namespace.map(str::to_string),
                name: subject.name.to_string(),
                rule: v.rule,
                message: v.message,
                user: user.map(str::to_string),
                time: None,
            },
        }),
    }
}

fn check_names(info: &KindInfo<'_>, namespace: Option<&str>, name: &str, d: &mut Decision) {
    if name.is_empty() {
        return;
    }
    if info.namespace_type {
        if let Some(ns) = namespace
            && name != ns
        {
            d.deny(
                Reason::Invalid,
                format!(
                    "metadata.name {name:?} must equal the namespace {ns:?}: a FederatedNamespace federates the \
                     namespace it lives in; name it {ns:?}"
                ),
            );
        }
        return;
    }
    if let Some(e) = info.entry
        && e.target.group.is_empty()
        && e.target.kind == "Service"
        && let Err(why) = dns1035_label(name)
    {
        d.deny(
            Reason::Invalid,
            format!("metadata.name: {why}, because member Services are named after the FederatedService"),
        );
    }
}

fn check_template(
    spec: &Spec<'_>,
    info: &KindInfo<'_>,
    namespace: Option<&str>,
    name: &str,
    d: &mut Decision,
) {
    let Some(template) = spec.template else {
        return;
    };
    let Some(template) = template.as_object() else {
        return d.deny(
            Reason::Invalid,
            "spec.template must be an object: the target object's body (metadata, spec, data, …) without \
             apiVersion, kind and status",
        );
    };
    if let Some(e) = info.entry {
        let t = &e.target;
        if let Some(kind) = template.get("kind").and_then(Value::as_str)
            && kind != t.kind
        {
            d.deny(
                Reason::Invalid,
                format!(
                    "spec.template.kind {kind:?} does not match FederatedTypeConfig {:?}, which federates {}; set it \
                     to {} or remove it",
                    e.config_name, t.kind, t.kind
                ),
            );
        }
        if let Some(api_version) = template.get("apiVersion").and_then(Value::as_str) {
            let group = api_version.split_once('/').map_or("", |(g, _)| g);
            if group != t.group {
                let shown = if t.group.is_empty() {
                    "the core group".to_string()
                } else {
                    format!("group {}", t.group)
                };
                d.deny(
                    Reason::Invalid,
                    format!(
                        "spec.template.apiVersion {api_version:?} is not in {shown} of FederatedTypeConfig {:?}; use \
                         {} or remove it",
                        e.config_name,
                        t.api_version()
                    ),
                );
            }
        }
    }
    let metadata = template.get("metadata").and_then(Value::as_object);
    if let Some(tns) = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        if info.namespace_type || info.cluster_scoped {
            d.deny(
                Reason::Invalid,
                format!(
                    "spec.template.metadata.namespace {tns:?} is set, but the target is cluster-scoped; remove it"
                ),
            );
        } else if let Some(ns) = namespace
            && tns != ns
        {
            d.deny(
                Reason::Invalid,
                format!(
                    "spec.template.metadata.namespace {tns:?} differs from the object's namespace {ns:?}; member \
                     objects are created in {ns:?}, so remove it or set it to {ns:?}"
                ),
            );
        }
    }
    if let Some(tname) = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        && !name.is_empty()
        && tname != name
    {
        d.warnings.push(format!(
            "spec.template.metadata.name {tname:?} is ignored: member objects are named after the federated object \
             ({name:?}); remove it"
        ));
    }
}

/// Checks `spec.placement`; `false` when it cannot be resolved (a malformed selector).
fn check_placement(placement: &Placement, snapshot: &Snapshot, d: &mut Decision) -> bool {
    let system_namespace = &snapshot.settings.system_namespace;
    match (&placement.clusters, &placement.cluster_selector) {
        (Some(list), selector) => {
            if selector.is_some() {
                d.warnings.push(
                    "spec.placement.clusterSelector is ignored because spec.placement.clusters is set; remove one of \
                     them"
                        .to_string(),
                );
            }
            if list.is_empty() {
                d.warnings.push(
                    "spec.placement.clusters is empty, so the object is placed on no cluster; list clusters, or \
                     remove clusters and set clusterSelector: {} for every cluster"
                        .to_string(),
                );
            }
            for (i, c) in list.iter().enumerate() {
                if c.name.is_empty() {
                    d.deny(
                        Reason::Invalid,
                        format!("spec.placement.clusters[{i}].name is empty; name a KubeFedCluster"),
                    );
                    continue;
                }
                if let Some(first) = list[..i].iter().position(|o| o.name == c.name) {
                    d.warnings.push(format!(
                        "spec.placement.clusters[{i}]: cluster {:?} is listed twice (first at [{first}]); remove one",
                        c.name
                    ));
                } else if snapshot.cluster(&c.name).is_none() {
                    d.warnings.push(format!(
                        "spec.placement.clusters[{i}]: cluster {:?} is not joined (no KubeFedCluster of that name in \
                         {system_namespace}); the object goes there only once it joins",
                        c.name
                    ));
                }
            }
            true
        }
        (None, Some(selector)) => match validate_selector(selector) {
            Ok(()) => true,
            Err(e) => {
                d.deny(Reason::Invalid, format!("spec.placement.clusterSelector.{e}"));
                false
            }
        },
        (None, None) => {
            d.warnings.push(
                "spec.placement sets neither clusters nor clusterSelector and no FederationPolicy provides a default, \
                 so the object is placed on no cluster; set spec.placement.clusters, or clusterSelector: {} for \
                 every cluster"
                    .to_string(),
            );
            true
        }
    }
}

/// Returns whether the overrides are structurally valid ([`crate::overrides::validate_cluster_overrides`]).
fn check_overrides(spec: &Spec<'_>, snapshot: &Snapshot, d: &mut Decision) -> bool {
    if spec.overrides.is_empty() {
        return true;
    }
    let listed: Option<Vec<String>> = spec
        .placement
        .clusters
        .as_ref()
        .map(|cs| cs.iter().map(|c| c.name.clone()).collect());
    match validate_overrides(&spec.overrides, listed.as_deref()) {
        Err(e) => {
            d.deny(Reason::Invalid, e.to_string());
            return false;
        }
        Ok(warnings) => d.warnings.extend(warnings),
    }
    if listed.is_none() {
        for (i, o) in spec.overrides.iter().enumerate() {
            if let Some(c) = o.cluster_name.as_deref()
                && snapshot.cluster(c).is_none()
            {
                d.warnings.push(format!(
                    "spec.overrides[{i}].clusterName: cluster {c:?} is not joined, so its overrides have no effect yet"
                ));
            }
        }
    }
    true
}

/// The namespace-consistency problem of an object in `namespace` placed on `targets`, if any.
fn namespace_consistency(
    namespace: &str,
    targets: &Targets<'_>,
    snapshot: &Snapshot,
) -> Option<(Reason, String)> {
    let Some(ns_placement) = snapshot.federated_namespaces.get(namespace) else {
        let wanted = if targets.joined.is_empty() {
            "the clusters this object targets".to_string()
        } else {
            targets
                .joined
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Some((
            Reason::NamespaceNotFederated,
            format!(
                "namespace {namespace:?} is not federated, so this object would be placed on no cluster: create a \
                 FederatedNamespace named {namespace:?} in namespace {namespace:?} whose spec.placement includes \
                 {wanted}, then retry"
            ),
        ));
    };
    // Nearly always every target is covered: find out without building the covered set.
    let covers = |c: &ClusterInfo| match (&ns_placement.clusters, &ns_placement.cluster_selector) {
        (Some(list), _) => Some(list.iter().any(|r| r.name == c.name)),
        (None, Some(selector)) => crate::selector::selector_matches(selector, &c.labels).ok(),
        (None, None) => Some(false),
    };
    if targets.joined.iter().all(|c| covers(c) == Some(true)) {
        return None;
    }
    let covered = resolve_placement(ns_placement, &snapshot.clusters, "").unwrap_or_default();
    let missing: Vec<&str> = targets
        .joined
        .iter()
        .map(|c| c.name.as_str())
        .filter(|c| !covered.contains(*c))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let (noun, them) = if missing.len() == 1 {
        ("cluster", "it")
    } else {
        ("clusters", "them")
    };
    let has = if covered.is_empty() {
        "no cluster".to_string()
    } else {
        covered.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
    };
    Some((
        Reason::NamespaceNotCovered,
        format!(
            "spec.placement: namespace {namespace:?} is not federated to {noun} {} (its FederatedNamespace places it \
             on {has}); add {them} to the FederatedNamespace's spec.placement, or remove {them} from this object's \
             spec.placement",
            missing.join(", ")
        ),
    ))
}

pub(super) fn mutate(
    input: &AdmissionInput<'_>,
    object: &DynamicObject,
    snapshot: &Snapshot,
    m: &mut Mutation,
) {
    let spec = object.data.get("spec");
    default_placement(input, object, spec, snapshot, m);
    if let Some(template) = spec.and_then(|s| s.get("template")).and_then(Value::as_object) {
        normalize_template(template, m);
    }
}

fn default_placement(
    input: &AdmissionInput<'_>,
    object: &DynamicObject,
    spec: Option<&Value>,
    snapshot: &Snapshot,
    m: &mut Mutation,
) {
    let unset = match spec.and_then(|s| s.get("placement")) {
        None | Some(Value::Null) => true,
        Some(v) => {
            Placement::deserialize(v).is_ok_and(|p| p.clusters.is_none() && p.cluster_selector.is_none())
        }
    };
    if !unset {
        return;
    }
    let info = kind_info(input, snapshot);
    let namespace = if info.cluster_scoped {
        None
    } else {
        input.namespace.or(object.metadata.namespace.as_deref())
    };
    let subject = Subject {
        kind: input.kind,
        target_kind: info.entry.map(|e| e.target.kind.as_str()),
        target_group: info.entry.map(|e| e.target.group.as_str()),
        labels: object.metadata.labels.as_ref(),
        namespace,
        name: input.object_name(),
    };
    let labels = namespace.and_then(|n| snapshot.namespace_labels.get(n));
    let (selected, _) = policy::selecting(&snapshot.policies, &subject, labels);
    let Some(policy) = policy::default_placement(&selected) else {
        return;
    };
    let Some(Ok(value)) = policy.spec.default_placement.as_ref().map(serde_json::to_value) else {
        return;
    };
    let op = if spec.is_some_and(Value::is_object) {
        add(&["spec", "placement"], value)
    } else {
        add(&["spec"], json!({ "placement": value }))
    };
    m.patch.push(op);
    m.warnings.push(format!(
        "spec.placement was not set; it was filled in from the defaultPlacement of FederationPolicy {:?}",
        policy.metadata.name.as_deref().unwrap_or_default()
    ));
}

fn normalize_template(template: &Map<String, Value>, m: &mut Mutation) {
    let mut removed = Vec::new();
    if template.contains_key("status") {
        m.patch.push(remove(&["spec", "template", "status"]));
        removed.push("status".to_string());
    }
    if let Some(meta) = template.get("metadata").and_then(Value::as_object) {
        for f in SERVER_METADATA_FIELDS {
            if meta.contains_key(*f) {
                m.patch.push(remove(&["spec", "template", "metadata", f]));
                removed.push(format!("metadata.{f}"));
            }
        }
        if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
            for a in STRIPPED_ANNOTATIONS {
                if annotations.contains_key(*a) {
                    m.patch
                        .push(remove(&["spec", "template", "metadata", "annotations", a]));
                    removed.push(format!("metadata.annotations[{a:?}]"));
                }
            }
        }
    }
    if let Some(pod_meta) = template
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(Value::as_object)
    {
        for f in SERVER_METADATA_FIELDS {
            if pod_meta.contains_key(*f) {
                m.patch
                    .push(remove(&["spec", "template", "spec", "template", "metadata", f]));
                removed.push(format!("spec.template.metadata.{f}"));
            }
        }
    }
    if !removed.is_empty() {
        m.warnings.push(format!(
            "removed fields an API server sets from spec.template ({}); each member cluster sets its own",
            removed.join(", ")
        ));
    }
}

fn add(path: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(path.iter().copied()),
        value,
    })
}

fn remove(path: &[&str]) -> PatchOperation {
    PatchOperation::Remove(RemoveOperation {
        path: PointerBuf::from_tokens(path.iter().copied()),
    })
}
