//! Which target type each object is, and the streaming conversion that uses the answer.
//!
//! A [`TypeTable`] maps (API group, kind) to a [`TargetType`]; it starts from every built-in Kubernetes
//! kind (offline `federate`, [`kubefed_core::kinds::builtin_types`]) or from the host's
//! FederatedTypeConfigs (`apply`), learns the kinds of CustomResourceDefinitions met in the input, and is
//! completed from API discovery for kinds it still does not know.
//!
//! Conversion streams: each object is converted as soon as it is read ([`Admission::admit`]), except those
//! of a kind the table does not know yet — their CRD may come later in the input, and discovery is asked
//! once for all of them — which are held ([`Admission::deferred`]) and converted at the end. Nothing else
//! keeps the parsed objects.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use anyhow::Context;

use kubefed_core::kinds::{builtin_types, crd_target_type};
use kubefed_core::manifest::ManifestObject;
use kubefed_core::typeinfo::TargetType;

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
    /// Every built-in kind, as `federate` uses them offline (for a kind in several versions, the first
    /// listed — the stable one).
    pub fn builtin() -> Self {
        let mut table = Self::default();
        for t in builtin_types() {
            table.types.entry((t.group.clone(), t.kind.clone())).or_insert(t);
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

    fn contains(&self, api_version: &str, kind: &str) -> bool {
        self.types
            .contains_key(&(group_of(api_version).to_string(), kind.to_string()))
    }
}

/// Context of an error about the conversion options, which concern every object: names the flags.
pub const OPTIONS_CONTEXT: &str =
    "invalid placement or overrides (--clusters, --cluster-selector, --override, --overrides-file)";

/// A whole conversion and the (`apiVersion`, `kind`) pairs the table did not know (converted with a guessed
/// type and a warning), for commands that look at every object before acting (`diff`, `check`).
pub struct Converted {
    pub batch: kubefed_core::convert::Batch,
    pub missed: BTreeSet<(String, String)>,
}

/// Converts `objects` with `table` as resolver; fails only for invalid options.
pub fn convert(
    objects: impl IntoIterator<Item = ManifestObject>,
    table: &TypeTable,
    opts: &kubefed_core::convert::ConvertOptions,
) -> anyhow::Result<Converted> {
    let missed = RefCell::new(BTreeSet::new());
    let resolve = |api_version: &str, kind: &str| {
        let found = table.get(api_version, kind);
        if found.is_none() {
            missed
                .borrow_mut()
                .insert((api_version.to_string(), kind.to_string()));
        }
        found
    };
    let batch = kubefed_core::convert::federate_all(objects, &resolve, opts)
        .map_err(anyhow::Error::new)
        .context(OPTIONS_CONTEXT)?;
    Ok(Converted {
        batch,
        missed: missed.into_inner(),
    })
}

/// The resolver a [`kubefed_core::Federator`] asks: the table as it is at the time of the question.
pub fn resolver(table: &RefCell<TypeTable>) -> impl Fn(&str, &str) -> Option<TargetType> + '_ {
    move |api_version, kind| table.borrow().get(api_version, kind)
}

/// Decides, object by object, whether it can be converted now.
#[derive(Default)]
pub struct Admission {
    deferred: Vec<ManifestObject>,
    missed: BTreeSet<(String, String)>,
}

impl Admission {
    /// Learns the type a CRD declares (the CRD itself is still converted, or refused, like any object);
    /// returns the object when the table knows its kind (or it is already federated), or holds it.
    pub fn admit(&mut self, table: &RefCell<TypeTable>, obj: ManifestObject) -> Option<ManifestObject> {
        if let Some(declared) = crd_target_type(&obj.object) {
            let mut table = table.borrow_mut();
            if !table.contains(&declared.api_version(), &declared.kind) {
                table.insert(declared);
            }
        }
        let (api_version, kind) = (obj.api_version(), obj.kind());
        if kubefed_core::convert::is_kubefed_api(api_version) || table.borrow().contains(api_version, kind) {
            return Some(obj);
        }
        self.missed.insert((api_version.to_string(), kind.to_string()));
        self.deferred.push(obj);
        None
    }

    /// The (`apiVersion`, `kind`) pairs of the held objects that the table still does not know.
    pub fn missed(&self, table: &RefCell<TypeTable>) -> BTreeSet<(String, String)> {
        let table = table.borrow();
        self.missed
            .iter()
            .filter(|(v, k)| !table.contains(v, k))
            .cloned()
            .collect()
    }

    /// Whether no object is held.
    pub fn is_empty(&self) -> bool {
        self.deferred.is_empty()
    }

    /// The held objects, in input order, to convert once the table is complete (kinds it still does not
    /// know are guessed, with a warning).
    pub fn deferred(self) -> Vec<ManifestObject> {
        self.deferred
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubefed_core::convert::{ConvertOptions, Federator};
    use kubefed_core::manifest::parse_manifests;
    use kubefed_core::typeinfo::Scope;

    #[test]
    fn unknown_kinds_wait_for_their_crd_later_in_the_input() {
        let input = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n\
                     apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\n---\n\
                     apiVersion: types.kubefed.io/v1beta1\nkind: FederatedThing\nmetadata: {name: t, namespace: a}\n---\n\
                     apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
                     metadata: {name: widgetz.example.com}\nspec: {group: example.com, scope: Namespaced, \
                     names: {kind: Widget, plural: widgetz}, versions: [{name: v1, storage: true}]}\n";
        let objects = parse_manifests("in.yaml", input, &Default::default()).expect("valid");
        let table = RefCell::new(TypeTable::builtin());
        let mut admission = Admission::default();
        let admitted: Vec<String> = objects
            .into_iter()
            .filter_map(|o| admission.admit(&table, o))
            .map(|o| o.kind().to_string())
            .collect();
        assert_eq!(
            admitted,
            ["StatefulSet", "FederatedThing", "CustomResourceDefinition"]
        );
        assert!(admission.missed(&table).is_empty(), "the CRD declared Widget");
        let widget = table.borrow().get("example.com/v1", "Widget").expect("learned");
        assert_eq!(
            (widget.plural.as_str(), widget.scope),
            ("widgetz", Scope::Namespaced)
        );
        let opts = ConvertOptions {
            default_namespace: Some("ctx".into()),
            ..ConvertOptions::default()
        };
        let resolve = resolver(&table);
        let mut federator = Federator::new(&resolve, &opts).expect("valid options");
        let deferred = admission.deferred();
        let fed = federator.federate(deferred.into_iter().next().expect("the widget"));
        let fed = fed.result.expect("converts");
        assert_eq!(fed.object["metadata"]["namespace"], "ctx");
        assert!(fed.warnings.is_empty(), "not guessed: {:?}", fed.warnings);
    }

    #[test]
    fn other_versions_of_a_known_kind_match() {
        let table = TypeTable::builtin();
        assert_eq!(
            table.get("apps/v1beta2", "Deployment").map(|t| t.plural),
            Some("deployments".into())
        );
        assert!(table.get("v1", "Deployment").is_none());
        let hpa = table
            .get("autoscaling/v1", "HorizontalPodAutoscaler")
            .expect("built in");
        assert_eq!((hpa.version.as_str(), hpa.scope), ("v2", Scope::Namespaced));
    }
}
