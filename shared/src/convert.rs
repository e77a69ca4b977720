//! Plain objects → federated objects: what `kubectl fed apply` / `kubectl fed federate` send to the host.
//!
//! The output is what KubeFed's `kubefedctl federate` produces, so KubeFed users recognise it:
//! - `apiVersion: types.kubefed.io/v1beta1`, `kind: Federated<Kind>`, `metadata` with only `name` and
//!   `namespace` (kubefedctl copies neither labels nor annotations onto the federated object, and neither
//!   do we). A Namespace becomes a FederatedNamespace with the namespace's name, inside that namespace.
//! - `spec.template` is the object without `apiVersion`, `kind`, `status` and without every `metadata`
//!   field except `labels` — plus, beyond KubeFed (design §4.2), `annotations`, minus the ones kubectl and
//!   controllers write ([`STRIPPED_ANNOTATIONS`]): with server-side apply our field manager would otherwise
//!   fight the member's controllers over them. `apiVersion` stays in the template only when it differs
//!   from the type's, which KubeFed's sync reads as "propagate this version".
//! - Pod templates (`spec.template.metadata`) lose the fields the API server writes, as in kubefedctl.
//! - Fields each member cluster allocates itself are dropped, as kubefedctl does: Namespace
//!   `spec.finalizers`, ServiceAccount `secrets`, Service `spec.clusterIP` and `nodePort` of each port.
//!   Beyond it: Service `spec.clusterIPs` and `spec.healthCheckNodePort` (the other allocated fields its
//!   sync retains), but a headless Service keeps `clusterIP: None` (it is a choice, not an allocation;
//!   kubefedctl lost it); a Job without `manualSelector` loses its generated `spec.selector` and
//!   `controller-uid` labels (pod template and Job), without which a Job read back from a cluster is
//!   rejected everywhere else.
//!   A dropped `nodePort` is reported as a warning with the override that would pin it.
//! - `spec.placement`: `clusterSelector: {}` (all clusters) by default — the same meaning as kubefedctl's
//!   `clusterSelector: {matchLabels: {}}` — or an explicit cluster list, or `matchLabels`.
//! - `spec.overrides`: `[{clusterName, clusterOverrides: [{op, path, value}]}]`, checked by
//!   [`validate_overrides`] (shared with the admission webhook).
//!
//! Objects of kubefed's own API groups (`types.kubefed.io` — already federated — and `core`, `scheduling`,
//! `policy.kubefed.io`) pass through unchanged. Everything here is pure; warnings are returned, not printed.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Map, Value, json};

use crate::api::constants::SERVER_METADATA_FIELDS;
use crate::api::{ClusterOverrides, FederatedSpec, Placement};
use crate::manifest::{ManifestObject, Source};
use crate::overrides::{OverridesError, validate_cluster_overrides};
use crate::selector::check_label;
pub use crate::selector::parse_cluster_selector;
use crate::typeinfo::{FEDERATED_GROUP, FEDERATED_VERSION, Scope, TargetType, default_types};

/// Annotations never copied into a template: kubectl's record of the last apply, and the ones the
/// Deployment controller writes on Deployments and ReplicaSets.
pub const STRIPPED_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    // What the HPA controller records on autoscaling/v1 objects.
    "autoscaling.alpha.kubernetes.io/conditions",
    "autoscaling.alpha.kubernetes.io/current-metrics",
    // What the PV controller and scheduler record on a bound claim: copied into a member, they would tell
    // its PV controller the claim is already bound or provisioned there.
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.kubernetes.io/selected-node",
    "volume.kubernetes.io/storage-provisioner",
    "volume.beta.kubernetes.io/storage-provisioner",
];

/// Prefixes of annotations owned by Helm, dropped when converting (not by the webhook, which leaves what a
/// user writes into a federated object alone). `helm.sh/hook*` and `helm.sh/resource-policy` instruct the
/// Helm release that rendered the object, and `meta.helm.sh/release-*` record which release owns it in the
/// source cluster; no Helm release owns the copies kubefed makes in the members, and there these
/// annotations would mislead a later `helm install` into adopting or refusing them. Helm's *labels*
/// (`helm.sh/chart`, `app.kubernetes.io/managed-by`) stay: selectors and dashboards use them.
pub const HELM_ANNOTATION_PREFIXES: &[&str] = &["helm.sh/", "meta.helm.sh/"];

/// Where the federated object is placed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PlacementChoice {
    /// `clusterSelector: {}` — every joined cluster.
    #[default]
    AllClusters,
    /// `clusters: [{name}]` — exactly these clusters; an empty list places the object nowhere.
    Clusters(Vec<String>),
    /// `clusterSelector: {matchLabels}` — clusters with all these labels (see [`parse_cluster_selector`]).
    ClusterSelector(BTreeMap<String, String>),
}

/// How to convert: what `kubectl fed` takes from its flags.
///
/// The namespace of a namespaced object follows kubectl: `namespace` (`-n`) > the object's own (a different
/// one is an error when `-n` is given) > `default_namespace` (the kubeconfig context's, else `default`).
/// Cluster-scoped objects never get one: a namespace written on one is dropped with a warning.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConvertOptions {
    /// `-n/--namespace`: fills in a missing namespace of namespaced objects; an object in another
    /// namespace is an error, as in kubectl.
    pub namespace: Option<String>,
    /// The namespace of namespaced objects that have none when `namespace` is not given. `None` makes such
    /// an object an error ([`ConvertError::MissingNamespace`]).
    pub default_namespace: Option<String>,
    /// Kinds (lower-case, e.g. `customresourcedefinition`) federated although [`crate::kinds::refusal`]
    /// refuses them by default.
    pub allowed_kinds: std::collections::BTreeSet<String>,
    pub placement: PlacementChoice,
    /// `spec.overrides` for every object (checked by [`validate_overrides`]).
    pub overrides: Vec<ClusterOverrides>,
    /// `spec.overrides` for the objects of one kind and name, added to `overrides` (merged by cluster).
    pub scoped_overrides: Vec<ScopedOverrides>,
}

/// Overrides for one object: `--override deployment/web:eu-1:/spec/replicas=3`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScopedOverrides {
    /// The object's kind, as kubectl takes it: kind, plural, singular or short name, any case.
    pub kind: String,
    /// The object's `metadata.name`.
    pub name: String,
    pub overrides: Vec<ClusterOverrides>,
}

/// A federated object and what the user should know about its conversion.
#[derive(Clone, Debug, PartialEq)]
pub struct Federated {
    /// The `Federated<Kind>` object.
    pub object: Value,
    /// Things done that the user may not expect, each a full sentence.
    pub warnings: Vec<String>,
}

/// Why an object (or the options) could not be converted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("expected a Kubernetes object (a mapping), found {found}")]
    NotAnObject { found: &'static str },
    #[error("the object has no {field}; set it")]
    MissingField { field: &'static str },
    #[error("the object is a {found}, but {federated_kind} wraps {expected}")]
    KindMismatch {
        found: String,
        expected: String,
        federated_kind: String,
    },
    #[error("{kind} {name:?} has no namespace; set metadata.namespace in the manifest or pass --namespace")]
    MissingNamespace { kind: String, name: String },
    // kubectl's own wording, so the fix is the familiar one.
    #[error(
        "the namespace from the provided object {object:?} does not match the namespace {flag:?}. You must \
         pass '--namespace={object}' to perform this operation."
    )]
    NamespaceMismatch { object: String, flag: String },
    #[error(
        "{kind} {name:?} is not federated by default: {reason}. Pass --allow-kind {kind} to federate it anyway"
    )]
    RefusedKind {
        kind: String,
        name: String,
        reason: &'static str,
    },
    #[error("invalid cluster selector {selector:?}: {reason}")]
    InvalidClusterSelector { selector: String, reason: String },
    #[error("invalid cluster list: {reason}")]
    InvalidClusterList { reason: String },
    #[error(transparent)]
    InvalidOverride(#[from] OverridesError),
    #[error("{what} is defined twice: first at {first}; remove one of them or give it another name")]
    Duplicate { what: String, first: Source },
    #[error("internal error rendering the federated object: {reason}")]
    Render { reason: String },
}

/// Converts one plain object of type `ty` into its federated object.
///
/// Objects of kubefed's API groups are returned unchanged. Warnings about the options (an override for
/// a cluster outside the placement list) come first in [`Federated::warnings`].
///
/// ```
/// use kubefed_core::convert::{federate, ConvertOptions};
/// use kubefed_core::typeinfo::find_default_type;
/// let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
///     "metadata": {"name": "cfg", "namespace": "web", "labels": {"app": "web"}}, "data": {"k": "v"}});
/// let ty = find_default_type("configmaps").expect("default type");
/// let fed = federate(cm, &ty, &ConvertOptions::default())?;
/// assert_eq!(fed.object, serde_json::json!({
///     "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
///     "metadata": {"name": "cfg", "namespace": "web"},
///     "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "data": {"k": "v"}},
///              "placement": {"clusterSelector": {}}}}));
/// # Ok::<(), kubefed_core::convert::ConvertError>(())
/// ```
pub fn federate(obj: Value, ty: &TargetType, opts: &ConvertOptions) -> Result<Federated, ConvertError> {
    let prepared = Prepared::new(opts)?;
    if let Some(e) = refused(&obj, ty, opts) {
        return Err(e);
    }
    let mut fed = convert_one(obj, ty, opts, &prepared)?;
    if !prepared.warnings.is_empty() {
        let mut warnings = prepared.warnings;
        warnings.append(&mut fed.warnings);
        fed.warnings = warnings;
    }
    Ok(fed)
}

/// Finds the target type of an object from its `apiVersion` and `kind`.
pub type Resolver<'r> = &'r dyn Fn(&str, &str) -> Option<TargetType>;

/// A resolver over the default types (design §3): works offline. Matches group and kind; an object of
/// another version of a known type keeps its `apiVersion` in the template.
pub fn default_resolver() -> impl Fn(&str, &str) -> Option<TargetType> {
    let types = default_types();
    move |api_version, kind| {
        let group = split_api_version(api_version).0;
        types.iter().find(|t| t.group == group && t.kind == kind).cloned()
    }
}

/// The outcome for one object of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchItem {
    pub source: Source,
    /// The type the object was converted as (guessed if the resolver did not know it); `None` for objects
    /// passed through unchanged.
    pub target: Option<TargetType>,
    pub result: Result<Federated, ConvertError>,
}

impl BatchItem {
    /// `"<source>: <error>"` for a failed conversion.
    pub fn error_message(&self) -> Option<String> {
        self.result
            .as_ref()
            .err()
            .map(|e| format!("{}: {e}", self.source))
    }
}

/// The outcome of [`federate_all`].
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// One item per input object, in input order.
    pub items: Vec<BatchItem>,
    /// Warnings about the options themselves, given once rather than per object.
    pub warnings: Vec<String>,
}

/// Converts a batch of objects (one `kubectl fed apply` run).
///
/// Each object gets its own result, so one bad object does not stop the others. Also rejects an object
/// defined twice (same federated kind, namespace and name), naming both sources. Unknown kinds are
/// converted with a guessed type and a warning. The only `Err` is for invalid options, which concern
/// every object. To convert a large input without holding every object, use [`Federator`] directly.
pub fn federate_all(
    objects: impl IntoIterator<Item = ManifestObject>,
    resolver: Resolver<'_>,
    opts: &ConvertOptions,
) -> Result<Batch, ConvertError> {
    let mut federator = Federator::new(resolver, opts)?;
    let items = objects.into_iter().map(|o| federator.federate(o)).collect();
    let mut warnings = federator.unmatched_scoped_overrides();
    warnings.splice(0..0, federator.prepared.warnings);
    Ok(Batch { items, warnings })
}

/// Converts objects one at a time with the state a batch needs (options checked once, objects seen).
pub struct Federator<'r> {
    resolver: Resolver<'r>,
    opts: &'r ConvertOptions,
    prepared: Prepared,
    seen: HashMap<(String, Option<String>, String), Source>,
    /// For each scoped override (`--override KIND/NAME:…`), whether an object it names was seen.
    scoped_matched: Vec<bool>,
}

impl<'r> Federator<'r> {
    /// Checks the options once; fails if they are invalid.
    pub fn new(resolver: Resolver<'r>, opts: &'r ConvertOptions) -> Result<Self, ConvertError> {
        Ok(Self {
            resolver,
            opts,
            prepared: Prepared::new(opts)?,
            seen: HashMap::new(),
            scoped_matched: vec![false; opts.scoped_overrides.len()],
        })
    }

    /// Warnings about the options.
    pub fn warnings(&self) -> &[String] {
        &self.prepared.warnings
    }

    /// Warnings for the `--override KIND/NAME:…` that named no object of the batch (a typo in the kind or
    /// name would otherwise change nothing, silently). Meaningful once every object went through
    /// [`Federator::federate`].
    pub fn unmatched_scoped_overrides(&self) -> Vec<String> {
        self.prepared
            .scoped
            .iter()
            .zip(&self.scoped_matched)
            .filter(|(_, matched)| !**matched)
            .map(|(s, _)| {
                format!(
                    "--override {}/{}:…: no object in the input is a {} named {:?}, so it changed nothing; check \
                     the kind and name (kubectl's kind, plural or short name, and metadata.name)",
                    s.kind, s.name, s.kind, s.name
                )
            })
            .collect()
    }

    /// Converts the next object of the batch.
    pub fn federate(&mut self, obj: ManifestObject) -> BatchItem {
        let ManifestObject { source, object } = obj;
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
        let mut guess_warning = None;
        let target = if is_kubefed_api(api_version) {
            None
        } else if let Some(ty) = (self.resolver)(api_version, kind) {
            Some(ty)
        } else {
            let has_namespace = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .is_some_and(|ns| !ns.is_empty());
            // `-n` says where the app goes: an unknown kind is most likely part of it (custom resources
            // are mostly namespaced).
            let flag = self.opts.namespace.is_some();
            let ty = guess_target_type(api_version, kind, has_namespace || flag);
            let why = match (has_namespace, flag) {
                (true, _) => "namespaced because the object has a namespace",
                (false, true) => "namespaced because --namespace was given",
                (false, false) => "cluster-scoped because the object has no namespace",
            };
            guess_warning = Some(guess_warning_text(api_version, &ty, why));
            Some(ty)
        };
        let source_kind = kind.to_string();
        if let Some(ty) = &target
            && !self.prepared.scoped.is_empty()
        {
            let name = object.pointer("/metadata/name").and_then(Value::as_str);
            for (s, matched) in self.prepared.scoped.iter().zip(self.scoped_matched.iter_mut()) {
                *matched |= name == Some(s.name.as_str()) && ty.matches(&s.kind);
            }
        }
        let result = match &target {
            Some(ty) => match refused(&object, ty, self.opts) {
                Some(e) => Err(e),
                None => convert_one(object, ty, self.opts, &self.prepared),
            },
            None => Ok(Federated {
                object,
                warnings: Vec::new(),
            }),
        };
        let result = result.and_then(|mut fed| {
            self.check_duplicate(&fed.object, &source_kind, &source)?;
            if let Some(w) = guess_warning {
                fed.warnings.insert(0, w);
            }
            Ok(fed)
        });
        BatchItem {
            source,
            target,
            result,
        }
    }

    fn check_duplicate(
        &mut self,
        object: &Value,
        source_kind: &str,
        source: &Source,
    ) -> Result<(), ConvertError> {
        let text = |p: &str| {
            object
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let namespace = Some(text("/metadata/namespace")).filter(|ns| !ns.is_empty());
        let key = (text("/kind"), namespace, text("/metadata/name"));
        if let Some(first) = self.seen.get(&key) {
            let what = match &key.1 {
                Some(ns) => format!("{source_kind} {:?} in namespace {ns:?}", key.2),
                None => format!("{source_kind} {:?}", key.2),
            };
            return Err(ConvertError::Duplicate {
                what,
                first: first.clone(),
            });
        }
        self.seen.insert(key, source.clone());
        Ok(())
    }
}

/// A type for a kind no resolver knows: names guessed from the kind (see [`guess_plural`]), namespaced
/// if the object has a namespace.
pub fn guess_target_type(api_version: &str, kind: &str, namespaced: bool) -> TargetType {
    let (group, version) = split_api_version(api_version);
    TargetType {
        group: group.to_string(),
        version: version.to_string(),
        kind: kind.to_string(),
        plural: guess_plural(kind),
        singular: kind.to_ascii_lowercase(),
        scope: if namespaced {
            Scope::Namespaced
        } else {
            Scope::Cluster
        },
        short_names: Vec::new(),
        has_replicas: false,
    }
}

/// English plural of a lower-cased kind, as CRDs usually name them: `Widget` → `widgets`,
/// `NetworkPolicy` → `networkpolicies`, `Ingress` → `ingresses`, `Gateway` → `gateways`.
pub fn guess_plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if ["s", "x", "z", "ch", "sh"].iter().any(|end| lower.ends_with(end)) {
        format!("{lower}es")
    } else if let Some(stem) = lower
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'i', 'o', 'u']))
    {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

fn guess_warning_text(api_version: &str, ty: &TargetType, scope: &str) -> String {
    format!(
        "{} ({api_version}) is not a type kubefed knows offline; guessed resource {:?}, {scope}. Run with access \
         to the host cluster, or enable the type first with `kubectl fed enable {}`, so its real names and \
         scope are used",
        ty.kind,
        ty.plural,
        ty.type_config_name()
    )
}

/// Checks `spec.overrides` with the rules every kubefed component applies
/// ([`crate::overrides::validate_cluster_overrides`]), and warns about what is valid but useless:
/// `placement_clusters` is the explicit `spec.placement.clusters` list, if the object has one; an override
/// for a cluster outside it has no effect.
pub fn validate_overrides(
    overrides: &[ClusterOverrides],
    placement_clusters: Option<&[String]>,
) -> Result<Vec<String>, OverridesError> {
    validate_cluster_overrides(overrides)?;
    let Some(list) = placement_clusters else {
        return Ok(Vec::new());
    };
    Ok(overrides
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| {
            let cluster = entry.cluster_name.as_deref()?;
            (!list.iter().any(|c| c == cluster)).then(|| {
                format!(
                    "spec.overrides[{index}]: cluster {cluster:?} is not in spec.placement.clusters, so its \
                     overrides have no effect; add the cluster to the placement or remove its overrides"
                )
            })
        })
        .collect())
}

/// Options checked once per batch.
struct Prepared {
    placement: Placement,
    overrides: Vec<ClusterOverrides>,
    scoped: Vec<ScopedOverrides>,
    warnings: Vec<String>,
    /// The spec without template of an object no scoped override names, serialized once: most objects
    /// share it, and serializing it again for each costs more than a copy.
    spec: Value,
}

impl Prepared {
    fn new(opts: &ConvertOptions) -> Result<Self, ConvertError> {
        let mut warnings = Vec::new();
        let (placement, list) = match &opts.placement {
            PlacementChoice::AllClusters => (Placement::all(), None),
            PlacementChoice::Clusters(clusters) => {
                let mut seen = Vec::with_capacity(clusters.len());
                for c in clusters {
                    if c.trim().is_empty() {
                        return Err(ConvertError::InvalidClusterList {
                            reason: "a cluster name is empty".into(),
                        });
                    }
                    if seen.contains(&c) {
                        return Err(ConvertError::InvalidClusterList {
                            reason: format!("cluster {c:?} is listed twice"),
                        });
                    }
                    seen.push(c);
                }
                if clusters.is_empty() {
                    warnings.push(
                        "spec.placement.clusters is empty, so the object is placed on no cluster; name clusters \
                         or leave the list out to place on all clusters"
                            .to_string(),
                    );
                }
                (
                    Placement::clusters(clusters.iter().cloned()),
                    Some(clusters.as_slice()),
                )
            }
            PlacementChoice::ClusterSelector(labels) => {
                for (k, v) in labels {
                    check_label(k, v).map_err(|reason| ConvertError::InvalidClusterSelector {
                        selector: format!("{k}={v}"),
                        reason,
                    })?;
                }
                let selector = LabelSelector {
                    match_labels: Some(labels.clone()),
                    match_expressions: None,
                };
                (
                    Placement {
                        clusters: None,
                        cluster_selector: Some(selector),
                    },
                    None,
                )
            }
        };
        warnings.extend(validate_overrides(&opts.overrides, list)?);
        for scoped in &opts.scoped_overrides {
            let scope = format!("{}/{}", scoped.kind, scoped.name);
            warnings.extend(
                validate_overrides(&scoped.overrides, list)?
                    .into_iter()
                    .map(|w| format!("{scope}: {w}")),
            );
        }
        let spec = spec_without_template(&placement, opts.overrides.clone())?;
        Ok(Self {
            placement,
            overrides: opts.overrides.clone(),
            scoped: opts.scoped_overrides.clone(),
            warnings,
            spec,
        })
    }
}

/// Builds the `Federated<Kind>` object: the spec is the typed [`FederatedSpec`]; the envelope stays JSON
/// because [`Federated::object`] also carries objects passed through unchanged.
fn federated_object(
    ty: &TargetType,
    name: String,
    namespace: Option<String>,
    template: Value,
    prepared: &Prepared,
    warnings: &mut Vec<String>,
) -> Result<Value, ConvertError> {
    // The typed spec without its template, which is then moved in: serializing it would copy it whole.
    let mut spec = match object_overrides(ty, &name, &template, prepared, warnings)? {
        Some(overrides) => spec_without_template(&prepared.placement, overrides)?,
        None => prepared.spec.clone(),
    };
    if let Some(spec) = spec.as_object_mut() {
        spec.insert("template".into(), template);
    }
    let mut metadata = Map::new();
    metadata.insert("name".into(), Value::String(name));
    if let Some(ns) = namespace {
        metadata.insert("namespace".into(), Value::String(ns));
    }
    Ok(json!({
        "apiVersion": format!("{FEDERATED_GROUP}/{FEDERATED_VERSION}"),
        "kind": ty.federated_kind(),
        "metadata": metadata,
        "spec": spec,
    }))
}

/// The typed spec of a federated object, without its template, as JSON.
fn spec_without_template(
    placement: &Placement,
    overrides: Vec<ClusterOverrides>,
) -> Result<Value, ConvertError> {
    let spec = FederatedSpec {
        template: Value::Null,
        placement: placement.clone(),
        overrides,
        ..FederatedSpec::default()
    };
    serde_json::to_value(spec).map_err(|e| ConvertError::Render {
        reason: e.to_string(),
    })
}

/// The overrides of one object: those for every object, plus those scoped to its kind and name (merged into
/// the entry of the same cluster); `None` when no scoped override names it (the overrides for every object
/// then apply as they are). Warns about a `replace` or `remove` whose path is not in the template: the
/// member would fail to apply it.
fn object_overrides(
    ty: &TargetType,
    name: &str,
    template: &Value,
    prepared: &Prepared,
    warnings: &mut Vec<String>,
) -> Result<Option<Vec<ClusterOverrides>>, ConvertError> {
    let mut named = prepared
        .scoped
        .iter()
        .filter(|s| s.name == name && ty.matches(&s.kind))
        .peekable();
    if named.peek().is_none() {
        warn_missing_paths(&prepared.overrides, template, warnings);
        return Ok(None);
    }
    let mut overrides = prepared.overrides.clone();
    for s in named {
        for entry in &s.overrides {
            let same = overrides.iter_mut().find(|o| {
                o.cluster_selector.is_none()
                    && entry.cluster_selector.is_none()
                    && o.cluster_name == entry.cluster_name
            });
            match same {
                Some(o) => o
                    .cluster_overrides
                    .extend(entry.cluster_overrides.iter().cloned()),
                None => overrides.push(entry.clone()),
            }
        }
    }
    // A path may now be listed twice for one cluster (once for all objects, once for this one).
    validate_cluster_overrides(&overrides)?;
    warn_missing_paths(&overrides, template, warnings);
    Ok(Some(overrides))
}

/// Warns about each `replace` or `remove` override whose path is not in the template.
fn warn_missing_paths(overrides: &[ClusterOverrides], template: &Value, warnings: &mut Vec<String>) {
    for entry in overrides {
        let cluster = entry.cluster_name.as_deref().unwrap_or("the selected clusters");
        for o in &entry.cluster_overrides {
            let replaces = matches!(o.op.as_deref(), None | Some("" | "replace" | "remove"));
            if replaces && template.pointer(&o.path).is_none() {
                warnings.push(format!(
                    "the override {} {} for {cluster} names a field the template does not have; it will fail in \
                     that cluster (use an add override to create the field)",
                    o.op.as_deref().filter(|op| !op.is_empty()).unwrap_or("replace"),
                    o.path
                ));
            }
        }
    }
}

/// The refusal of an object whose kind must not be federated blindly, unless its kind is allowed.
fn refused(obj: &Value, ty: &TargetType, opts: &ConvertOptions) -> Option<ConvertError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let reason = crate::kinds::refusal(&ty.group, &ty.kind, name)?;
    if opts.allowed_kinds.contains(&ty.kind.to_ascii_lowercase()) {
        return None;
    }
    Some(ConvertError::RefusedKind {
        kind: ty.kind.clone(),
        name: name.to_string(),
        reason,
    })
}

fn convert_one(
    obj: Value,
    ty: &TargetType,
    opts: &ConvertOptions,
    prepared: &Prepared,
) -> Result<Federated, ConvertError> {
    let mut obj = match obj {
        Value::Object(map) => map,
        other => {
            return Err(ConvertError::NotAnObject {
                found: type_name(&other),
            });
        }
    };
    if is_kubefed_api(obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default()) {
        return Ok(Federated {
            object: Value::Object(obj),
            warnings: Vec::new(),
        });
    }
    let kind = take_string(&mut obj, "kind").ok_or(ConvertError::MissingField { field: "kind" })?;
    if kind != ty.kind {
        return Err(ConvertError::KindMismatch {
            found: kind,
            expected: ty.kind.clone(),
            federated_kind: ty.federated_kind(),
        });
    }
    let api_version =
        take_string(&mut obj, "apiVersion").ok_or(ConvertError::MissingField { field: "apiVersion" })?;
    let mut metadata = match obj.remove("metadata") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let name = take_string(&mut metadata, "name").ok_or(ConvertError::MissingField {
        field: "metadata.name",
    })?;
    let object_ns = take_string(&mut metadata, "namespace");
    let mut warnings = Vec::new();
    let namespace = resolve_namespace(ty, &kind, &name, object_ns, opts, &mut warnings)?;

    // What stays is the template.
    obj.remove("status");
    if api_version != ty.api_version() {
        obj.insert("apiVersion".into(), Value::String(api_version));
    }
    let template_metadata = template_metadata(metadata, &mut warnings);
    if !template_metadata.is_empty() {
        obj.insert("metadata".into(), Value::Object(template_metadata));
    }
    if let Some(Value::Object(pod_meta)) = obj
        .get_mut("spec")
        .and_then(|s| s.get_mut("template"))
        .and_then(|t| t.get_mut("metadata"))
    {
        for field in SERVER_METADATA_FIELDS {
            pod_meta.remove(*field);
        }
    }
    strip_allocated_fields(ty, &mut obj, &mut warnings);

    let object = federated_object(ty, name, namespace, Value::Object(obj), prepared, &mut warnings)?;
    Ok(Federated { object, warnings })
}

/// A non-empty string field, removed from the map.
fn take_string(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.remove(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// kubectl's namespace rules (see [`ConvertOptions`]).
fn resolve_namespace(
    ty: &TargetType,
    kind: &str,
    name: &str,
    object_ns: Option<String>,
    opts: &ConvertOptions,
    warnings: &mut Vec<String>,
) -> Result<Option<String>, ConvertError> {
    let flag = opts.namespace.as_deref();
    if ty.scope == Scope::Cluster {
        // kubectl ignores the namespace of a cluster-scoped object (the API server would too); say so,
        // since the author probably expected it to mean something.
        if let Some(namespace) = object_ns {
            warnings.push(format!(
                "{kind} {name:?} is cluster-scoped: its metadata.namespace {namespace:?} was dropped"
            ));
        }
        // A FederatedNamespace lives in the namespace it federates; other cluster-scoped federated
        // objects have none (`--namespace` does not apply to them, as in kubectl).
        return Ok(ty.is_namespace().then(|| name.to_string()));
    }
    match (object_ns, flag.filter(|f| !f.is_empty())) {
        (Some(object), Some(flag)) if object != flag => Err(ConvertError::NamespaceMismatch {
            object,
            flag: flag.to_string(),
        }),
        (Some(object), _) => Ok(Some(object)),
        (None, Some(flag)) => Ok(Some(flag.to_string())),
        (None, None) => match opts.default_namespace.as_deref().filter(|ns| !ns.is_empty()) {
            Some(ns) => Ok(Some(ns.to_string())),
            None => Err(ConvertError::MissingNamespace {
                kind: kind.to_string(),
                name: name.to_string(),
            }),
        },
    }
}

/// The template's metadata: labels, and annotations except [`STRIPPED_ANNOTATIONS`] and Helm's
/// ([`HELM_ANNOTATION_PREFIXES`]); empty maps dropped. A Helm hook is federated as a plain object: warn.
fn template_metadata(mut metadata: Map<String, Value>, warnings: &mut Vec<String>) -> Map<String, Value> {
    let mut out = Map::new();
    match metadata.remove("labels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) if m.is_empty() => {}
        Some(labels) => {
            out.insert("labels".into(), labels);
        }
    }
    match metadata.remove("annotations") {
        None | Some(Value::Null) => {}
        Some(Value::Object(mut m)) => {
            for a in STRIPPED_ANNOTATIONS {
                m.remove(*a);
            }
            if let Some(hook) = m.get("helm.sh/hook").and_then(Value::as_str) {
                warnings.push(format!(
                    "the object is a Helm hook ({hook}); it is federated as a plain object that lives as long as                      its federated object, without the hook annotations (render with `helm template --no-hooks`                      to leave hooks out)"
                ));
            }
            m.retain(|k, _| !HELM_ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p)));
            if !m.is_empty() {
                out.insert("annotations".into(), Value::Object(m));
            }
        }
        Some(other) => {
            out.insert("annotations".into(), other);
        }
    }
    out
}

/// Drops the fields a member cluster allocates for itself (see the module docs).
fn strip_allocated_fields(ty: &TargetType, template: &mut Map<String, Value>, warnings: &mut Vec<String>) {
    let spec = match template.get_mut("spec") {
        Some(Value::Object(spec)) => Some(spec),
        _ => None,
    };
    match (ty.group.as_str(), ty.kind.as_str()) {
        ("", "Namespace") => {
            if let Some(spec) = spec {
                spec.remove("finalizers");
            }
        }
        ("", "ServiceAccount") => {
            template.remove("secrets");
        }
        ("", "Service") => {
            let Some(spec) = spec else { return };
            if spec.get("clusterIP").and_then(Value::as_str) != Some("None") {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
            }
            spec.remove("healthCheckNodePort");
            if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                for (i, port) in ports.iter_mut().enumerate() {
                    let Value::Object(port) = port else { continue };
                    if let Some(node_port) = port.remove("nodePort") {
                        warnings.push(format!(
                            "spec.ports[{i}].nodePort {node_port} was removed: each member cluster allocates \
                             its own; to pin it, add the override {{op: add, path: /spec/ports/{i}/nodePort, \
                             value: {node_port}}} for each cluster"
                        ));
                    }
                }
            }
        }
        ("batch", "Job") => {
            let Some(spec) = spec else { return };
            if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
                return;
            }
            // Generated from the Job's uid: another cluster's API server rejects them.
            spec.remove("selector");
            let pod_labels = spec
                .get_mut("template")
                .and_then(|t| t.get_mut("metadata"))
                .and_then(|m| m.get_mut("labels"));
            strip_controller_uid(pod_labels);
            // The API server copies the pod template's labels onto a Job that has none.
            let job_labels = template.get_mut("metadata").and_then(|m| m.get_mut("labels"));
            strip_controller_uid(job_labels);
        }
        _ => {}
    }
}

/// Removes a Job's generated `controller-uid` labels from a label map.
fn strip_controller_uid(labels: Option<&mut Value>) {
    if let Some(Value::Object(labels)) = labels {
        labels.remove("controller-uid");
        labels.remove("batch.kubernetes.io/controller-uid");
    }
}

/// Whether `apiVersion` belongs to one of kubefed's own API groups (objects passed through unchanged).
pub fn is_kubefed_api(api_version: &str) -> bool {
    let group = split_api_version(api_version).0;
    group == "kubefed.io" || group.ends_with(".kubefed.io")
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Override;
    use crate::typeinfo::find_default_type;

    fn ty(name: &str) -> TargetType {
        find_default_type(name).expect("a default type")
    }

    fn opts_ns(ns: &str) -> ConvertOptions {
        ConvertOptions {
            namespace: Some(ns.into()),
            ..ConvertOptions::default()
        }
    }

    fn op(op: &str, path: &str) -> Override {
        let op = (!op.is_empty()).then(|| op.to_string());
        Override {
            op,
            path: path.into(),
            value: Some(json!(1)),
        }
    }

    fn cluster(name: &str, ops: Vec<Override>) -> ClusterOverrides {
        ClusterOverrides {
            cluster_name: Some(name.into()),
            cluster_selector: None,
            cluster_overrides: ops,
        }
    }

    fn manifest(line: usize, object: Value) -> ManifestObject {
        ManifestObject {
            source: Source {
                file: "app.yaml".into(),
                document: line,
                line,
                item: None,
            },
            object,
        }
    }

    #[test]
    fn namespace_handling() {
        struct Case {
            name: &'static str,
            object: Value,
            ty: &'static str,
            flag: Option<&'static str>,
            want: Result<(Value, Option<&'static str>), &'static str>,
        }
        let deploy = |ns: Option<&str>| {
            let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
            if let Some(ns) = ns {
                d["metadata"]["namespace"] = json!(ns);
            }
            d
        };
        let cases = [
            Case {
                name: "object namespace kept",
                object: deploy(Some("prod")),
                ty: "deploy",
                flag: None,
                want: Ok((json!({"name": "web", "namespace": "prod"}), None)),
            },
            Case {
                name: "flag fills a missing namespace",
                object: deploy(None),
                ty: "deploy",
                flag: Some("dev"),
                want: Ok((json!({"name": "web", "namespace": "dev"}), None)),
            },
            Case {
                name: "same namespace in both",
                object: deploy(Some("dev")),
                ty: "deploy",
                flag: Some("dev"),
                want: Ok((json!({"name": "web", "namespace": "dev"}), None)),
            },
            Case {
                name: "mismatch is kubectl's error",
                object: deploy(Some("prod")),
                ty: "deploy",
                flag: Some("dev"),
                want: Err(
                    "the namespace from the provided object \"prod\" does not match the namespace \"dev\". \
                           You must pass '--namespace=prod' to perform this operation.",
                ),
            },
            Case {
                name: "no namespace anywhere",
                object: deploy(None),
                ty: "deploy",
                flag: None,
                want: Err(
                    "Deployment \"web\" has no namespace; set metadata.namespace in the manifest or pass \
                           --namespace",
                ),
            },
            Case {
                name: "cluster-scoped with a namespace",
                object: json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": "reader", "namespace": "x"}}),
                ty: "clusterroles.rbac.authorization.k8s.io",
                flag: None,
                want: Ok((json!({"name": "reader"}), None)),
            },
            Case {
                name: "cluster-scoped ignores the flag",
                object: json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": "reader"}}),
                ty: "clusterroles.rbac.authorization.k8s.io",
                flag: Some("dev"),
                want: Ok((json!({"name": "reader"}), None)),
            },
            Case {
                name: "a namespace federates into itself",
                object: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}),
                ty: "ns",
                flag: Some("other"),
                want: Ok((json!({"name": "team-a", "namespace": "team-a"}), None)),
            },
        ];
        for case in cases {
            let opts = ConvertOptions {
                namespace: case.flag.map(Into::into),
                ..ConvertOptions::default()
            };
            let got = federate(case.object, &ty(case.ty), &opts)
                .map(|f| (f.object["metadata"].clone(), None))
                .map_err(|e| e.to_string());
            assert_eq!(got, case.want.map_err(String::from), "case {:?}", case.name);
        }
    }

    #[test]
    fn kubectl_namespace_rules() {
        let role = |ns: Option<&str>| {
            let mut meta = json!({"name": "r"});
            if let Some(ns) = ns {
                meta["namespace"] = json!(ns);
            }
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta})
        };
        let role_ty = crate::kinds::builtin_types()
            .into_iter()
            .find(|t| t.kind == "Role")
            .expect("built in");
        let opts = |flag: Option<&str>, default: Option<&str>| ConvertOptions {
            namespace: flag.map(Into::into),
            default_namespace: default.map(Into::into),
            ..ConvertOptions::default()
        };
        let ns_of = |obj, o: &ConvertOptions| {
            federate(obj, &role_ty, o).map(|f| f.object["metadata"]["namespace"].as_str().map(String::from))
        };
        assert_eq!(
            ns_of(role(None), &opts(Some("web"), Some("ctx"))),
            Ok(Some("web".into()))
        );
        assert_eq!(
            ns_of(role(Some("own")), &opts(None, Some("ctx"))),
            Ok(Some("own".into()))
        );
        assert_eq!(
            ns_of(role(None), &opts(None, Some("ctx"))),
            Ok(Some("ctx".into()))
        );
        assert!(matches!(
            ns_of(role(Some("own")), &opts(Some("web"), Some("ctx"))),
            Err(ConvertError::NamespaceMismatch { .. })
        ));
        assert!(matches!(
            ns_of(role(None), &opts(None, None)),
            Err(ConvertError::MissingNamespace { .. })
        ));
        let crb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "b", "namespace": "stray"}});
        let crb_ty = crate::kinds::builtin_types()
            .into_iter()
            .find(|t| t.kind == "ClusterRoleBinding")
            .expect("built in");
        let fed = federate(crb, &crb_ty, &opts(Some("web"), Some("ctx"))).expect("converts");
        assert_eq!(fed.object["metadata"], json!({"name": "b"}));
        assert_eq!(fed.warnings.len(), 1, "{:?}", fed.warnings);
    }

    #[test]
    fn refused_kinds_need_allow_kind() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.com"}});
        let crd_ty = crate::kinds::builtin_types()
            .into_iter()
            .find(|t| t.kind == "CustomResourceDefinition")
            .expect("built in");
        let err = federate(crd.clone(), &crd_ty, &ConvertOptions::default()).expect_err("refused");
        assert!(
            err.to_string().starts_with(
                "CustomResourceDefinition \"widgets.example.com\" is not federated by default: a CRD changes"
            ) && err
                .to_string()
                .ends_with("Pass --allow-kind CustomResourceDefinition to federate it anyway"),
            "{err}"
        );
        let allowed = ConvertOptions {
            allowed_kinds: ["customresourcedefinition".to_string()].into(),
            ..ConvertOptions::default()
        };
        let fed = federate(crd, &crd_ty, &allowed).expect("allowed");
        assert_eq!(fed.object["kind"], "FederatedCustomResourceDefinition");
    }

    #[test]
    fn helm_annotations_are_dropped_and_hooks_flagged() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n",
            "annotations": {"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "1",
                "meta.helm.sh/release-name": "r", "team": "a"}}});
        let fed = federate(cm, &ty("cm"), &ConvertOptions::default()).expect("converts");
        assert_eq!(
            fed.object["spec"]["template"]["metadata"],
            json!({"annotations": {"team": "a"}})
        );
        assert_eq!(fed.warnings.len(), 1);
        assert!(
            fed.warnings[0].contains("Helm hook (pre-install)"),
            "{:?}",
            fed.warnings
        );
    }

    #[test]
    fn template_keeps_labels_and_annotations_only() {
        let d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "uid": "u", "resourceVersion": "5", "generation": 2,
                "creationTimestamp": "2024-01-01T00:00:00Z", "managedFields": [{}], "selfLink": "/x",
                "ownerReferences": [{}], "finalizers": ["f"], "labels": {"app": "web"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                    "deployment.kubernetes.io/revision": "3", "team": "a"}},
            "spec": {"replicas": 2, "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {"containers": []}}},
            "status": {"replicas": 2}
        });
        let fed = federate(d, &ty("deploy"), &ConvertOptions::default()).expect("converts");
        assert_eq!(
            fed.object["spec"]["template"],
            json!({"metadata": {"labels": {"app": "web"}, "annotations": {"team": "a"}},
                "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": []}}}})
        );
        assert!(fed.warnings.is_empty());
    }

    #[test]
    fn annotations_dropped_when_only_last_applied() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}});
        let fed = federate(cm, &ty("cm"), &ConvertOptions::default()).expect("converts");
        assert_eq!(fed.object["spec"]["template"], json!({}));
    }

    #[test]
    fn other_versions_keep_their_api_version() {
        let resolve = default_resolver();
        let t = resolve("apps/v1beta2", "Deployment").expect("same group and kind");
        let d = json!({"apiVersion": "apps/v1beta2", "kind": "Deployment", "metadata": {"name": "w"}});
        let fed = federate(d, &t, &opts_ns("a")).expect("converts");
        assert_eq!(
            fed.object["spec"]["template"],
            json!({"apiVersion": "apps/v1beta2"})
        );
        assert!(resolve("extensions/v1beta1", "Ingress").is_none());
    }

    #[test]
    fn service_allocations_are_dropped_but_headless_stays() {
        let svc = |cluster_ip: &str| {
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"},
                "spec": {"clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "healthCheckNodePort": 31000,
                    "ports": [{"port": 80, "nodePort": 30080}, {"port": 81}]}})
        };
        let fed = federate(svc("10.0.0.7"), &ty("svc"), &ConvertOptions::default()).expect("converts");
        assert_eq!(
            fed.object["spec"]["template"]["spec"],
            json!({"ports": [{"port": 80}, {"port": 81}]})
        );
        assert_eq!(
            fed.warnings,
            vec![
                "spec.ports[0].nodePort 30080 was removed: each member cluster allocates its own; to pin it, add \
                 the override {op: add, path: /spec/ports/0/nodePort, value: 30080} for each cluster"
            ]
        );
        let fed = federate(svc("None"), &ty("svc"), &ConvertOptions::default()).expect("converts");
        assert_eq!(fed.object["spec"]["template"]["spec"]["clusterIP"], "None");
        assert_eq!(
            fed.object["spec"]["template"]["spec"]["clusterIPs"],
            json!(["None"])
        );
    }

    #[test]
    fn job_selector_generated_or_manual() {
        let job = |manual: bool| {
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "n"},
                "spec": {"manualSelector": manual, "selector": {"matchLabels": {"controller-uid": "u"}},
                    "template": {"metadata": {"labels": {"controller-uid": "u",
                        "batch.kubernetes.io/controller-uid": "u", "job-name": "j"}}}}})
        };
        let fed = federate(job(false), &ty("jobs"), &ConvertOptions::default()).expect("converts");
        assert_eq!(
            fed.object["spec"]["template"]["spec"],
            json!({"manualSelector": false, "template": {"metadata": {"labels": {"job-name": "j"}}}})
        );
        let fed = federate(job(true), &ty("jobs"), &ConvertOptions::default()).expect("converts");
        assert_eq!(fed.object["spec"]["template"]["spec"], job(true)["spec"]);
    }

    #[test]
    fn federated_objects_pass_through_unchanged() {
        for api_version in ["types.kubefed.io/v1beta1", "scheduling.kubefed.io/v1alpha1"] {
            let obj = json!({"apiVersion": api_version, "kind": "FederatedThing", "metadata": {"name": "x"},
                "spec": {"placement": {"clusters": []}}});
            let fed = federate(obj.clone(), &ty("cm"), &opts_ns("elsewhere")).expect("passes");
            assert_eq!(fed.object, obj);
        }
    }

    #[test]
    fn kind_must_match_the_type() {
        let cm = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c", "namespace": "n"}});
        let err = federate(cm, &ty("cm"), &ConvertOptions::default()).expect_err("wrong type");
        assert_eq!(
            err.to_string(),
            "the object is a Secret, but FederatedConfigMap wraps ConfigMap"
        );
    }

    #[test]
    fn placement_choices() {
        let cm =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}});
        let cases = [
            (
                "all",
                PlacementChoice::AllClusters,
                json!({"clusterSelector": {}}),
            ),
            (
                "list",
                PlacementChoice::Clusters(vec!["eu-1".into(), "us-1".into()]),
                json!({"clusters": [{"name": "eu-1"}, {"name": "us-1"}]}),
            ),
            (
                "selector",
                PlacementChoice::ClusterSelector(parse_cluster_selector("region=eu").expect("valid")),
                json!({"clusterSelector": {"matchLabels": {"region": "eu"}}}),
            ),
        ];
        for (name, placement, want) in cases {
            let opts = ConvertOptions {
                placement,
                ..ConvertOptions::default()
            };
            let fed = federate(cm.clone(), &ty("cm"), &opts).expect("converts");
            assert_eq!(fed.object["spec"]["placement"], want, "case {name}");
        }
        let opts = ConvertOptions {
            placement: PlacementChoice::Clusters(vec![]),
            ..ConvertOptions::default()
        };
        let fed = federate(cm, &ty("cm"), &opts).expect("converts");
        assert_eq!(fed.object["spec"]["placement"], json!({"clusters": []}));
        assert_eq!(fed.warnings.len(), 1);
    }

    #[test]
    fn cluster_selector_parsing() {
        type Want = Result<Vec<(&'static str, &'static str)>, &'static str>;
        let cases: [(&str, Want); 7] = [
            ("region=eu", Ok(vec![("region", "eu")])),
            (" a=1 , b==2,c= ", Ok(vec![("a", "1"), ("b", "2"), ("c", "")])),
            (
                "topology.kubernetes.io/region=eu",
                Ok(vec![("topology.kubernetes.io/region", "eu")]),
            ),
            (
                "",
                Err(
                    "invalid cluster selector \"\": it is empty; give label pairs like region=eu,tier=prod, or \
                      leave the selector out to place on all clusters",
                ),
            ),
            (
                "region",
                Err("invalid cluster selector \"region\": \"region\" is not a key=value pair"),
            ),
            (
                "region!=eu",
                Err(
                    "invalid cluster selector \"region!=eu\": \"region!=eu\": only key=value pairs \
                                are supported (no !=, in or notin)",
                ),
            ),
            (
                "a=1,a=2",
                Err("invalid cluster selector \"a=1,a=2\": label \"a\" is given twice, as \"1\" and \"2\""),
            ),
        ];
        for (input, want) in cases {
            let got = parse_cluster_selector(input).map_err(|e| e.to_string());
            let want = want
                .map(|pairs| {
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .map_err(String::from);
            assert_eq!(got, want, "input {input:?}");
        }
        let bad = parse_cluster_selector("-x=1").expect_err("bad key");
        assert!(bad.to_string().contains("label key \"-x\" must be 1-63"), "{bad}");
    }

    #[test]
    fn override_validation() {
        struct Case {
            name: &'static str,
            overrides: Vec<ClusterOverrides>,
            want: Result<usize, &'static str>,
        }
        let cases = [
            Case {
                name: "valid, escapes and every op",
                overrides: vec![
                    cluster(
                        "eu-1",
                        vec![op("", "/spec/replicas"), op("add", "/metadata/labels/a~1b~0c")],
                    ),
                    cluster(
                        "us-1",
                        vec![op("remove", "/spec/template/spec/containers/0/env/-")],
                    ),
                ],
                want: Ok(0),
            },
            Case {
                name: "labels may be overridden",
                overrides: vec![cluster("eu-1", vec![op("replace", "/metadata/labels")])],
                want: Ok(0),
            },
            Case {
                name: "empty cluster name",
                overrides: vec![cluster("", vec![])],
                want: Err(
                    "spec.overrides[0] names no cluster; set clusterName, or clusterSelector ({} for every cluster)",
                ),
            },
            Case {
                name: "name and selector",
                overrides: vec![ClusterOverrides {
                    cluster_selector: Some(LabelSelector::default()),
                    ..cluster("eu-1", vec![])
                }],
                want: Err("spec.overrides[0] sets both clusterName and clusterSelector; use one per entry"),
            },
            Case {
                name: "selector entries are not checked against the cluster list",
                overrides: vec![ClusterOverrides {
                    cluster_name: None,
                    cluster_selector: Some(LabelSelector::default()),
                    cluster_overrides: vec![op("", "/spec/replicas")],
                }],
                want: Ok(0),
            },
            Case {
                name: "cluster twice",
                overrides: vec![
                    cluster("eu-1", vec![]),
                    cluster("us-1", vec![]),
                    cluster("eu-1", vec![]),
                ],
                want: Err(
                    "spec.overrides[2].clusterName: cluster \"eu-1\" is listed twice (first at \
                           spec.overrides[0]); put all its overrides in one entry",
                ),
            },
            Case {
                name: "bad op",
                overrides: vec![cluster("eu-1", vec![op("move", "/spec")])],
                want: Err(
                    "spec.overrides[0].clusterOverrides[0].op: unknown override op \"move\"; expected one of: add, remove, replace (or empty for replace)",
                ),
            },
            Case {
                name: "not a pointer",
                overrides: vec![cluster("eu-1", vec![op("", "spec.replicas")])],
                want: Err(
                    "spec.overrides[0].clusterOverrides[0].path \"spec.replicas\" is not a JSON Pointer: \
                           it must start with /; write it like /spec/replicas, with ~0 for ~ and ~1 for / \
                           inside a key",
                ),
            },
            Case {
                name: "bad escape",
                overrides: vec![cluster("eu-1", vec![op("", "/a~2")])],
                want: Err(
                    "spec.overrides[0].clusterOverrides[0].path \"/a~2\" is not a JSON Pointer: ~ must be \
                           followed by 0 or 1; write it like /spec/replicas, with ~0 for ~ and ~1 for / inside \
                           a key",
                ),
            },
            Case {
                name: "empty path",
                overrides: vec![cluster("eu-1", vec![op("", "")])],
                want: Err(
                    "spec.overrides[0].clusterOverrides[0].path \"\" is not a JSON Pointer: it is empty; \
                           write it like /spec/replicas, with ~0 for ~ and ~1 for / inside a key",
                ),
            },
            Case {
                name: "metadata.name",
                overrides: vec![cluster(
                    "eu-1",
                    vec![op("", "/spec"), op("replace", "/metadata/name")],
                )],
                want: Err(
                    "spec.overrides[0].clusterOverrides[1].path \"/metadata/name\" cannot be overridden: the \
                           name, namespace and kind of an object are the same in every cluster",
                ),
            },
            Case {
                name: "metadata.namespace",
                overrides: vec![cluster("eu-1", vec![op("", "/metadata/namespace")])],
                want: Err(
                    "spec.overrides[0].clusterOverrides[0].path \"/metadata/namespace\" cannot be \
                           overridden: the name, namespace and kind of an object are the same in every cluster",
                ),
            },
            Case {
                name: "metadata.generateName",
                overrides: vec![cluster("eu-1", vec![op("add", "/metadata/generateName")])],
                want: Err(
                    "spec.overrides[0].clusterOverrides[0].path \"/metadata/generateName\" cannot be \
                           overridden: the name, namespace and kind of an object are the same in every cluster",
                ),
            },
            Case {
                name: "kind",
                overrides: vec![cluster("eu-1", vec![op("remove", "/kind")])],
                want: Err(
                    "spec.overrides[0].clusterOverrides[0].path \"/kind\" cannot be overridden: the name, \
                           namespace and kind of an object are the same in every cluster",
                ),
            },
            Case {
                name: "whole metadata",
                overrides: vec![cluster("eu-1", vec![op("replace", "/metadata")])],
                want: Err(
                    "spec.overrides[0].clusterOverrides[0].path \"/metadata\" cannot be overridden: the \
                           name, namespace and kind of an object are the same in every cluster",
                ),
            },
            Case {
                name: "path twice",
                overrides: vec![cluster(
                    "eu-1",
                    vec![op("", "/spec/replicas"), op("add", "/spec/replicas")],
                )],
                want: Err(
                    "spec.overrides[0].clusterOverrides[1].path \"/spec/replicas\" is listed twice in this \
                           entry (first at clusterOverrides[0]); keep one",
                ),
            },
        ];
        for case in cases {
            let got = validate_overrides(&case.overrides, None)
                .map(|w| w.len())
                .map_err(|e| e.to_string());
            assert_eq!(got, case.want.map_err(String::from), "case {:?}", case.name);
        }
    }

    #[test]
    fn override_outside_the_cluster_list_warns() {
        let overrides = vec![
            cluster("eu-1", vec![op("", "/spec/replicas")]),
            cluster("ap-1", vec![]),
        ];
        let warnings = validate_overrides(&overrides, Some(&["eu-1".to_string()])).expect("valid");
        assert_eq!(
            warnings,
            vec![
                "spec.overrides[1]: cluster \"ap-1\" is not in spec.placement.clusters, so its overrides have no \
                 effect; add the cluster to the placement or remove its overrides"
            ]
        );
        let cm =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}});
        let opts = ConvertOptions {
            placement: PlacementChoice::Clusters(vec!["eu-1".into()]),
            overrides,
            ..ConvertOptions::default()
        };
        let fed = federate(cm, &ty("cm"), &opts).expect("converts");
        // The options' warning, then: a ConfigMap has no /spec/replicas to replace.
        assert_eq!(fed.warnings.len(), 2, "{:?}", fed.warnings);
        assert!(
            fed.warnings[1].starts_with(
                "the override replace /spec/replicas for eu-1 names a field the template does not have"
            ),
            "{}",
            fed.warnings[1]
        );
        assert_eq!(
            fed.object["spec"]["overrides"],
            json!([{"clusterName": "eu-1", "clusterOverrides": [{"path": "/spec/replicas", "value": 1}]},
                   {"clusterName": "ap-1"}])
        );
    }

    #[test]
    fn plural_guesses() {
        for (kind, want) in [
            ("Widget", "widgets"),
            ("NetworkPolicy", "networkpolicies"),
            ("Gateway", "gateways"),
            ("Ingress", "ingresses"),
            ("Box", "boxes"),
            ("Match", "matches"),
            ("Mesh", "meshes"),
        ] {
            assert_eq!(guess_plural(kind), want, "kind {kind}");
        }
    }

    #[test]
    fn batch_guesses_unknown_kinds_and_rejects_duplicates() {
        let resolver = default_resolver();
        let objects = vec![
            manifest(
                1,
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}),
            ),
            manifest(
                2,
                json!({"apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": {"name": "w", "namespace": "prod"}}),
            ),
            manifest(
                3,
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "prod"}}),
            ),
            manifest(
                4,
                json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
                "metadata": {"name": "web", "namespace": "prod"}}),
            ),
            manifest(
                5,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "namespace": "y"}}),
            ),
        ];
        let batch = federate_all(objects, &resolver, &opts_ns("prod")).expect("valid options");
        let errors: Vec<_> = batch.items.iter().filter_map(BatchItem::error_message).collect();
        assert_eq!(
            errors,
            vec![
                "app.yaml:3 (document 3): Deployment \"web\" in namespace \"prod\" is defined twice: first at \
                 app.yaml:1 (document 1); remove one of them or give it another name",
                "app.yaml:4 (document 4): FederatedDeployment \"web\" in namespace \"prod\" is defined twice: \
                 first at app.yaml:1 (document 1); remove one of them or give it another name",
            ]
        );
        let ns = batch.items[4]
            .result
            .as_ref()
            .expect("a stray namespace is dropped");
        assert_eq!(ns.object["metadata"], json!({"name": "x", "namespace": "x"}));
        assert_eq!(
            ns.warnings,
            ["Namespace \"x\" is cluster-scoped: its metadata.namespace \"y\" was dropped"]
        );
        let widget = &batch.items[1];
        let fed = widget.result.as_ref().expect("converted");
        assert_eq!(fed.object["kind"], "FederatedWidget");
        assert_eq!(widget.target.as_ref().map(|t| t.plural.as_str()), Some("widgets"));
        assert_eq!(
            fed.warnings,
            vec![
                "Widget (example.com/v1) is not a type kubefed knows offline; guessed resource \"widgets\", \
                 namespaced because the object has a namespace. Run with access to the host cluster, or enable \
                 the type first with `kubectl fed enable widgets.example.com`, so its real names and scope are \
                 used"
            ]
        );
    }

    #[test]
    fn invalid_options_fail_the_batch_once() {
        let opts = ConvertOptions {
            overrides: vec![cluster("eu-1", vec![op("", "/kind")])],
            ..ConvertOptions::default()
        };
        let err = federate_all(Vec::new(), &default_resolver(), &opts).expect_err("invalid");
        assert!(matches!(
            err,
            ConvertError::InvalidOverride(OverridesError::ForbiddenPath { .. })
        ));
        let opts = ConvertOptions {
            placement: PlacementChoice::Clusters(vec!["a".into(), "a".into()]),
            ..ConvertOptions::default()
        };
        let err = federate_all(Vec::new(), &default_resolver(), &opts).expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "invalid cluster list: cluster \"a\" is listed twice"
        );
    }
}
