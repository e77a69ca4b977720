//! What a member object holds of what we applied, recovered from the object itself — so a restarted
//! controller knows, without writing, which member objects already hold their desired state.
//!
//! Server-side apply records the fields each manager owns (`managedFields[].fieldsV1`). The *owned
//! projection* of a member object is the object cut down to the fields of our `Apply` entry. Right after
//! an apply it equals the desired object we applied (minus identity fields the server does not track).
//! When someone changes one of our fields, ownership moves to them and the field leaves the projection;
//! fields owned by others (an HPA's replicas, injected annotations, status) are never in it. So
//! `intent_hash(owned_projection(member)) == intent_hash(desired)` says "the member holds exactly our
//! desired fields, all still ours" — no write needed.
//!
//! A mismatch only costs a write: values the API server normalizes (a quantity `1000m` stored as `1`),
//! list items reordered by another writer, or objects created with a plain create (their fields belong to
//! an `Update` entry) are simply re-applied once.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value};

/// A hash of a member object's intended content: every non-null field, with map keys in sorted order,
/// except the identity and server-maintained fields that are never in `managedFields`
/// (`apiVersion`, `kind`, `status`, `metadata.name`, `metadata.namespace`). Equal for a desired object and
/// the owned projection of a member object that holds it. Stable within one process only.
pub fn intent_hash(obj: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    match obj {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                let v = &m[k];
                if matches!(k.as_str(), "apiVersion" | "kind" | "status") || v.is_null() {
                    continue;
                }
                k.hash(&mut h);
                if k == "metadata" {
                    hash_value(v, &mut h, &["name", "namespace"]);
                } else {
                    hash_value(v, &mut h, &[]);
                }
            }
        }
        other => hash_value(other, &mut h, &[]),
    }
    h.finish()
}

fn hash_value(v: &Value, h: &mut DefaultHasher, skip: &[&str]) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => (2u8, n.to_string()).hash(h),
        Value::String(s) => (3u8, s).hash(h),
        Value::Array(items) => {
            (4u8, items.len()).hash(h);
            for i in items {
                hash_value(i, h, &[]);
            }
        }
        Value::Object(m) => {
            5u8.hash(h);
            let mut keys: Vec<&String> = m
                .iter()
                .filter(|(k, v)| !v.is_null() && !skip.contains(&k.as_str()))
                .map(|(k, _)| k)
                .collect();
            keys.sort();
            keys.len().hash(h);
            for k in keys {
                k.hash(h);
                hash_value(&m[k], h, &[]);
            }
        }
    }
}

/// `live` cut down to the fields of a `fieldsV1` set (`f:<field>`, `k:<key json>`, `v:<value json>`,
/// `i:<index>`; `.` marks the item itself). List items keep the order they have in `live`. Returns
/// `None` where nothing of `live` is owned.
pub fn owned_projection(live: &Value, fields: &Value) -> Option<Value> {
    let Value::Object(set) = fields else {
        return None;
    };
    if set.keys().all(|k| k == ".") {
        // A leaf: the whole value is owned (a scalar, an atomic list or map, an empty map).
        return Some(live.clone());
    }
    match live {
        Value::Object(obj) => {
            let mut out = Map::new();
            for (k, sub) in set {
                let Some(name) = k.strip_prefix("f:") else {
                    continue;
                };
                if let Some(p) = obj.get(name).and_then(|v| owned_projection(v, sub)) {
                    out.insert(name.to_string(), p);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => {
            let mut picked: Vec<(usize, Value)> = Vec::new();
            for (k, sub) in set {
                let found = if let Some(key) = k.strip_prefix("k:") {
                    let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key) else {
                        continue;
                    };
                    items
                        .iter()
                        .position(|item| key.iter().all(|(kf, kv)| item.get(kf) == Some(kv)))
                } else if let Some(val) = k.strip_prefix("v:") {
                    let Ok(val) = serde_json::from_str::<Value>(val) else {
                        continue;
                    };
                    items.iter().position(|item| *item == val)
                } else if let Some(i) = k.strip_prefix("i:") {
                    i.parse::<usize>().ok().filter(|i| *i < items.len())
                } else {
                    None
                };
                if let Some(i) = found
                    && let Some(p) = items.get(i).and_then(|item| owned_projection(item, sub))
                {
                    picked.push((i, p));
                }
            }
            picked.sort_by_key(|(i, _)| *i);
            Some(Value::Array(picked.into_iter().map(|(_, v)| v).collect()))
        }
        // Children on a scalar: the schema changed under us; the scalar is what there is.
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "labels": {"kubefed.io/managed": "true"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1", "args": ["-v", "-x"],
                 "ports": [{"containerPort": 80}]}]}}}
        })
    }

    /// What the API server holds after applying `deployment()`, plus fields of other managers.
    fn live() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "uid": "u",
                         "labels": {"kubefed.io/managed": "true", "injected": "x"},
                         "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": 2, "progressDeadlineSeconds": 600, "template": {"spec": {"containers": [
                {"name": "sidecar", "image": "envoy"},
                {"name": "app", "image": "nginx:1", "args": ["-v", "-x"], "imagePullPolicy": "IfNotPresent",
                 "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}},
            "status": {"replicas": 2}
        })
    }

    fn ours() -> Value {
        json!({
            "f:metadata": {"f:labels": {"f:kubefed.io/managed": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"app\"}": {".": {}, "f:name": {}, "f:image": {}, "f:args": {},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}
            }}}}
        })
    }

    #[test]
    fn projection_of_an_intact_member_hashes_like_the_desired_object() {
        let p = owned_projection(&live(), &ours()).expect("projection");
        assert_eq!(intent_hash(&p), intent_hash(&deployment()), "{p}");
    }

    #[test]
    fn drift_changes_the_projection() {
        // Someone else took over the image: it left our field set.
        let mut fields = ours();
        let item = &mut fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
        item.as_object_mut().map(|m| m.remove("f:image"));
        let p = owned_projection(&live(), &fields).expect("projection");
        assert_ne!(intent_hash(&p), intent_hash(&deployment()));
        // A desired change (one more arg) is not what the member holds.
        let mut desired = deployment();
        desired["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["-v"]);
        let p = owned_projection(&live(), &ours()).expect("projection");
        assert_ne!(intent_hash(&p), intent_hash(&desired));
        // No entry of ours at all (created by someone else, or with a plain create).
        let p = owned_projection(&live(), &json!({})).unwrap_or(Value::Null);
        assert_ne!(intent_hash(&p), intent_hash(&deployment()));
    }

    #[test]
    fn hash_ignores_identity_nulls_and_key_order() {
        let a = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "1"}},
                       "data": {"k": "v", "gone": null}});
        let b = json!({"data": {"k": "v"}, "metadata": {"labels": {"x": "1"}}});
        assert_eq!(intent_hash(&a), intent_hash(&b));
        let c = json!({"data": {"k": "w"}, "metadata": {"labels": {"x": "1"}}});
        assert_ne!(intent_hash(&a), intent_hash(&c));
    }

    #[test]
    fn set_and_index_items() {
        let live = json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"l": [1, 2, 3]}});
        let fields = json!({"f:metadata": {"f:finalizers": {"v:\"b\"": {}}}, "f:spec": {"f:l": {"i:2": {}, "i:0": {}}}});
        let p = owned_projection(&live, &fields).expect("projection");
        assert_eq!(
            p,
            json!({"metadata": {"finalizers": ["b"]}, "spec": {"l": [1, 3]}})
        );
    }
}
