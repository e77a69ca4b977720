//! Value types of overrides, checked against the target kind's OpenAPI v3 schema as the host serves it
//! (`/openapi/v3/apis/<group>/<version>`, `/openapi/v3/api/v1` for the core group).
//!
//! The decisions say which override values to check ([`TypeCheck`]); the webhook fetches the schema (I/O,
//! cached) and calls [`GroupVersionSchema::check`]. The check only refuses what the schema rules out for
//! sure: a field the schema does not describe, `x-kubernetes-preserve-unknown-fields`, a missing `type` and
//! `null` values are accepted, `int-or-string` and quantities accept both. It is bounded: at most
//! [`MAX_DEPTH`] levels and [`MAX_NODES`] values per check, and `$ref` chains of at most [`MAX_REFS`].

use serde_json::{Map, Value};

/// Deepest level of a value checked.
pub const MAX_DEPTH: usize = 16;
/// Most values visited per override value.
pub const MAX_NODES: usize = 2_000;
/// Longest `$ref`/`allOf` chain followed.
pub const MAX_REFS: usize = 32;

/// The override values whose types the webhook checks against the target kind's schema.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TypeCheck {
    /// The target's API group (`""` core).
    pub group: String,
    /// The target's version.
    pub version: String,
    /// The target's kind.
    pub kind: String,
    /// The values: each override `add`/`replace` with a value.
    pub values: Vec<TypedValue>,
}

/// One override value to check.
#[derive(Clone, Debug, PartialEq)]
pub struct TypedValue {
    /// Where it is written, e.g. `spec.overrides[0].clusterOverrides[1].value`.
    pub field: String,
    /// The JSON Pointer it is written to in the member object.
    pub path: String,
    /// The value.
    pub value: Value,
}

impl TypeCheck {
    /// The host path of the OpenAPI v3 document describing the target's group-version.
    pub fn document_path(&self) -> String {
        if self.group.is_empty() {
            format!("/openapi/v3/api/{}", self.version)
        } else {
            format!("/openapi/v3/apis/{}/{}", self.group, self.version)
        }
    }
}

/// The schemas of one group-version's OpenAPI v3 document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupVersionSchema {
    schemas: Map<String, Value>,
}

impl GroupVersionSchema {
    /// The schemas of a document (`components.schemas`); an unexpected document gives no schemas.
    pub fn from_document(mut doc: Value) -> Self {
        let schemas = match doc
            .get_mut("components")
            .and_then(|c| c.get_mut("schemas"))
            .map(Value::take)
        {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Self { schemas }
    }

    /// The schema of `group`/`version`/`kind` (by `x-kubernetes-group-version-kind`).
    pub fn kind_schema(&self, group: &str, version: &str, kind: &str) -> Option<&Value> {
        self.schemas.values().find(|s| {
            s.get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .is_some_and(|gvks| {
                    gvks.iter().any(|g| {
                        g.get("group").and_then(Value::as_str).unwrap_or_default() == group
                            && g.get("version").and_then(Value::as_str) == Some(version)
                            && g.get("kind").and_then(Value::as_str) == Some(kind)
                    })
                })
        })
    }

    /// Checks every value of `check`; one message per value the schema rules out. `None` when the
    /// document does not describe the kind (nothing can be checked).
    pub fn check(&self, check: &TypeCheck) -> Option<Vec<String>> {
        let root = self.kind_schema(&check.group, &check.version, &check.kind)?;
        let mut errors = Vec::new();
        for v in &check.values {
            let Some(node) = self.at_path(root, &v.path) else {
                continue;
            };
            let mut budget = MAX_NODES;
            if let Err(e) = self.matches(node, &v.value, &v.path, 0, &mut budget) {
                errors.push(format!(
                    "{}: {e} (schema of {} {} on the host); fix the value's type",
                    v.field,
                    check.kind,
                    if check.group.is_empty() {
                        check.version.clone()
                    } else {
                        format!("{}/{}", check.group, check.version)
                    }
                ));
            }
        }
        Some(errors)
    }

    /// Follows `$ref` and single-element `allOf` (how v3 documents wrap references).
    fn resolve<'a>(&'a self, mut node: &'a Value) -> &'a Value {
        for _ in 0..MAX_REFS {
            let next = if let Some(r) = node.get("$ref").and_then(Value::as_str) {
                r.strip_prefix("#/components/schemas/")
                    .and_then(|name| self.schemas.get(name))
            } else {
                match node.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
                    Some([only]) => Some(only),
                    _ => None,
                }
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }

    /// The schema of the field at JSON Pointer `path` below `root`; `None` when the schema does not say.
    fn at_path<'a>(&'a self, root: &'a Value, path: &str) -> Option<&'a Value> {
        let tokens = crate::overrides::parse_json_pointer(path).ok()?;
        let mut node = self.resolve(root);
        for token in tokens {
            if open(node) {
                return None;
            }
            let next = if let Some(items) = node.get("items") {
                items
            } else if let Some(p) = node.get("properties").and_then(|p| p.get(&token)) {
                p
            } else {
                match node.get("additionalProperties") {
                    Some(a) if a.is_object() => a,
                    _ => return None,
                }
            };
            node = self.resolve(next);
        }
        Some(node)
    }

    fn matches(
        &self,
        node: &Value,
        value: &Value,
        at: &str,
        depth: usize,
        budget: &mut usize,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH || *budget == 0 || value.is_null() || open(node) {
            return Ok(());
        }
        *budget -= 1;
        let format = node.get("format").and_then(Value::as_str);
        if node.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true)
            || format == Some("int-or-string")
        {
            return if value.is_i64() || value.is_u64() || value.is_string() {
                Ok(())
            } else {
                Err(wrong(at, "an integer or a string", value))
            };
        }
        if format == Some("quantity") {
            return if value.is_number() || value.is_string() {
                Ok(())
            } else {
                Err(wrong(at, "a quantity (a number or a string like 500m)", value))
            };
        }
        let Some(ty) = node.get("type").and_then(Value::as_str) else {
            return Ok(());
        };
        match ty {
            "integer" if value.is_i64() || value.is_u64() => Ok(()),
            "integer" => Err(wrong(at, "an integer", value)),
            "number" if value.is_number() => Ok(()),
            "number" => Err(wrong(at, "a number", value)),
            "string" if value.is_string() => Ok(()),
            "string" => Err(wrong(at, "a string", value)),
            "boolean" if value.is_boolean() => Ok(()),
            "boolean" => Err(wrong(at, "a boolean (true or false)", value)),
            "array" => {
                let Some(items) = value.as_array() else {
                    return Err(wrong(at, "an array", value));
                };
                let Some(schema) = node.get("items").map(|i| self.resolve(i)) else {
                    return Ok(());
                };
                for (i, item) in items.iter().enumerate() {
                    self.matches(schema, item, &format!("{at}/{i}"), depth + 1, budget)?;
                }
                Ok(())
            }
            "object" => {
                let Some(fields) = value.as_object() else {
                    return Err(wrong(at, "an object", value));
                };
                let props = node.get("properties");
                let extra = node.get("additionalProperties").filter(|a| a.is_object());
                for (k, v) in fields {
                    let schema = props.and_then(|p| p.get(k)).or(extra);
                    if let Some(schema) = schema {
                        let key = k.replace('~', "~0").replace('/', "~1");
                        self.matches(self.resolve(schema), v, &format!("{at}/{key}"), depth + 1, budget)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Whether a schema node accepts anything below it.
fn open(node: &Value) -> bool {
    node.get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

fn wrong(at: &str, expected: &str, value: &Value) -> String {
    let (what, shown) = match value {
        Value::String(s) => ("a string", format!(" {s:?}")),
        Value::Bool(b) => ("a boolean", format!(" {b}")),
        Value::Number(n) => ("a number", format!(" {n}")),
        Value::Array(_) => ("an array", String::new()),
        Value::Object(_) => ("an object", String::new()),
        Value::Null => ("null", String::new()),
    };
    format!("{at} must be {expected}, but the value is {what}{shown}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"components": {"schemas": {
            "io.k8s.api.apps.v1.Deployment": {
                "type": "object",
                "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}],
                "properties": {
                    "metadata": {"allOf": [{"$ref": "#/components/schemas/Meta"}]},
                    "spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}]}
                }
            },
            "Meta": {"type": "object", "properties": {
                "labels": {"type": "object", "additionalProperties": {"type": "string", "default": ""}}}},
            "io.k8s.api.apps.v1.DeploymentSpec": {"type": "object", "properties": {
                "replicas": {"type": "integer", "format": "int32"},
                "paused": {"type": "boolean"},
                "strategy": {"type": "object", "properties": {"maxSurge": {"x-kubernetes-int-or-string": true}}},
                "template": {"type": "object", "properties": {"containers": {"type": "array", "items": {
                    "type": "object", "properties": {"name": {"type": "string"},
                        "ports": {"type": "array", "items": {"type": "object",
                            "properties": {"containerPort": {"type": "integer"}}}}}}}}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }}
        }}})
    }

    fn check(path: &str, value: Value) -> Vec<String> {
        let schema = GroupVersionSchema::from_document(doc());
        let c = TypeCheck {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            values: vec![TypedValue {
                field: "spec.overrides[0].clusterOverrides[0].value".into(),
                path: path.into(),
                value,
            }],
        };
        schema.check(&c).expect("the document describes Deployment")
    }

    #[test]
    fn values_of_the_wrong_type_are_refused_naming_the_expected_type() {
        assert_eq!(
            check("/spec/replicas", json!("three")),
            [
                "spec.overrides[0].clusterOverrides[0].value: /spec/replicas must be an integer, but the value is a \
              string \"three\" (schema of Deployment apps/v1 on the host); fix the value's type"
            ]
        );
        assert_eq!(check("/spec/replicas", json!(3)), Vec::<String>::new());
        assert_eq!(check("/spec/paused", json!("yes")).len(), 1);
        assert_eq!(check("/metadata/labels/app", json!(1)).len(), 1);
        assert!(check("/metadata/labels/app", json!("web")).is_empty());
        // Nested inside an object value.
        let got = check(
            "/spec/template",
            json!({"containers": [{"name": "a", "ports": [{"containerPort": "80"}]}]}),
        );
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("/spec/template/containers/0/ports/0/containerPort must be an integer"));
        // Array index paths.
        assert_eq!(check("/spec/template/containers/0/name", json!(5)).len(), 1);
    }

    #[test]
    fn what_the_schema_does_not_rule_out_is_accepted() {
        for (path, value) in [
            ("/spec/strategy/maxSurge", json!("25%")),
            ("/spec/strategy/maxSurge", json!(2)),
            ("/spec/extra/anything", json!({"x": [1]})),
            ("/spec/unknownField", json!("x")),
            ("/spec/replicas", Value::Null),
        ] {
            assert!(check(path, value.clone()).is_empty(), "{path} {value}");
        }
        let schema = GroupVersionSchema::from_document(doc());
        assert!(
            schema
                .check(&TypeCheck {
                    kind: "StatefulSet".into(),
                    ..TypeCheck::default()
                })
                .is_none()
        );
        assert!(
            GroupVersionSchema::from_document(json!("nonsense"))
                .kind_schema("", "v1", "Pod")
                .is_none()
        );
    }

    #[test]
    fn document_paths() {
        let core = TypeCheck {
            version: "v1".into(),
            ..TypeCheck::default()
        };
        assert_eq!(core.document_path(), "/openapi/v3/api/v1");
        let apps = TypeCheck {
            group: "apps".into(),
            version: "v1".into(),
            ..TypeCheck::default()
        };
        assert_eq!(apps.document_path(), "/openapi/v3/apis/apps/v1");
    }
}
