//! Overrides: how one member cluster's object differs from the template (design §3, §4.4).
//!
//! `spec.overrides` entries target clusters either by `clusterName` (KubeFed) or by `clusterSelector` over
//! the KubeFedCluster's labels (our extension). For one cluster, [`overrides_for_cluster`] collects:
//!
//! 1. every `clusterSelector` entry that matches the cluster, in list order, then
//! 2. the `clusterName` entry for the cluster, if any,
//!
//! and [`apply_overrides`] applies the operations in that order. Because later operations win, **a name
//! entry beats a selector entry, and a later selector entry beats an earlier one** when they set the same
//! path: "everything in the EU gets 3 replicas, but eu-2 gets 5" is written as two entries and just works.
//! Setting a path twice *across* entries is therefore not an error; setting it twice *within* one entry,
//! listing one `clusterName` in two entries, or an entry with both or neither of `clusterName` and
//! `clusterSelector` is (as in KubeFed, whose `GetOverrides` refused the first two). These structural errors
//! concern the whole object, so they are reported for every cluster, whether or not the faulty entry
//! targets it — the result never depends on which clusters happen to be joined.
//!
//! Operations are JSON Patch (RFC 6902) `add`, `remove`, `replace` (empty `op` → `replace`; a missing
//! `value` is `null`, as KubeFed marshalled it), applied with the `json-patch` crate. As with KubeFed (which
//! used evanphx/json-patch): `add` creates only the last path segment — its parent must exist — and
//! `replace`/`remove` need the target to exist. A failing operation is an [`OverridesError::Apply`], which
//! the controller reports as the per-cluster status `ApplyOverridesFailed`, naming the entry, path and why.
//!
//! Paths that change an object's identity are refused: `/metadata/name`, `/metadata/namespace`,
//! `/metadata/generateName`, `/kind`, and `/metadata` or the whole object, which would replace them.

use std::collections::HashMap;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::Value;

use crate::api::{ClusterOverrides, OverrideOperation, UnknownValue};
use crate::placement::ClusterInfo;
use crate::selector::{SelectorError, selector_matches};

/// Paths (as unescaped tokens) that may not be overridden: they make an object a different object.
const FORBIDDEN_PATHS: &[&[&str]] = &[
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "generateName"],
    &["kind"],
    &["metadata"],
];

/// Why overrides could not be computed or applied. Messages name the `spec.overrides` field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OverridesError {
    /// An entry's `clusterSelector` is malformed.
    #[error("spec.overrides[{index}].clusterSelector.{source}")]
    InvalidSelector {
        /// Index of the entry in `spec.overrides`.
        index: usize,
        /// What is wrong with the selector.
        #[source]
        source: SelectorError,
    },
    /// An entry sets both `clusterName` and `clusterSelector`.
    #[error("spec.overrides[{index}] sets both clusterName and clusterSelector; use one per entry")]
    NameAndSelector {
        /// Index of the entry.
        index: usize,
    },
    /// An entry sets neither `clusterName` nor `clusterSelector`.
    #[error(
        "spec.overrides[{index}] names no cluster; set clusterName, or clusterSelector ({{}} for every cluster)"
    )]
    NoCluster {
        /// Index of the entry.
        index: usize,
    },
    /// Two entries name the same cluster.
    #[error(
        "spec.overrides[{index}].clusterName: cluster {cluster:?} is listed twice (first at \
         spec.overrides[{first}]); put all its overrides in one entry"
    )]
    DuplicateCluster {
        /// The cluster.
        cluster: String,
        /// Index of the second entry.
        index: usize,
        /// Index of the first entry.
        first: usize,
    },
    /// An `op` other than `add`, `remove`, `replace` or empty.
    #[error("spec.overrides[{index}].clusterOverrides[{op_index}].op: {source}")]
    InvalidOp {
        /// Index of the entry.
        index: usize,
        /// Index of the operation in the entry's `clusterOverrides`.
        op_index: usize,
        /// The parse error, naming the value.
        #[source]
        source: UnknownValue,
    },
    /// A `path` that is not a JSON Pointer.
    #[error(
        "spec.overrides[{index}].clusterOverrides[{op_index}].path {path:?} is not a JSON Pointer: {reason}; \
         write it like /spec/replicas, with ~0 for ~ and ~1 for / inside a key"
    )]
    InvalidPath {
        /// Index of the entry.
        index: usize,
        /// Index of the operation.
        op_index: usize,
        /// The path given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A path that may not be overridden.
    #[error(
        "spec.overrides[{index}].clusterOverrides[{op_index}].path {path:?} cannot be overridden: the name, \
         namespace and kind of an object are the same in every cluster"
    )]
    ForbiddenPath {
        /// Index of the entry.
        index: usize,
        /// Index of the operation.
        op_index: usize,
        /// The path given.
        path: String,
    },
    /// One entry sets a path twice.
    #[error(
        "spec.overrides[{index}].clusterOverrides[{op_index}].path {path:?} is listed twice in this entry \
         (first at clusterOverrides[{first}]); keep one"
    )]
    DuplicatePath {
        /// Index of the entry.
        index: usize,
        /// Index of the second operation.
        op_index: usize,
        /// Index of the first operation.
        first: usize,
        /// The path.
        path: String,
    },
    /// An operation could not be applied to the member object (status `ApplyOverridesFailed`).
    #[error("spec.overrides[{index}].clusterOverrides[{op_index}]: {op} {path} failed: {reason}")]
    Apply {
        /// Index of the entry.
        index: usize,
        /// Index of the operation.
        op_index: usize,
        /// `add`, `remove` or `replace`.
        op: &'static str,
        /// The path.
        path: String,
        /// Why, in words.
        reason: String,
    },
}

/// Splits a JSON Pointer (RFC 6901) into its unescaped tokens. The empty pointer (the whole document)
/// is refused: an override changes a field, never the whole object.
pub fn parse_json_pointer(path: &str) -> Result<Vec<String>, &'static str> {
    if path.is_empty() {
        return Err("it is empty");
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err("it must start with /");
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => return Err("~ must be followed by 0 or 1"),
                }
            }
            Ok(out)
        })
        .collect()
}

/// One override operation for one cluster, resolved from `spec.overrides` and remembering where it came from
/// (for error messages).
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedOverride {
    /// Index of the entry in `spec.overrides`.
    pub index: usize,
    /// Index of the operation in the entry's `clusterOverrides`.
    pub op_index: usize,
    /// The operation (empty `op` already turned into `replace`).
    pub op: OverrideOperation,
    /// The JSON Pointer.
    pub path: String,
    /// The value for `add`/`replace` (`null` when absent, as KubeFed); `None` for `remove`.
    pub value: Option<Value>,
}

/// Checks `spec.overrides` structurally, independent of any cluster: one target per entry, no cluster named
/// twice, valid selectors, ops and paths, no forbidden path, no path twice in one entry.
pub fn validate_cluster_overrides(overrides: &[ClusterOverrides]) -> Result<(), OverridesError> {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (index, entry) in overrides.iter().enumerate() {
        // An empty clusterName names no cluster (KubeFed treated it the same way).
        let name = entry.cluster_name.as_ref().filter(|n| !n.is_empty());
        match (name, &entry.cluster_selector) {
            (Some(_), Some(_)) => return Err(OverridesError::NameAndSelector { index }),
            (None, None) => return Err(OverridesError::NoCluster { index }),
            (Some(name), None) => {
                if let Some(&first) = names.get(name.as_str()) {
                    return Err(OverridesError::DuplicateCluster {
                        cluster: name.clone(),
                        index,
                        first,
                    });
                }
                names.insert(name, index);
            }
            (None, Some(selector)) => {
                crate::selector::validate_selector(selector)
                    .map_err(|source| OverridesError::InvalidSelector { index, source })?;
            }
        }
        let mut paths: HashMap<&str, usize> = HashMap::new();
        for (op_index, op) in entry.cluster_overrides.iter().enumerate() {
            op.operation().map_err(|source| OverridesError::InvalidOp {
                index,
                op_index,
                source,
            })?;
            let path = op.path.as_str();
            let tokens = parse_json_pointer(path).map_err(|reason| OverridesError::InvalidPath {
                index,
                op_index,
                path: path.to_string(),
                reason,
            })?;
            if FORBIDDEN_PATHS.iter().any(|f| f.iter().eq(tokens.iter())) {
                return Err(OverridesError::ForbiddenPath {
                    index,
                    op_index,
                    path: path.to_string(),
                });
            }
            if let Some(&first) = paths.get(path) {
                return Err(OverridesError::DuplicatePath {
                    index,
                    op_index,
                    first,
                    path: path.to_string(),
                });
            }
            paths.insert(path, op_index);
        }
    }
    Ok(())
}

/// The operations for `cluster`, in application order: matching `clusterSelector` entries in list order,
/// then the `clusterName` entry (see the module docs). Validates all of `overrides` first.
pub fn overrides_for_cluster(
    overrides: &[ClusterOverrides],
    cluster: &ClusterInfo,
) -> Result<Vec<ResolvedOverride>, OverridesError> {
    validate_cluster_overrides(overrides)?;
    resolve_for_cluster(overrides, cluster)
}

/// [`overrides_for_cluster`] for overrides that already passed [`validate_cluster_overrides`] (the
/// admission webhook checks them once, then resolves them for each cluster a request touches).
pub fn resolve_for_cluster(
    overrides: &[ClusterOverrides],
    cluster: &ClusterInfo,
) -> Result<Vec<ResolvedOverride>, OverridesError> {
    let mut by_selector = Vec::new();
    let mut by_name = Vec::new();
    for (index, entry) in overrides.iter().enumerate() {
        let bucket = match (&entry.cluster_name, &entry.cluster_selector) {
            (Some(name), _) if *name == cluster.name => &mut by_name,
            (None, Some(selector)) => {
                let hit = selector_matches(selector, &cluster.labels)
                    .map_err(|source| OverridesError::InvalidSelector { index, source })?;
                if !hit {
                    continue;
                }
                &mut by_selector
            }
            _ => continue,
        };
        for (op_index, o) in entry.cluster_overrides.iter().enumerate() {
            let op = o.operation().map_err(|source| OverridesError::InvalidOp {
                index,
                op_index,
                source,
            })?;
            let value = match op {
                OverrideOperation::Remove => None,
                _ => Some(o.value.clone().unwrap_or(Value::Null)),
            };
            bucket.push(ResolvedOverride {
                index,
                op_index,
                op,
                path: o.path.clone(),
                value,
            });
        }
    }
    by_selector.append(&mut by_name);
    Ok(by_selector)
}

/// Applies `ops` to `obj` in order. On failure `obj` is left as it was before the failing operation (earlier
/// operations stay applied; the caller discards the object anyway).
pub fn apply_overrides(obj: &mut Value, ops: &[ResolvedOverride]) -> Result<(), OverridesError> {
    for o in ops {
        let fail = |reason: String| OverridesError::Apply {
            index: o.index,
            op_index: o.op_index,
            op: o.op.as_str(),
            path: o.path.clone(),
            reason,
        };
        let path =
            PointerBuf::parse(o.path.as_str()).map_err(|e| fail(format!("invalid JSON Pointer: {e}")))?;
        let value = o.value.clone().unwrap_or(Value::Null);
        let patch_op = match o.op {
            OverrideOperation::Add => PatchOperation::Add(AddOperation { path, value }),
            OverrideOperation::Replace => PatchOperation::Replace(ReplaceOperation { path, value }),
            OverrideOperation::Remove => PatchOperation::Remove(RemoveOperation { path }),
        };
        if let Err(e) = json_patch::patch(obj, std::slice::from_ref(&patch_op)) {
            return Err(fail(explain(obj, o).unwrap_or_else(|| e.kind.to_string())));
        }
    }
    Ok(())
}

/// Says in words why `o` does not apply to `obj` (json-patch only says "path is invalid").
fn explain(obj: &Value, o: &ResolvedOverride) -> Option<String> {
    let (parent, last) = o.path.rsplit_once('/')?;
    let parent_label = if parent.is_empty() { "/" } else { parent };
    let Some(container) = obj.pointer(parent) else {
        return Some(match o.op {
            OverrideOperation::Add => format!(
                "its parent {parent_label} does not exist; add creates only the last key, so add the parent \
                 as an object first or use a shorter path"
            ),
            _ => format!("its parent {parent_label} does not exist"),
        });
    };
    match container {
        Value::Object(map) => {
            let key = last.replace("~1", "/").replace("~0", "~");
            (!map.contains_key(&key) && o.op != OverrideOperation::Add).then(|| {
                format!(
                    "there is no {:?} in {parent_label} to {}; use add to create it",
                    key,
                    o.op.as_str()
                )
            })
        }
        Value::Array(items) => Some(format!(
            "{last:?} is not a valid index into the {}-element array {parent_label} (use 0..{} {}, or - to \
             append with add)",
            items.len(),
            items.len(),
            if o.op == OverrideOperation::Add {
                "inclusive"
            } else {
                "exclusive"
            },
        )),
        other => Some(format!(
            "{parent_label} is {}, not an object or array",
            json_kind(other)
        )),
    }
}

/// "a string", "a number", … for messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn overrides(v: Value) -> Vec<ClusterOverrides> {
        serde_json::from_value(v).expect("test overrides decode")
    }

    fn cluster(name: &str, labels: &[(&str, &str)]) -> ClusterInfo {
        ClusterInfo::new(
            name,
            labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<BTreeMap<_, _>>(),
            true,
        )
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
        })
    }

    #[test]
    fn apply_ops() {
        struct Case {
            name: &'static str,
            overrides: Value,
            want: Result<Value, &'static str>,
        }
        let mut replaced = deployment();
        replaced["spec"]["replicas"] = json!(5);
        let mut image = deployment();
        image["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        let mut annotated = deployment();
        annotated["metadata"]["annotations"] = json!({"foo": "bar"});
        let mut removed = deployment();
        if let Some(m) = removed["metadata"].as_object_mut() {
            m.remove("labels");
        }
        let mut appended = deployment();
        if let Some(a) = appended["spec"]["template"]["spec"]["containers"].as_array_mut() {
            a.push(json!({"name": "sidecar"}));
        }
        let mut nulled = deployment();
        nulled["spec"]["replicas"] = Value::Null;
        let cases = [
            Case {
                name: "replace",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [{"op": "replace", "path": "/spec/replicas", "value": 5}]}]),
                want: Ok(replaced.clone()),
            },
            Case {
                name: "empty op is replace",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [{"op": "", "path": "/spec/replicas", "value": 5}]}]),
                want: Ok(replaced.clone()),
            },
            Case {
                name: "absent op is replace, into an array",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [
                    {"path": "/spec/template/spec/containers/0/image", "value": "nginx:1.27"}]}]),
                want: Ok(image),
            },
            Case {
                name: "add a key (KubeFed docs example)",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [
                    {"op": "add", "path": "/metadata/annotations", "value": {"foo": "bar"}}]}]),
                want: Ok(annotated),
            },
            Case {
                name: "add appends with -",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [
                    {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "sidecar"}}]}]),
                want: Ok(appended),
            },
            Case {
                name: "remove",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [{"op": "remove", "path": "/metadata/labels"}]}]),
                want: Ok(removed),
            },
            Case {
                name: "missing value is null",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [{"path": "/spec/replicas"}]}]),
                want: Ok(nulled),
            },
            Case {
                name: "other clusters' entries are ignored",
                overrides: json!([{"clusterName": "c2", "clusterOverrides": [{"path": "/spec/replicas", "value": 9}]}]),
                want: Ok(deployment()),
            },
            Case {
                name: "add onto a missing parent fails (as KubeFed)",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [
                    {"op": "add", "path": "/metadata/annotations/foo", "value": "bar"}]}]),
                want: Err(
                    "spec.overrides[0].clusterOverrides[0]: add /metadata/annotations/foo failed: its parent \
                           /metadata/annotations does not exist",
                ),
            },
            Case {
                name: "replace of a missing key fails",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [
                    {"op": "replace", "path": "/spec/paused", "value": true}]}]),
                want: Err(
                    "spec.overrides[0].clusterOverrides[0]: replace /spec/paused failed: there is no \"paused\" \
                           in /spec to replace; use add to create it",
                ),
            },
            Case {
                name: "remove of a missing key fails",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [{"op": "remove", "path": "/spec/paused"}]}]),
                want: Err("remove /spec/paused failed: there is no \"paused\""),
            },
            Case {
                name: "index out of range",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [
                    {"path": "/spec/template/spec/containers/3/image", "value": "x"}]}]),
                want: Err("failed: its parent /spec/template/spec/containers/3 does not exist"),
            },
            Case {
                name: "into a scalar",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [{"op": "add", "path": "/spec/replicas/x", "value": 1}]}]),
                want: Err("failed: /spec/replicas is a number, not an object or array"),
            },
            Case {
                name: "invalid op",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [{"op": "move", "path": "/spec/replicas"}]}]),
                want: Err("spec.overrides[0].clusterOverrides[0].op: unknown override op \"move\""),
            },
            Case {
                name: "forbidden /metadata/name",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [{"path": "/metadata/name", "value": "x"}]}]),
                want: Err(
                    "spec.overrides[0].clusterOverrides[0].path \"/metadata/name\" cannot be overridden",
                ),
            },
            Case {
                name: "forbidden /metadata/namespace",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [{"op": "remove", "path": "/metadata/namespace"}]}]),
                want: Err("cannot be overridden"),
            },
            Case {
                name: "forbidden /metadata/generateName",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [{"op": "add", "path": "/metadata/generateName", "value": "x"}]}]),
                want: Err("cannot be overridden"),
            },
            Case {
                name: "forbidden /kind",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [{"path": "/kind", "value": "Pod"}]}]),
                want: Err("cannot be overridden"),
            },
            Case {
                name: "forbidden /metadata",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [{"path": "/metadata", "value": {}}]}]),
                want: Err("cannot be overridden"),
            },
            Case {
                name: "not a pointer",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [{"path": "spec.replicas", "value": 1}]}]),
                want: Err("path \"spec.replicas\" is not a JSON Pointer: it must start with /"),
            },
            Case {
                name: "duplicate path in one entry",
                overrides: json!([{"clusterName": "c1", "clusterOverrides": [
                    {"path": "/spec/replicas", "value": 1}, {"path": "/spec/replicas", "value": 2}]}]),
                want: Err("spec.overrides[0].clusterOverrides[1].path \"/spec/replicas\" is listed twice"),
            },
            Case {
                name: "duplicate cluster",
                overrides: json!([{"clusterName": "c1"}, {"clusterName": "c1"}]),
                want: Err(
                    "spec.overrides[1].clusterName: cluster \"c1\" is listed twice (first at spec.overrides[0])",
                ),
            },
            Case {
                name: "structural errors count even for other clusters",
                overrides: json!([{"clusterName": "c9", "clusterOverrides": [{"path": "/kind", "value": "Pod"}]}]),
                want: Err("spec.overrides[0].clusterOverrides[0].path \"/kind\" cannot be overridden"),
            },
            Case {
                name: "name and selector",
                overrides: json!([{"clusterName": "c1", "clusterSelector": {}}]),
                want: Err("spec.overrides[0] sets both clusterName and clusterSelector"),
            },
            Case {
                name: "no target",
                overrides: json!([{"clusterOverrides": [{"path": "/spec/replicas", "value": 1}]}]),
                want: Err("spec.overrides[0] names no cluster"),
            },
            Case {
                name: "bad selector",
                overrides: json!([{"clusterSelector": {"matchExpressions": [{"key": "a", "operator": "Has"}]}}]),
                want: Err(
                    "spec.overrides[0].clusterSelector.matchExpressions[0].operator: unknown operator \"Has\"",
                ),
            },
        ];
        let c1 = cluster("c1", &[("region", "eu")]);
        for c in cases {
            let ovs = overrides(c.overrides);
            let mut obj = deployment();
            let got = overrides_for_cluster(&ovs, &c1).and_then(|ops| apply_overrides(&mut obj, &ops));
            match (got, c.want) {
                (Ok(()), Ok(want)) => assert_eq!(obj, want, "{}", c.name),
                (Err(e), Err(want)) => {
                    let msg = e.to_string().replace("  ", "");
                    let want = want.split_whitespace().collect::<Vec<_>>().join(" ");
                    let msg_norm = msg.split_whitespace().collect::<Vec<_>>().join(" ");
                    assert!(msg_norm.contains(&want), "{}: {msg}\nwant: {want}", c.name);
                }
                (got, want) => panic!("{}: got {got:?}, want {want:?}", c.name),
            }
        }
    }

    #[test]
    fn precedence() {
        struct Case {
            name: &'static str,
            cluster: ClusterInfo,
            want_replicas: Value,
            want_sources: &'static [(usize, usize)],
        }
        // Entry 2 (by name) lists after the selectors, and wins wherever it applies.
        let ovs = overrides(json!([
            {"clusterName": "eu-2", "clusterOverrides": [{"path": "/spec/replicas", "value": 5}]},
            {"clusterSelector": {"matchLabels": {"region": "eu"}},
             "clusterOverrides": [{"path": "/spec/replicas", "value": 3}]},
            {"clusterSelector": {},
             "clusterOverrides": [{"path": "/spec/replicas", "value": 1}, {"op": "add", "path": "/metadata/annotations", "value": {"all": "yes"}}]},
            {"clusterSelector": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
             "clusterOverrides": [{"path": "/spec/replicas", "value": 7}]},
        ]));
        let cases = [
            Case {
                name: "name entry beats selectors",
                cluster: cluster("eu-2", &[("region", "eu")]),
                want_replicas: json!(5),
                want_sources: &[(1, 0), (2, 0), (2, 1), (0, 0)],
            },
            Case {
                name: "later selector beats earlier",
                cluster: cluster("eu-1", &[("region", "eu")]),
                want_replicas: json!(1),
                want_sources: &[(1, 0), (2, 0), (2, 1)],
            },
            Case {
                name: "last matching selector wins",
                cluster: cluster("us-gpu", &[("region", "us"), ("gpu", "a100")]),
                want_replicas: json!(7),
                want_sources: &[(2, 0), (2, 1), (3, 0)],
            },
            Case {
                name: "only the catch-all",
                cluster: cluster("us-1", &[]),
                want_replicas: json!(1),
                want_sources: &[(2, 0), (2, 1)],
            },
        ];
        for c in cases {
            let ops = overrides_for_cluster(&ovs, &c.cluster).expect(c.name);
            let sources: Vec<_> = ops.iter().map(|o| (o.index, o.op_index)).collect();
            assert_eq!(sources, c.want_sources, "{}", c.name);
            let mut obj = deployment();
            apply_overrides(&mut obj, &ops).expect(c.name);
            assert_eq!(obj["spec"]["replicas"], c.want_replicas, "{}", c.name);
            assert_eq!(obj["metadata"]["annotations"]["all"], "yes", "{}", c.name);
        }
    }

    #[test]
    fn no_overrides_is_identity() {
        let ops = overrides_for_cluster(&[], &cluster("c1", &[])).expect("no overrides");
        assert!(ops.is_empty());
        let mut obj = deployment();
        apply_overrides(&mut obj, &ops).expect("nothing to apply");
        assert_eq!(obj, deployment());
    }
}
