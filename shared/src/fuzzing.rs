//! Fuzz entry points: arbitrary bytes → the real decision the product runs on them (docs/fuzzing.md).
//!
//! Each function here is called by a `cargo fuzz` target in `fuzz/` (nightly, libFuzzer) *and* by
//! `shared/tests/fuzz_regressions.rs` (stable) on every committed corpus and regression file, so a crash
//! found once stays a test of the normal test command. Input that the product rejects is fine — it must be
//! rejected with an error, never a panic. `Err` means a property the product promises was broken (a bug
//! even without a panic); the callers turn it into a failure.
//!
//! The webhook's AdmissionReview entry is `kubefed_webhook::fuzzing`, next to the code it drives.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::admission::{AdmissionInput, Operation, Settings, Snapshot, TypeEntry};
use crate::api::constants::{MANAGED_LABEL, MANAGED_LABEL_VALUE};
use crate::api::{FederatedObject, FederatedTypeConfig, FederationPolicy, Placement};
use crate::convert::{ConvertOptions, PlacementChoice, default_resolver, federate_all, guess_target_type};
use crate::manifest::{Manifests, ParseLimits};
use crate::placement::ClusterInfo;
use crate::propagation::desired_member_object;
use crate::typeinfo::{FEDERATED_GROUP, Scope, TargetType, default_types};

/// Largest input the entries look at. libFuzzer's own default `-max_len` is 4096; this only bounds
/// what a regression file can cost on stable.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;

/// The fuzz targets, by the name of their `fuzz/fuzz_targets/<name>.rs` and corpus folder.
pub const TARGETS: &[&str] = &[
    "manifest_convert",
    "override_apply",
    "policy_eval",
    "yaml_differential",
    "yaml_emit_differential",
];

/// Runs the entry of fuzz target `name` (one of [`TARGETS`]) on `data`.
pub fn run(name: &str, data: &[u8]) -> Result<(), String> {
    match name {
        "manifest_convert" => manifest_convert(data),
        "override_apply" => override_apply(data),
        "policy_eval" => policy_eval(data),
        "yaml_differential" => yaml_differential(data),
        "yaml_emit_differential" => yaml_emit_differential(data),
        other => Err(format!("no fuzz target {other:?} in kubefed-core")),
    }
}

/// `kubectl fed federate/apply -f FILE`: the file's bytes through [`Manifests`] (UTF-8 check, YAML/JSON
/// split, lists) and [`federate_all`] with the offline resolver, as `kubectl-fed`'s `input` and `types`
/// modules do, under three option sets (defaults; `-n` with a cluster list; a cluster selector).
pub fn manifest_convert(data: &[u8]) -> Result<(), String> {
    if data.len() > MAX_INPUT_BYTES {
        return Ok(());
    }
    // Non-UTF-8 is rejected before parsing (kubectl-fed's `parse_into`); it still reaches the lossy path so
    // the fuzzer keeps exploring the parser with such inputs.
    let text = String::from_utf8_lossy(data);
    let limits = ParseLimits::default();
    let objects: Vec<_> = Manifests::new("fuzz.yaml", &text, &limits)
        .filter_map(|item| match item {
            Ok(obj) => Some(obj),
            Err(e) => {
                let _ = e.to_string();
                None
            }
        })
        .collect();
    let resolver = default_resolver();
    let options = [
        ConvertOptions::default(),
        ConvertOptions {
            namespace: Some("web".into()),
            placement: PlacementChoice::Clusters(vec!["cluster-1".into(), "cluster-2".into()]),
            default_namespace: Some("default".into()),
            ..Default::default()
        },
        ConvertOptions {
            namespace: None,
            placement: PlacementChoice::ClusterSelector(BTreeMap::from([("env".into(), "prod".into())])),
            ..Default::default()
        },
    ];
    for opts in &options {
        let batch = federate_all(objects.iter().cloned(), &resolver, opts).map_err(|e| e.to_string())?;
        if batch.items.len() != objects.len() {
            return Err(format!(
                "federate_all returned {} items for {} objects",
                batch.items.len(),
                objects.len()
            ));
        }
        for item in &batch.items {
            let _ = item.error_message();
            if let (Ok(fed), Some(_)) = (&item.result, &item.target) {
                let api_version = fed.object.get("apiVersion").and_then(Value::as_str);
                if api_version != Some("types.kubefed.io/v1beta1") {
                    return Err(format!(
                        "{}: converted object has apiVersion {api_version:?}",
                        item.source
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The fast YAML reading against serde-saphyr's: each YAML document of the input (split as [`Manifests`]
/// splits it) that the fast path reads must read to the same value with serde-saphyr alone, under the
/// options `kubectl fed` uses. Documents the fast path leaves alone are serde-saphyr's anyway.
pub fn yaml_differential(data: &[u8]) -> Result<(), String> {
    if data.len() > MAX_INPUT_BYTES {
        return Ok(());
    }
    let text = String::from_utf8_lossy(data);
    crate::manifest::check_plain_reading(&text, &ParseLimits::default())
}

/// `-o yaml`'s writing: a JSON value made from the bytes (the bytes as JSON when they are JSON, and always a
/// value built from them byte by byte — strings of arbitrary characters in every position) through
/// [`crate::yaml_emit::to_yaml_into`] and through serde-saphyr: the fast writer's bytes must be
/// serde-saphyr's, and a value it declines must leave the output untouched.
pub fn yaml_emit_differential(data: &[u8]) -> Result<(), String> {
    if data.len() > MAX_INPUT_BYTES {
        return Ok(());
    }
    let mut values = vec![built_value(data, &mut 0, 0)];
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        values.push(v);
    }
    for v in &values {
        let mut fast = String::from("#");
        let wrote = crate::yaml_emit::to_yaml_into(v, &mut fast);
        if !wrote {
            if fast != "#" {
                return Err(format!("declined {v} but changed the output to {fast:?}"));
            }
            continue;
        }
        let want = serde_saphyr::to_string(v).map_err(|e| format!("serde-saphyr cannot write {v}: {e}"))?;
        if fast[1..] != want {
            return Err(format!(
                "{v} written as\n{}\nbut serde-saphyr writes\n{want}",
                &fast[1..]
            ));
        }
    }
    Ok(())
}

/// A JSON value read from `data` at `*at`: each byte picks a node, the following bytes fill it.
fn built_value(data: &[u8], at: &mut usize, depth: usize) -> Value {
    let mut next = || {
        let b = data.get(*at).copied();
        *at += 1;
        b
    };
    let Some(op) = next() else { return Value::Null };
    match op % 8 {
        0 => Value::Null,
        1 => Value::Bool(op & 8 != 0),
        2 | 3 => {
            let mut bytes = [0u8; 8];
            for b in &mut bytes {
                *b = next().unwrap_or(0);
            }
            match op % 4 {
                2 => Value::from(i64::from_le_bytes(bytes)),
                _ => serde_json::Number::from_f64(f64::from_le_bytes(bytes))
                    .map_or(Value::from(u64::from_le_bytes(bytes)), Value::Number),
            }
        }
        4 | 5 => Value::String(built_string(data, at)),
        kind if depth < 40 => {
            let n = usize::from(next().unwrap_or(0) % 6);
            if kind == 6 {
                let mut map = serde_json::Map::new();
                for _ in 0..n {
                    let key = built_string(data, at);
                    map.insert(key, built_value(data, at, depth + 1));
                }
                Value::Object(map)
            } else {
                Value::Array((0..n).map(|_| built_value(data, at, depth + 1)).collect())
            }
        }
        _ => Value::Null,
    }
}

/// A string of the next `len` bytes (`len` from one byte; long strings exercise folding), lossy UTF-8.
fn built_string(data: &[u8], at: &mut usize) -> String {
    let len = data.get(*at).map_or(0, |&b| usize::from(b) % 160);
    *at += 1;
    let end = (*at + len).min(data.len());
    let text = String::from_utf8_lossy(data.get(*at..end).unwrap_or_default()).into_owned();
    *at = end;
    text
}

/// The clusters the override and policy entries place objects on: two regions, one not ready.
fn clusters() -> Vec<ClusterInfo> {
    let labels = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    vec![
        ClusterInfo::new(
            "cluster-1",
            labels(&[("env", "prod"), ("topology.kubernetes.io/region", "eu")]),
            true,
        ),
        ClusterInfo::new(
            "cluster-2",
            labels(&[("env", "prod"), ("topology.kubernetes.io/region", "us")]),
            true,
        ),
        ClusterInfo::new("cluster-3", labels(&[("env", "dev")]), false),
    ]
}

/// The target type of a federated kind: a default type, else guessed as `kubectl fed` guesses.
fn target_of(fed: &FederatedObject) -> TargetType {
    let kind = fed.types.as_ref().map(|t| t.kind.as_str()).unwrap_or_default();
    let target_kind = kind.strip_prefix("Federated").unwrap_or(kind);
    default_types()
        .into_iter()
        .find(|t| t.kind == target_kind)
        .unwrap_or_else(|| guess_target_type("example.com/v1", target_kind, fed.metadata.namespace.is_some()))
}

/// The controller's member object for each cluster: the input is a `Federated<Kind>` as JSON, turned into
/// [`desired_member_object`] (template → identity → that cluster's overrides → managed label → retention)
/// for every cluster, with the member existing or not. Checks what the module promises: the result keeps
/// the federated object's name and carries `kubefed.io/managed: "true"`, whatever the overrides say.
pub fn override_apply(data: &[u8]) -> Result<(), String> {
    if data.len() > MAX_INPUT_BYTES {
        return Ok(());
    }
    let Ok(fed) = serde_json::from_slice::<FederatedObject>(data) else {
        return Ok(());
    };
    let target = target_of(&fed);
    for cluster in &clusters() {
        for member_exists in [false, true] {
            let body = match desired_member_object(&fed, &target, cluster, member_exists) {
                Ok(body) => body,
                Err(e) => {
                    let _ = (e.to_string(), e.status());
                    continue;
                }
            };
            let label = body
                .pointer(&format!("/metadata/labels/{}", MANAGED_LABEL.replace('/', "~1")))
                .and_then(Value::as_str);
            if label != Some(MANAGED_LABEL_VALUE) {
                return Err(format!(
                    "{}: member object lost the managed label: {body}",
                    cluster.name
                ));
            }
            let name = body.pointer("/metadata/name").and_then(Value::as_str);
            let want = if target.is_namespace() {
                fed.metadata.namespace.as_deref().or(fed.metadata.name.as_deref())
            } else {
                fed.metadata.name.as_deref()
            };
            if name != want {
                return Err(format!(
                    "{}: member object is named {name:?}, want {want:?}",
                    cluster.name
                ));
            }
            if target.scope == Scope::Cluster && body.pointer("/metadata/namespace").is_some() {
                return Err(format!(
                    "{}: cluster-scoped member object has a namespace",
                    cluster.name
                ));
            }
        }
    }
    Ok(())
}

/// What [`policy_eval`] reads: the host state a policy decision sees, and the request.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PolicyCase {
    /// FederationPolicies (in the webhook's snapshot, sorted by name).
    policies: Vec<Value>,
    /// Labels of each Namespace.
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// `spec.placement` of each FederatedNamespace, by namespace.
    federated_namespaces: BTreeMap<String, Placement>,
    /// The federated object (or any object) being created or updated.
    object: Value,
    /// The object before an update.
    old_object: Option<Value>,
    /// The requesting user.
    user: Option<String>,
}

/// FederationPolicy evaluation for a user's request, as the webhook runs it: the input is JSON
/// `{policies, namespaces, federatedNamespaces, object, oldObject, user}`; the policies (each decoded on its
/// own, as the webhook's informer would), the fixed clusters and the default FederatedTypeConfigs make the
/// [`Snapshot`], and the object goes through [`crate::admission::validate`] and
/// [`crate::admission::mutate`] (which select the policies, check their rules, forbidden kinds, namespace
/// consistency and default placement). Objects of the policy API are validated as policies.
pub fn policy_eval(data: &[u8]) -> Result<(), String> {
    if data.len() > MAX_INPUT_BYTES {
        return Ok(());
    }
    let Ok(case) = serde_json::from_slice::<PolicyCase>(data) else {
        return Ok(());
    };
    let policies = case
        .policies
        .into_iter()
        .filter_map(|p| serde_json::from_value::<FederationPolicy>(p).ok())
        .collect();
    let snapshot = snapshot(policies, case.namespaces, case.federated_namespaces);
    let Ok(object) = serde_json::from_value::<kube::core::DynamicObject>(case.object) else {
        return Ok(());
    };
    let old = case
        .old_object
        .and_then(|o| serde_json::from_value::<kube::core::DynamicObject>(o).ok());
    let mut input = AdmissionInput::create(&object);
    input.user = case.user.as_deref();
    if let Some(old) = &old {
        input.operation = Operation::Update;
        input.old_object = Some(old);
    }
    let decision = crate::admission::validate(&input, &snapshot);
    let _ = (decision.allowed(), decision.message(), decision.reason());
    let mutation = crate::admission::mutate(&input, &snapshot);
    if input.group == FEDERATED_GROUP && !mutation.patch.is_empty() {
        // The webhook sends the patch to the API server, which applies it to this very object: it must apply.
        let mut patched = serde_json::to_value(&object).map_err(|e| e.to_string())?;
        json_patch::patch(&mut patched, &mutation.patch)
            .map_err(|e| format!("the mutation's patch does not apply to the object it was made for: {e}"))?;
    }
    Ok(())
}

/// A host snapshot over the fixed clusters and the default FederatedTypeConfigs.
pub fn snapshot(
    policies: Vec<FederationPolicy>,
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    federated_namespaces: BTreeMap<String, Placement>,
) -> Snapshot {
    let types = default_types()
        .iter()
        .map(|t| TypeEntry::from_config(&FederatedTypeConfig::for_target(t, "kube-federation-system")))
        .collect();
    Snapshot::new(
        clusters(),
        federated_namespaces,
        namespaces,
        policies,
        types,
        Settings::default(),
    )
}

/// A realistic host for request-level fuzzing (the webhook's): namespace `web` federated to every cluster,
/// and one policy of each enforcement — `Deny` allowed clusters and `maxClusters`, `Warn` spread with a
/// default placement, `Audit` forbidden kinds.
pub fn sample_snapshot() -> Snapshot {
    let policy = |name: &str, spec: Value| {
        serde_json::from_value::<FederationPolicy>(serde_json::json!({
            "apiVersion": "policy.kubefed.io/v1alpha1", "kind": "FederationPolicy",
            "metadata": {"name": name}, "spec": spec,
        }))
        .ok()
    };
    let policies = [
        policy(
            "deny-dev",
            serde_json::json!({"enforcement": "Deny", "match": {"namespaceSelector": {"matchLabels": {"team": "web"}}},
                "deniedClusters": {"selector": {"matchLabels": {"env": "dev"}}}, "maxClusters": 2}),
        ),
        policy(
            "spread",
            serde_json::json!({"enforcement": "Warn", "match": {"kinds": ["FederatedDeployment"]},
                "spread": [{"label": "topology.kubernetes.io/region", "minDistinct": 2}],
                "defaultPlacement": {"clusterSelector": {"matchLabels": {"env": "prod"}}}}),
        ),
        policy(
            "no-secrets",
            serde_json::json!({"enforcement": "Audit", "forbiddenKinds": [{"group": "", "kind": "Secret"}],
                "minClusters": 1}),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let web = BTreeMap::from([
        ("team".to_string(), "web".to_string()),
        ("kubernetes.io/metadata.name".to_string(), "web".to_string()),
    ]);
    snapshot(
        policies,
        BTreeMap::from([("web".to_string(), web)]),
        BTreeMap::from([("web".to_string(), Placement::all())]),
    )
}
