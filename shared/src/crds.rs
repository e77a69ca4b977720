//! The CustomResourceDefinitions of kubefed, generated from the Rust types in [`crate::api`] so the
//! chart's CRDs cannot drift from the code that reads and writes the objects.
//!
//! * [`core_crds`]: KubeFedCluster, FederatedTypeConfig, KubeFedConfig, ReplicaSchedulingPreference,
//!   FederationPolicy — from their `#[derive(CustomResource)]`.
//! * [`federated_crd`]: the `Federated<Kind>` CRD for any target type (one per enabled type); its schema
//!   is derived from [`FederatedSpec`] and [`FederatedStatus`] with the same schemars settings and
//!   structural rewrites kube's derive uses, so all CRDs follow one set of rules.
//! * [`chart_crd_files`]: every CRD the chart installs (the core ones and one per
//!   [`default_types`]), one YAML file each, byte-for-byte deterministic. The
//!   `crds_in_sync` test compares them with `charts/kubefed/crds/`.
//! * [`chart_type_configs_file`]: the default FederatedTypeConfigs (one per [`default_types`]) as one YAML
//!   stream, without a namespace: the chart's `federatedtypeconfigs.yaml` template renders it into the
//!   release namespace. The same test compares it with `charts/kubefed/files/federatedtypeconfigs.yaml`.
//!
//! Schemas must be *structural* or a kube-apiserver refuses the CRD: every node typed (free-form values
//! use `x-kubernetes-preserve-unknown-fields`), no `$ref`, `nullable` rather than `type: [x, null]`.
//! [`schema_problems`] checks that, and the tests run it on every generated CRD.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceSubresourceStatus,
    CustomResourceSubresources, CustomResourceValidation, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde_json::{Value, json};

use crate::api::{
    FederatedSpec, FederatedStatus, FederatedTypeConfig, FederationPolicy, KubeFedCluster, KubeFedConfig,
    ReplicaSchedulingPreference,
};
use crate::typeinfo::{FEDERATED_GROUP, FEDERATED_VERSION, Scope, TargetType, default_types};

/// Categories of every federated CRD: `kubectl get federated` lists all federated objects.
pub const FEDERATED_CATEGORIES: &[&str] = &["kubefed", "federated"];

/// First line of every generated chart file.
pub const GENERATED_HEADER: &str = "# Generated from the Rust types in shared/src/api by kubefed-core's crds.rs; do not edit.\n\
# Regenerate with: UPDATE_CRDS=1 cargo test -p kubefed-core --test crds_in_sync\n";

/// The root object a federated CRD's schema describes (`apiVersion`, `kind` and `metadata` are the API
/// server's, as in kube's derive).
#[derive(JsonSchema)]
#[schemars(
    title = "Federated",
    description = "A federated object: a template of the target object, the member clusters it is placed \
                   on, per-cluster overrides, and the propagation status per cluster."
)]
#[allow(dead_code)] // Only its schema is used.
struct FederatedRoot {
    spec: FederatedSpec,
    status: Option<FederatedStatus>,
}

/// The schema of `T` as kube's `#[derive(CustomResource)]` generates it: OpenAPI 3, inlined, with kube's
/// structural rewrites.
fn structural_schema<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .with_transform(schemars::transform::AddNullable::default())
        .with_transform(kube::core::schema::StructuralSchemaRewriter)
        .with_transform(kube::core::schema::OptionalEnum)
        .with_transform(kube::core::schema::OptionalIntOrString)
        .into_generator();
    generator.into_root_schema_for::<T>().to_value()
}

fn column(
    name: &str,
    type_: &str,
    json_path: &str,
    priority: i32,
    description: &str,
) -> CustomResourceColumnDefinition {
    CustomResourceColumnDefinition {
        name: name.to_string(),
        type_: type_.to_string(),
        json_path: json_path.to_string(),
        priority: (priority != 0).then_some(priority),
        description: Some(description.to_string()),
        format: None,
    }
}

/// The `Federated<Kind>` CRD of `target`: group `types.kubefed.io`, version `v1beta1` (served and
/// stored), names from the target's `federated_*` names, scope [`TargetType::federated_scope`],
/// categories [`FEDERATED_CATEGORIES`], a status subresource and printer columns for the `Propagation`
/// condition (and ready replicas for types with replicas). `spec.retainReplicas` is in the schema only
/// when the target has replicas.
///
/// # Panics
///
/// Only if the schema derived from [`FederatedSpec`]/[`FederatedStatus`] is not a valid
/// `JSONSchemaProps` — a bug in this crate, caught by its tests.
pub fn federated_crd(target: &TargetType) -> CustomResourceDefinition {
    let mut schema = structural_schema::<FederatedRoot>();
    if !target.has_replicas
        && let Some(spec_props) = schema
            .pointer_mut("/properties/spec/properties")
            .and_then(Value::as_object_mut)
    {
        spec_props.remove("retainReplicas");
    }
    let schema: JSONSchemaProps = serde_json::from_value(schema)
        .expect("the schema derived from FederatedSpec and FederatedStatus is a valid JSONSchemaProps");

    let propagation = ".status.conditions[?(@.type=='Propagation')]";
    let mut columns = vec![
        column(
            "Propagation",
            "string",
            &format!("{propagation}.status"),
            0,
            "Whether the object is as desired in every placed cluster",
        ),
        column(
            "Reason",
            "string",
            &format!("{propagation}.reason"),
            1,
            "Why propagation is not complete",
        ),
    ];
    if target.has_replicas {
        columns.push(column(
            "Ready",
            "integer",
            ".status.aggregated.readyReplicas",
            0,
            "Ready replicas summed over the member clusters",
        ));
    }
    columns.push(column(
        "Age",
        "date",
        ".metadata.creationTimestamp",
        0,
        "Time since creation",
    ));

    let plural = target.federated_plural();
    let short_names = target.federated_short_names();
    CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(format!("{plural}.{FEDERATED_GROUP}")),
            ..Default::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: FEDERATED_GROUP.to_string(),
            names: CustomResourceDefinitionNames {
                categories: Some(FEDERATED_CATEGORIES.iter().map(|c| (*c).to_string()).collect()),
                kind: target.federated_kind(),
                list_kind: Some(format!("{}List", target.federated_kind())),
                plural,
                short_names: (!short_names.is_empty()).then_some(short_names),
                singular: Some(target.federated_singular()),
            },
            scope: match target.federated_scope() {
                Scope::Namespaced => "Namespaced",
                Scope::Cluster => "Cluster",
            }
            .to_string(),
            versions: vec![CustomResourceDefinitionVersion {
                additional_printer_columns: Some(columns),
                deprecated: None,
                deprecation_warning: None,
                name: FEDERATED_VERSION.to_string(),
                schema: Some(CustomResourceValidation {
                    open_api_v3_schema: Some(schema),
                }),
                selectable_fields: None,
                served: true,
                storage: true,
                subresources: Some(CustomResourceSubresources {
                    scale: None,
                    status: Some(CustomResourceSubresourceStatus(json!({}))),
                }),
            }],
            conversion: None,
            preserve_unknown_fields: None,
        },
        status: None,
    }
}

/// The CRDs of the core types: KubeFedCluster, FederatedTypeConfig, KubeFedConfig (`core.kubefed.io`),
/// ReplicaSchedulingPreference (`scheduling.kubefed.io`) and FederationPolicy (`policy.kubefed.io`).
pub fn core_crds() -> Vec<CustomResourceDefinition> {
    vec![
        KubeFedCluster::crd(),
        FederatedTypeConfig::crd(),
        KubeFedConfig::crd(),
        ReplicaSchedulingPreference::crd(),
        FederationPolicy::crd(),
    ]
}

/// One `Federated<Kind>` CRD per type of [`default_types`], in that order.
pub fn default_federated_crds() -> Vec<CustomResourceDefinition> {
    default_types().iter().map(federated_crd).collect()
}

/// The chart's CRD files: `(file name, YAML)` for [`core_crds`] then [`default_federated_crds`], sorted by
/// file name. Each file is `<crd name>.yaml` holding one CRD after [`GENERATED_HEADER`]; the output is the
/// same on every run (schemas use ordered maps).
///
/// # Panics
///
/// Only if a CRD cannot be written as YAML — a bug in this crate, caught by its tests.
pub fn chart_crd_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = core_crds()
        .into_iter()
        .chain(default_federated_crds())
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let yaml = serde_saphyr::to_string(&crd).expect("a CustomResourceDefinition serializes to YAML");
            (format!("{name}.yaml"), format!("{GENERATED_HEADER}{yaml}"))
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// The chart's default FederatedTypeConfigs: [`FederatedTypeConfig::for_target`] of every
/// [`default_types`] entry, in that order, as one YAML stream (`---` before each document) after
/// [`GENERATED_HEADER`]. They carry no namespace: the chart puts them in the release namespace.
///
/// # Panics
///
/// Only if a FederatedTypeConfig cannot be written as YAML — a bug in this crate, caught by its tests.
pub fn chart_type_configs_file() -> String {
    let mut out = GENERATED_HEADER.to_string();
    for target in default_types() {
        let mut ftc = FederatedTypeConfig::for_target(&target, "");
        ftc.metadata.namespace = None;
        let yaml = serde_saphyr::to_string(&ftc).expect("a FederatedTypeConfig serializes to YAML");
        out.push_str("---\n");
        out.push_str(&yaml);
    }
    out
}

/// Why a CRD would be refused by a kube-apiserver, or served with a schema that does not do what we mean:
/// one message per problem, naming the version and the JSON path of the schema node. Empty when fine.
///
/// Checks the structural-schema rules that derived schemas can break: every node has a single `type`
/// unless it is `x-kubernetes-int-or-string` or `x-kubernetes-preserve-unknown-fields: true`; no `$ref`,
/// `definitions` or `$schema`; `anyOf`/`oneOf`/`allOf` only under a typed node; `properties` only on
/// objects and never with `additionalProperties`; `items` only on arrays; no `uniqueItems: true`,
/// `additionalProperties: false` or `x-kubernetes-preserve-unknown-fields: false`; map-lists whose keys are
/// required in their items; a root of type object.
pub fn schema_problems(crd: &CustomResourceDefinition) -> Vec<String> {
    let mut problems = Vec::new();
    for version in &crd.spec.versions {
        let at = format!("version {}", version.name);
        let Some(schema) = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
        else {
            problems.push(format!("{at}: no openAPIV3Schema"));
            continue;
        };
        match serde_json::to_value(schema) {
            Ok(value) => {
                if value.get("type").and_then(Value::as_str) != Some("object") {
                    problems.push(format!("{at}: the root schema must have type object"));
                }
                check_node(&value, &format!("{at}: schema"), &mut problems);
            }
            Err(e) => problems.push(format!("{at}: schema does not serialize: {e}")),
        }
    }
    problems
}

fn check_node(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        problems.push(format!("{path}: is {node}, not a schema object"));
        return;
    };
    let mut problem = |what: String| problems.push(format!("{path}: {what}"));

    for key in ["$ref", "$schema", "definitions", "$defs", "const", "prefixItems"] {
        if obj.contains_key(key) {
            problem(format!("has `{key}`, which CRD schemas do not allow"));
        }
    }
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields");
    if preserve == Some(&Value::Bool(false)) {
        problem("has x-kubernetes-preserve-unknown-fields: false (only true is allowed)".into());
    }
    let preserves = preserve == Some(&Value::Bool(true));
    let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let type_ = match obj.get("type") {
        None => None,
        Some(Value::String(t)) => Some(t.as_str()),
        Some(other) => {
            problem(format!(
                "has type {other}; use a single type (and `nullable: true` for null)"
            ));
            None
        }
    };
    if type_.is_none() && !preserves && !int_or_string {
        problem(
            "has no type (only x-kubernetes-preserve-unknown-fields or -int-or-string nodes may omit it)"
                .into(),
        );
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if obj.contains_key(key) && type_.is_none() && !int_or_string {
            problem(format!("has `{key}` without a type"));
        }
    }
    let nullable = obj.get("nullable") == Some(&Value::Bool(true));
    for value in obj.get("enum").and_then(Value::as_array).into_iter().flatten() {
        let fits = match (type_, value) {
            (_, Value::Null) => nullable,
            (Some("string"), v) => v.is_string(),
            (Some("integer"), v) => v.is_i64() || v.is_u64(),
            (Some("number"), v) => v.is_number(),
            (Some("boolean"), v) => v.is_boolean(),
            _ => true,
        };
        if !fits {
            problem(format!(
                "has enum value {value} that does not fit the node's type"
            ));
        }
    }
    if obj.get("uniqueItems") == Some(&Value::Bool(true)) {
        problem("has uniqueItems: true, which CRD schemas do not allow".into());
    }
    if let Some(nullable) = obj.get("nullable")
        && !nullable.is_boolean()
    {
        problem(format!("has nullable {nullable}; it must be a boolean"));
    }

    let properties = obj.get("properties");
    let additional = obj.get("additionalProperties");
    if properties.is_some() && type_ != Some("object") {
        problem("has properties but is not of type object".into());
    }
    if properties.is_some() && additional.is_some() {
        problem("has both properties and additionalProperties".into());
    }
    match additional {
        Some(Value::Bool(false)) => {
            problem("has additionalProperties: false, which CRD schemas do not allow".into())
        }
        Some(Value::Bool(true)) | None => {}
        Some(schema) => {
            if type_ != Some("object") {
                problem("has additionalProperties but is not of type object".into());
            }
            check_node(schema, &format!("{path}.additionalProperties"), problems);
        }
    }
    if let Some(items) = obj.get("items") {
        if obj.get("type").and_then(Value::as_str) != Some("array") {
            problems.push(format!("{path}: has items but is not of type array"));
        }
        check_node(items, &format!("{path}[]"), problems);
        if obj.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map") {
            let required: Vec<&str> = items
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let keys = obj.get("x-kubernetes-list-map-keys").and_then(Value::as_array);
            if keys.is_none_or(|k| k.is_empty()) {
                problems.push(format!(
                    "{path}: is a map-list without x-kubernetes-list-map-keys"
                ));
            }
            for key in keys.into_iter().flatten().filter_map(Value::as_str) {
                if !required.contains(&key) {
                    problems.push(format!(
                        "{path}: map-list key {key:?} is not required in its items"
                    ));
                }
            }
        }
    } else if obj.get("type").and_then(Value::as_str) == Some("array") {
        problems.push(format!("{path}: is an array without items"));
    }
    if let Some(props) = properties.and_then(Value::as_object) {
        for (name, schema) in props {
            check_node(schema, &format!("{path}.{name}"), problems);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for (i, sub) in obj
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            check_node_in_combinator(sub, &format!("{path}.{key}[{i}]"), problems);
        }
    }
}

/// Inside `anyOf`/`oneOf`/`allOf`, Kubernetes forbids what would change the structure: `type`,
/// `description`, `default`, `nullable`, `additionalProperties` and the `x-kubernetes-*` extensions.
fn check_node_in_combinator(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        return;
    };
    for key in obj.keys() {
        if matches!(
            key.as_str(),
            "type" | "description" | "default" | "nullable" | "additionalProperties"
        ) || key.starts_with("x-kubernetes-")
        {
            problems.push(format!(
                "{path}: has `{key}`, which is not allowed inside anyOf/oneOf/allOf"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typeinfo::find_default_type;

    fn all_crds() -> Vec<CustomResourceDefinition> {
        core_crds().into_iter().chain(default_federated_crds()).collect()
    }

    fn schema_json(crd: &CustomResourceDefinition) -> Value {
        let schema = crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref());
        serde_json::to_value(schema).expect("schema serializes")
    }

    #[test]
    fn chart_type_configs_are_the_default_types_without_namespace() {
        let file = chart_type_configs_file();
        assert!(file.starts_with(GENERATED_HEADER));
        let docs: Vec<&str> = file[GENERATED_HEADER.len()..]
            .split("---\n")
            .filter(|d| !d.trim().is_empty())
            .collect();
        let types = default_types();
        assert_eq!(docs.len(), types.len());
        for (doc, target) in docs.iter().zip(&types) {
            let ftc: FederatedTypeConfig = serde_saphyr::from_str(doc).expect("each document decodes");
            assert_eq!(
                ftc.metadata.name.as_deref(),
                Some(target.type_config_name().as_str())
            );
            assert_eq!(ftc.metadata.namespace, None, "the chart sets the namespace");
            assert_eq!(ftc.spec, FederatedTypeConfig::for_target(target, "x").spec);
            assert!(!doc.contains("status"), "no status in a chart file:\n{doc}");
        }
        assert_eq!(file, chart_type_configs_file(), "deterministic");
    }

    #[test]
    fn every_generated_schema_is_structural() {
        for crd in all_crds() {
            let problems = schema_problems(&crd);
            assert!(
                problems.is_empty(),
                "{}:\n  {}",
                crd.metadata.name.unwrap_or_default(),
                problems.join("\n  ")
            );
        }
    }

    #[test]
    fn the_checker_catches_what_apiservers_refuse() {
        let mut crd = federated_crd(&find_default_type("configmaps").expect("default type"));
        let mut schema = schema_json(&crd);
        schema["properties"]["spec"]["properties"]["template"] = json!({});
        schema["properties"]["spec"]["properties"]["bad7"] =
            json!({"type": "string", "enum": ["a", 1, null]});
        schema["properties"]["spec"]["properties"]["bad1"] =
            json!({"$ref": "#/definitions/X", "type": "object"});
        schema["properties"]["spec"]["properties"]["bad2"] =
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
        schema["properties"]["spec"]["properties"]["bad4"] = json!({"properties": {"a": {"type": "string"}}});
        schema["properties"]["spec"]["properties"]["bad5"] =
            json!({"type": "array", "items": {"type": "string"}, "uniqueItems": true});
        schema["properties"]["spec"]["properties"]["bad6"] = json!({"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"]});
        crd.spec.versions[0].schema = Some(CustomResourceValidation {
            open_api_v3_schema: Some(serde_json::from_value(schema).expect("still JSONSchemaProps")),
        });
        let problems = schema_problems(&crd).join("\n");
        for needle in [
            "spec.template: has no type",
            "spec.bad1: has `$ref`",
            "spec.bad7: has enum value 1",
            "spec.bad7: has enum value null",
            "spec.bad2: has `anyOf` without a type",
            "spec.bad2.anyOf[0]: has `type`",
            "spec.bad4: has properties but is not of type object",
            "spec.bad5: has uniqueItems: true",
            "spec.bad6: map-list key \"k\" is not required",
        ] {
            assert!(problems.contains(needle), "missing {needle:?} in:\n{problems}");
        }
    }

    #[test]
    fn no_schema_has_defaults() {
        // The API server would write schema defaults into every stored object (noise in diffs, and a
        // KubeFed object would not read back as written).
        for crd in all_crds() {
            let text = schema_json(&crd).to_string();
            assert!(!text.contains("\"default\""), "{:?}: {text}", crd.metadata.name);
        }
    }

    #[test]
    fn descriptions_carry_no_rustdoc_links() {
        // Descriptions come from `///` docs and end up in `kubectl explain`.
        for crd in all_crds() {
            let text = schema_json(&crd).to_string();
            for rust_only in ["[`", "`](", "crate::", "super::", "Self::"] {
                assert!(
                    !text.contains(rust_only),
                    "{:?} has {rust_only:?} in a description",
                    crd.metadata.name
                );
            }
        }
    }

    #[test]
    fn optional_enum_fields_keep_their_own_description() {
        let ftc = schema_json(&FederatedTypeConfig::crd());
        let d = |v: &Value| v["description"].as_str().unwrap_or_default().to_string();
        assert!(
            d(&ftc["properties"]["spec"]["properties"]["statusCollection"])
                .starts_with("Whether member objects")
        );
        assert!(
            d(&ftc["properties"]["status"]["properties"]["statusController"])
                .starts_with("Whether the status")
        );
        assert_eq!(
            ftc["properties"]["spec"]["properties"]["statusCollection"]["enum"],
            json!(["Enabled", "Disabled"])
        );
        let cfg = schema_json(&KubeFedConfig::crd());
        let adopt =
            &cfg["properties"]["spec"]["properties"]["syncController"]["properties"]["adoptResources"];
        assert!(d(adopt).starts_with("Whether pre-existing"), "{adopt}");
        assert_eq!(
            cfg["properties"]["spec"]["properties"]["scope"]["enum"],
            json!(["Namespaced", "Cluster"])
        );
        assert_eq!(cfg["properties"]["spec"]["properties"]["scope"]["nullable"], true);
        for text in [
            ftc.to_string(),
            cfg.to_string(),
            schema_json(&federated_crd(&default_types()[2])).to_string(),
        ] {
            assert!(
                !text.contains("design §"),
                "descriptions must not point users at our design notes"
            );
        }
    }

    #[test]
    fn federated_crd_names_follow_kubefed() {
        let d = find_default_type("deployments.apps").expect("default type");
        let crd = federated_crd(&d);
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("federateddeployments.types.kubefed.io")
        );
        let names = &crd.spec.names;
        assert_eq!(names.kind, "FederatedDeployment");
        assert_eq!(names.plural, "federateddeployments");
        assert_eq!(names.singular.as_deref(), Some("federateddeployment"));
        assert_eq!(names.short_names, Some(vec!["fdeploy".to_string()]));
        assert_eq!(
            names.categories,
            Some(vec!["kubefed".to_string(), "federated".to_string()])
        );
        assert_eq!(crd.spec.group, "types.kubefed.io");
        assert_eq!(crd.spec.scope, "Namespaced");
        let v = &crd.spec.versions[0];
        assert_eq!((v.name.as_str(), v.served, v.storage), ("v1beta1", true, true));
        assert!(v.subresources.as_ref().is_some_and(|s| s.status.is_some()));

        let ns = federated_crd(&find_default_type("namespaces").expect("default type"));
        assert_eq!(ns.spec.scope, "Namespaced");
        assert_eq!(ns.spec.names.short_names, Some(vec!["fns".to_string()]));
        let cr = federated_crd(
            &find_default_type("clusterroles.rbac.authorization.k8s.io").expect("default type"),
        );
        assert_eq!(cr.spec.scope, "Cluster");
        assert_eq!(cr.spec.names.short_names, None);
        assert_eq!(
            cr.metadata.name.as_deref(),
            Some("federatedclusterroles.types.kubefed.io")
        );
    }

    #[test]
    fn federated_schema_shape() {
        let with_replicas = schema_json(&federated_crd(
            &find_default_type("deploy").expect("default type"),
        ));
        let without = schema_json(&federated_crd(&find_default_type("cm").expect("default type")));
        let spec = &with_replicas["properties"]["spec"]["properties"];
        assert_eq!(spec["retainReplicas"]["type"], "boolean");
        assert!(
            without["properties"]["spec"]["properties"]
                .get("retainReplicas")
                .is_none()
        );
        assert_eq!(
            spec["template"],
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "description": spec["template"]["description"]})
        );
        let op = &spec["overrides"]["items"]["properties"]["clusterOverrides"]["items"];
        assert_eq!(
            op["properties"]["value"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert!(op["properties"]["value"].get("type").is_none());
        assert_eq!(op["properties"]["op"]["pattern"], "^(add|remove|replace)?$");
        assert_eq!(op["required"], json!(["path"]));
        let placement = &spec["placement"]["properties"];
        assert_eq!(placement["clusters"]["items"]["required"], json!(["name"]));
        assert_eq!(
            placement["clusterSelector"]["properties"]["matchLabels"]["additionalProperties"]["type"],
            "string"
        );
        let status = &with_replicas["properties"]["status"]["properties"];
        assert_eq!(
            status["clusters"]["items"]["properties"]["remoteStatus"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(status["clusters"]["x-kubernetes-list-map-keys"], json!(["name"]));
        assert_eq!(
            status["conditions"]["items"]["properties"]["lastUpdateTime"]["format"],
            "date-time"
        );
        assert_eq!(
            status["aggregated"]["properties"]["readyReplicas"]["format"],
            "int32"
        );
        assert_eq!(with_replicas["required"], json!(["spec"]));
    }

    #[test]
    fn core_crds_have_kubefed_names() {
        let crds = core_crds();
        let names: Vec<_> = crds
            .iter()
            .map(|c| c.metadata.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            [
                "kubefedclusters.core.kubefed.io",
                "federatedtypeconfigs.core.kubefed.io",
                "kubefedconfigs.core.kubefed.io",
                "replicaschedulingpreferences.scheduling.kubefed.io",
                "federationpolicies.policy.kubefed.io",
            ]
        );
        let short: Vec<_> = crds.iter().map(|c| c.spec.names.short_names.clone()).collect();
        assert_eq!(
            short,
            [
                Some(vec!["kfc".to_string()]),
                Some(vec!["ftc".to_string()]),
                None,
                Some(vec!["rsp".to_string()]),
                Some(vec!["fpol".to_string()])
            ]
        );
        // FederationPolicy is the one cluster-scoped core type (design §6).
        assert!(crds[..4].iter().all(|c| c.spec.scope == "Namespaced"));
        assert_eq!(crds[4].spec.scope, "Cluster");
        let kfc = schema_json(&crds[0]);
        assert_eq!(
            kfc["properties"]["spec"]["properties"]["caBundle"]["format"],
            "byte"
        );
        assert_eq!(
            kfc["properties"]["spec"]["properties"]["disabledTLSValidations"]["items"]["enum"],
            json!(["*", "SubjectName", "ValidityPeriod"])
        );
        let rsp = schema_json(&crds[3]);
        assert_eq!(
            rsp["properties"]["spec"]["properties"]["clusters"]["additionalProperties"]["properties"]["maxReplicas"]
                ["format"],
            "int64"
        );
    }

    #[test]
    fn chart_files_are_named_sorted_and_round_trip() {
        let files = chart_crd_files();
        assert_eq!(files.len(), 5 + default_types().len());
        let mut sorted = files.clone();
        sorted.sort();
        assert_eq!(files, sorted);
        assert_eq!(files, chart_crd_files(), "generation must be deterministic");
        let crds: Vec<_> = all_crds();
        for (name, yaml) in &files {
            assert!(yaml.starts_with(GENERATED_HEADER), "{name}");
            let parsed: CustomResourceDefinition =
                serde_saphyr::from_str(yaml).expect("generated YAML parses");
            assert_eq!(
                format!("{}.yaml", parsed.metadata.name.clone().unwrap_or_default()),
                *name
            );
            let original = crds
                .iter()
                .find(|c| c.metadata.name == parsed.metadata.name)
                .expect("file of a generated CRD");
            assert_eq!(&parsed, original, "{name} does not survive YAML");
        }
    }
}
