//! Which target type each object is, and the batch conversion that uses the answer.
//!
//! A [`TypeTable`] maps (API group, kind) to a [`TargetType`]; it starts from the built-in table (offline
//! `federate`) or from the host's FederatedTypeConfigs (`apply`), and is completed from API discovery for
//! kinds it does not know. Conversion itself is `kubefed_core::federate_all`'s: [`convert`] runs it with
//! the table as resolver and reports which kinds the table missed, so the caller can ask discovery about
//! exactly those and convert again.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use kubefed_core::convert::{Batch, ConvertError, ConvertOptions, federate_all};
use kubefed_core::manifest::ManifestObject;
use kubefed_core::typeinfo::{Scope, TargetType, default_types};

/// (API group, kind) → target type.
#[derive(Clone, Debug, Default)]
pub struct TypeTable {
    types: HashMap<(String, String), TargetType>,
}

/// `apps/v1` → `apps`; `v1` → ``.
pub fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(group, _)| group)
}

impl TypeTable {
    /// The default types (design §3), as `federate` uses them offline.
    pub fn builtin() -> Self {
        let mut table = Self::default();
        for t in default_types() {
            table.insert(t);
        }
        table
    }

    /// Adds (or replaces) a type.
    pub fn insert(&mut self, target: TargetType) {
        self.types
            .insert((target.group.clone(), target.kind.clone()), target);
    }

    /// The type of objects with this `apiVersion` and `kind`. Any version of a known group and kind
    /// matches (the template then keeps its `apiVersion`).
    pub fn get(&self, api_version: &str, kind: &str) -> Option<TargetType> {
        self.types
            .get(&(group_of(api_version).to_string(), kind.to_string()))
            .cloned()
    }
}

/// A conversion and the (`apiVersion`, `kind`) pairs the table did not know, in order.
pub struct Converted {
    pub batch: Batch,
    pub missed: BTreeSet<(String, String)>,
}

/// Converts `objects` with `table` as resolver. Kinds the table does not know are converted with a guessed
/// type (and a warning) and listed in [`Converted::missed`]. Fails only for invalid options.
///
/// `default_namespace` is kubectl's namespace of the kubeconfig context: it fills in the namespace of
/// objects of a namespaced type that have none, but — unlike `-n` (`opts.namespace`) — an object in
/// another namespace keeps it.
pub fn convert(
    objects: impl IntoIterator<Item = ManifestObject>,
    table: &TypeTable,
    opts: &ConvertOptions,
    default_namespace: Option<&str>,
) -> anyhow::Result<Converted> {
    let objects = objects.into_iter().map(|mut obj| {
        if let Some(ns) = default_namespace {
            fill_namespace(&mut obj, table, ns);
        }
        obj
    });
    let missed = RefCell::new(BTreeSet::new());
    let resolver = |api_version: &str, kind: &str| {
        let found = table.get(api_version, kind);
        if found.is_none() {
            missed
                .borrow_mut()
                .insert((api_version.to_string(), kind.to_string()));
        }
        found
    };
    // The only error is about the options, which concern every object: name the flags they came from.
    let batch = federate_all(objects, &resolver, opts).map_err(|e: ConvertError| {
        anyhow::Error::new(e).context(
            "invalid placement or overrides (--clusters, --cluster-selector, --override, --overrides-file)",
        )
    })?;
    Ok(Converted {
        batch,
        missed: missed.into_inner(),
    })
}

/// Sets `metadata.namespace` of an object of a namespaced type in `table` that has none.
fn fill_namespace(obj: &mut ManifestObject, table: &TypeTable, namespace: &str) {
    if obj.namespace().is_some() {
        return;
    }
    let namespaced = table
        .get(obj.api_version(), obj.kind())
        .is_some_and(|t| t.scope == Scope::Namespaced);
    if !namespaced {
        return;
    }
    if let Some(meta) = obj.object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.insert("namespace".into(), namespace.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubefed_core::manifest::parse_manifests;

    #[test]
    fn table_misses_are_reported_and_kubefed_objects_pass_through() {
        let input = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: a}\n---\n\
                     apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: a}\n---\n\
                     apiVersion: types.kubefed.io/v1beta1\nkind: FederatedThing\nmetadata: {name: t, namespace: a}\n";
        let objects = parse_manifests("in.yaml", input, &Default::default()).expect("valid");
        let converted = convert(
            objects.clone(),
            &TypeTable::builtin(),
            &ConvertOptions::default(),
            None,
        )
        .expect("valid options");
        assert_eq!(
            converted.missed.into_iter().collect::<Vec<_>>(),
            [("example.com/v1".to_string(), "Widget".to_string())]
        );
        assert!(
            converted.batch.items[2].target.is_none(),
            "already federated: passed through"
        );
        let mut table = TypeTable::builtin();
        let mut widget = kubefed_core::convert::guess_target_type("example.com/v1", "Widget", true);
        widget.plural = "widgetz".into();
        table.insert(widget);
        let converted = convert(objects, &table, &ConvertOptions::default(), None).expect("valid options");
        assert!(converted.missed.is_empty());
        let w = &converted.batch.items[1];
        assert_eq!(w.target.as_ref().map(|t| t.plural.as_str()), Some("widgetz"));
        assert_eq!(
            w.result.as_ref().map(|f| f.warnings.len()).ok(),
            Some(0),
            "no guess warning"
        );
    }

    #[test]
    fn the_context_namespace_fills_in_but_does_not_override() {
        let input = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\
                     apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: other}\n---\n\
                     apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: c}\n";
        let objects = parse_manifests("in.yaml", input, &Default::default()).expect("valid");
        let converted = convert(
            objects,
            &TypeTable::builtin(),
            &ConvertOptions::default(),
            Some("ctx"),
        )
        .expect("valid options");
        let namespaces: Vec<Option<String>> = converted
            .batch
            .items
            .iter()
            .map(|i| {
                let fed = i.result.as_ref().expect("converts");
                fed.object
                    .pointer("/metadata/namespace")
                    .and_then(|v| v.as_str())
                    .map(String::from)
            })
            .collect();
        assert_eq!(namespaces, [Some("ctx".into()), Some("other".into()), None]);
    }

    #[test]
    fn other_versions_of_a_known_kind_match() {
        let table = TypeTable::builtin();
        assert_eq!(
            table.get("apps/v1beta2", "Deployment").map(|t| t.plural),
            Some("deployments".into())
        );
        assert!(table.get("v1", "Deployment").is_none());
    }
}
