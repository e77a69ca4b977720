//! `kubectl fed apply`: convert, check against the host, then server-side apply each federated object.
//!
//! What is all-or-nothing and what is per object:
//! - The input and the flags are checked first. Invalid YAML, an object that cannot be converted (no
//!   namespace, a cluster-scoped object with one, a duplicate, a bad override) stops the run before anything
//!   is sent: a file with mistakes is fixed and applied again, never half-applied.
//! - What depends on the host is judged per object: a type that is not enabled, a namespace that is not
//!   federated, a rejection by the API server or an admission webhook, a field-manager conflict. The other
//!   objects are still applied; the failures are listed at the end and the exit code is 1.
//!
//! Order: missing namespaces are created first, then FederatedNamespaces, then everything else in input
//! order (up to [`CONCURRENCY`] requests at a time, reported in input order). Each report is kubectl's:
//! `created` when the object did not exist, `unchanged` when the apply left its resourceVersion as it was
//! (the API server does not write a no-op apply), `configured` otherwise.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams, ValidationDirective};
use kube::core::ApiResource;
use kubefed_core::api::constants::KUBECTL_FED_FIELD_MANAGER;
use kubefed_core::convert::{Batch, BatchItem, ConvertOptions, Federator, federate};
use kubefed_core::federated_api_resource;
use kubefed_core::manifest::Source;
use kubefed_core::typeinfo::{FEDERATED_GROUP, Scope, TargetType, find_default_type};
use serde_json::{Value, json};

use crate::cli::{ApplyArgs, DryRun, GlobalArgs};
use crate::client::{Connection, Host, is_not_found, message, status_code};
use crate::discovery::Discovery;
use crate::enabled::{EnabledTypes, TypeState};
use crate::output::{self, Reporter, object_ref};
use crate::types::{Admission, TypeTable, resolver};

/// Applies in flight at once.
pub const CONCURRENCY: usize = 8;

/// One object to apply.
#[derive(Clone)]
struct Planned {
    /// Position in the input, to list failures in input order.
    order: usize,
    /// Where it came from; `None` for a FederatedNamespace made by `--create-namespace`.
    source: Option<Source>,
    reference: String,
    resource: ApiResource,
    namespace: Option<String>,
    name: String,
    object: Value,
}

/// One object that will not be applied, and why.
struct Failure {
    order: usize,
    reference: String,
    source: Option<Source>,
    reason: String,
}

impl Failure {
    fn of(p: &Planned, reason: String) -> Self {
        Self {
            order: p.order,
            reference: p.reference.clone(),
            source: p.source.clone(),
            reason,
        }
    }

    fn line(&self) -> String {
        match &self.source {
            Some(s) => format!("{} ({s}): {}", self.reference, self.reason),
            None => format!("{}: {}", self.reference, self.reason),
        }
    }
}

/// What an apply did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl Outcome {
    fn verb(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        }
    }
}

fn dry_run_suffix(mode: DryRun) -> &'static str {
    match mode {
        DryRun::None => "",
        DryRun::Client => " (dry run)",
        DryRun::Server => " (server dry run)",
    }
}

/// Runs `kubectl fed apply`.
pub async fn run(global: &GlobalArgs, args: &ApplyArgs) -> anyhow::Result<()> {
    let objects = super::read_input(&args.input)?;
    let connection = Connection::from_args(global);
    // kubectl's rules: -n, else the object's own, else the context's namespace, else `default`.
    let default_namespace = args
        .namespace
        .clone()
        .or_else(|| connection.context_namespace())
        .unwrap_or_else(|| "default".into());
    let opts = args.placement.convert_options(
        args.namespace.clone(),
        Some(default_namespace.clone()),
        &args.allow,
    )?;
    let host = connection
        .connect(None)
        .await
        .context("while connecting to the host cluster")?;
    let mut discovery = Discovery::new(host.clone());
    let enabled = EnabledTypes::load(&mut discovery, &global.kubefed_namespace).await?;

    // Convert with the host's enabled types; kinds they miss are looked up by discovery so they get their
    // real scope (they will fail as "not enabled", with the command to run).
    // Objects of known kinds are converted as they come (and the parsed input dropped); the others once
    // discovery has answered for their kinds.
    let mut table = TypeTable::default();
    enabled.targets().for_each(|t| table.insert(t));
    let table = RefCell::new(table);
    let resolve = resolver(&table);
    let mut federator = Federator::new(&resolve, &opts)
        .map_err(anyhow::Error::new)
        .context(crate::types::OPTIONS_CONTEXT)?;
    let mut admission = Admission::default();
    let mut items: Vec<Option<BatchItem>> = Vec::with_capacity(objects.len());
    for obj in objects {
        items.push(admission.admit(&table, obj).map(|obj| federator.federate(obj)));
    }
    let mut unserved = BTreeSet::new();
    for (api_version, kind) in admission.missed(&table) {
        match discovery.resolve_kind(&api_version, &kind).await? {
            Some(resource) => table.borrow_mut().insert(resource.target(false)),
            None => {
                unserved.insert((api_version, kind));
            }
        }
    }
    let mut deferred = admission.deferred().into_iter();
    let items: Vec<BatchItem> = items
        .into_iter()
        .filter_map(|item| item.or_else(|| deferred.next().map(|obj| federator.federate(obj))))
        .collect();
    let mut warnings = federator.warnings().to_vec();
    warnings.extend(federator.unmatched_scoped_overrides());
    let batch = Batch { items, warnings };

    let total = batch.items.len();
    let mut invalid = 0;
    for item in &batch.items {
        if let Some(msg) = item.error_message() {
            invalid += 1;
            output::error(&msg);
        }
    }
    if invalid > 0 {
        anyhow::bail!("{invalid} of {total} objects are invalid; nothing was applied");
    }
    for w in &batch.warnings {
        output::warn(w);
    }

    // Decide, per object, where it goes or why it cannot be applied.
    let mut failures = Vec::new();
    let mut planned = Vec::new();
    let mut disabled_warned = BTreeSet::new();
    for (order, item) in batch.items.into_iter().enumerate() {
        let Ok(fed) = item.result else { continue };
        let source = Some(item.source.clone());
        let name = fed
            .object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let kind = fed
            .object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let api_version = fed
            .object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let group = crate::types::group_of(&api_version).to_string();
        let reference = object_ref(&kind, &group, &name);
        let fail = |reason: String| Failure {
            order,
            reference: reference.clone(),
            source: source.clone(),
            reason,
        };
        let (resource, namespaced) = match &item.target {
            Some(target) => {
                if unserved.contains(&(target.api_version(), target.kind.clone())) {
                    failures.push(fail(format!(
                        "the host does not serve {} in {}; install its CRD first, then run `kubectl fed enable {}`",
                        target.kind,
                        target.api_version(),
                        target.type_config_name()
                    )));
                    continue;
                }
                match enabled.state(target) {
                    TypeState::NotEnabled(why) => {
                        failures.push(fail(why));
                        continue;
                    }
                    TypeState::PropagationDisabled => {
                        if disabled_warned.insert(target.type_config_name()) {
                            output::warn(&format!(
                                "propagation of {} is disabled on the host (FederatedTypeConfig {}): its federated \
                                 objects are stored but not propagated; run `kubectl fed enable {}` to resume",
                                target.kind,
                                target.type_config_name(),
                                target.type_config_name()
                            ));
                        }
                    }
                    TypeState::Enabled => {}
                }
                (
                    federated_api_resource(target),
                    target.federated_scope() == Scope::Namespaced,
                )
            }
            // Already federated (or another kubefed object): applied as given.
            None => match discovery.resolve_kind(&api_version, &kind).await? {
                Some(r) => (
                    ApiResource {
                        group: r.group.clone(),
                        version: r.version.clone(),
                        api_version: r.api_version(),
                        kind: r.kind.clone(),
                        plural: r.plural.clone(),
                    },
                    r.namespaced,
                ),
                None => {
                    failures.push(fail(format!(
                        "the host does not serve {kind} in {api_version}; is kubefed installed, and the type enabled?"
                    )));
                    continue;
                }
            },
        };
        for w in &fed.warnings {
            output::warn(&format!("{}: {w}", item.source));
        }
        let mut object = fed.object;
        if item.target.is_none() {
            strip_server_fields(&mut object);
        }
        let namespace = if namespaced {
            // kubectl's last resort, `default_namespace`, always gives one.
            let ns = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map_or_else(|| default_namespace.clone(), str::to_string);
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("namespace".into(), Value::String(ns.clone()));
            }
            Some(ns)
        } else {
            None
        };
        planned.push(Planned {
            order,
            source,
            reference,
            resource,
            namespace,
            name,
            object,
        });
    }

    let namespaces = NamespacePlan::make(&host, &enabled, &opts, args, &mut planned, &mut failures).await?;
    let applied = execute(&host, args, namespaces, planned, &mut failures).await;

    let failed = failures.len();
    if failed == 0 {
        return Ok(());
    }
    failures.sort_by_key(|f| f.order);
    let mut text = format!(
        "{failed} of {} objects failed ({applied} {}):",
        failed + applied,
        if args.dry_run == DryRun::None {
            "applied"
        } else {
            "checked"
        }
    );
    for f in &failures {
        text.push_str("\n  ");
        text.push_str(&f.line());
    }
    Err(anyhow::anyhow!(text))
}

/// The namespace work an apply needs before its objects: plain namespaces to create and FederatedNamespaces
/// to add (`--create-namespace`).
struct NamespacePlan {
    /// Namespaces to create on the host.
    create: Vec<String>,
    /// FederatedNamespaces to apply first (from the input, and made by `--create-namespace`).
    federated: Vec<Planned>,
}

impl NamespacePlan {
    /// Checks each namespace the objects use. Objects whose namespace cannot be used move to `failures`.
    async fn make(
        host: &Host,
        enabled: &EnabledTypes,
        opts: &ConvertOptions,
        args: &ApplyArgs,
        planned: &mut Vec<Planned>,
        failures: &mut Vec<Failure>,
    ) -> anyhow::Result<Self> {
        let ns_target = enabled
            .targets()
            .find(TargetType::is_namespace)
            .or_else(|| find_default_type("namespaces"));
        let is_fed_ns =
            |p: &Planned| p.resource.group == FEDERATED_GROUP && p.resource.kind == "FederatedNamespace";
        let (mut federated, rest): (Vec<Planned>, Vec<Planned>) = planned.drain(..).partition(is_fed_ns);
        *planned = rest;
        let in_batch: BTreeSet<String> = federated.iter().filter_map(|p| p.namespace.clone()).collect();
        let used: BTreeSet<String> = planned.iter().filter_map(|p| p.namespace.clone()).collect();

        let ns_api: Api<Namespace> = Api::all(host.client.clone());
        let mut create = Vec::new();
        let mut unusable: BTreeMap<String, String> = BTreeMap::new();
        for ns in in_batch.union(&used) {
            let exists = match ns_api.get_opt(ns).await {
                Ok(found) => found.is_some(),
                // Not allowed to read namespaces: let the applies tell.
                Err(e) => {
                    tracing::debug!("cannot read namespace {ns}: {}", message(&e));
                    true
                }
            };
            if !exists {
                if args.create_namespace || in_batch.contains(ns) {
                    create.push(ns.clone());
                } else {
                    unusable.insert(
                        ns.clone(),
                        format!(
                            "namespace {ns:?} does not exist on the host; run again with --create-namespace to create \
                             and federate it, or add the Namespace to the input"
                        ),
                    );
                    continue;
                }
            }
            if in_batch.contains(ns) {
                continue;
            }
            let fed_ns_exists = match &ns_target {
                Some(t) if exists && !matches!(enabled.state(t), TypeState::NotEnabled(_)) => {
                    let api: Api<DynamicObject> =
                        Api::namespaced_with(host.client.clone(), ns, &federated_api_resource(t));
                    match api.get_opt(ns).await {
                        Ok(found) => found.is_some(),
                        Err(e) if is_not_found(&e) => false,
                        Err(e) => {
                            tracing::debug!("cannot read FederatedNamespace {ns}: {}", message(&e));
                            true
                        }
                    }
                }
                _ => false,
            };
            if fed_ns_exists {
                continue;
            }
            if !args.create_namespace {
                unusable.insert(
                    ns.clone(),
                    format!(
                        "namespace {ns:?} is not federated (there is no FederatedNamespace {ns:?} in it), so the object \
                         would be placed on no cluster; run again with --create-namespace to federate it with the same \
                         placement, or add the Namespace to the input"
                    ),
                );
                continue;
            }
            let Some(t) = &ns_target else {
                unusable.insert(ns.clone(), "namespaces cannot be federated on this host".into());
                continue;
            };
            if let TypeState::NotEnabled(why) = enabled.state(t) {
                unusable.insert(ns.clone(), format!("cannot federate namespace {ns:?}: {why}"));
                continue;
            }
            let placement_only = ConvertOptions {
                placement: opts.placement.clone(),
                ..ConvertOptions::default()
            };
            let plain = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let fed = federate(plain, t, &placement_only).context("while federating a namespace")?;
            federated.push(Planned {
                order: 0,
                source: None,
                reference: object_ref(&t.federated_kind(), FEDERATED_GROUP, ns),
                resource: federated_api_resource(t),
                namespace: Some(ns.clone()),
                name: ns.clone(),
                object: fed.object,
            });
        }
        planned.retain(|p| match p.namespace.as_ref().and_then(|ns| unusable.get(ns)) {
            Some(reason) => {
                failures.push(Failure::of(p, reason.clone()));
                false
            }
            None => true,
        });
        Ok(Self { create, federated })
    }
}

/// Creates the namespaces, applies the FederatedNamespaces, then the rest; returns how many succeeded.
async fn execute(
    host: &Host,
    args: &ApplyArgs,
    namespaces: NamespacePlan,
    planned: Vec<Planned>,
    failures: &mut Vec<Failure>,
) -> usize {
    let suffix = dry_run_suffix(args.dry_run);
    let reporter = Reporter::new(namespaces.create.len() + namespaces.federated.len() + planned.len());
    let mut done = 0;
    let mut pending: BTreeSet<String> = BTreeSet::new();
    let ns_api: Api<Namespace> = Api::all(host.client.clone());
    for ns in &namespaces.create {
        let reference = object_ref("Namespace", "", ns);
        if args.dry_run != DryRun::None {
            reporter.line(&format!("{reference} created{suffix}"));
            pending.insert(ns.clone());
            reporter.tick();
            continue;
        }
        let namespace: Namespace = match serde_json::from_value(json!({"metadata": {"name": ns}})) {
            Ok(n) => n,
            Err(e) => {
                failures.push(Failure {
                    order: 0,
                    reference,
                    source: None,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let pp = PostParams {
            field_manager: Some(KUBECTL_FED_FIELD_MANAGER.into()),
            ..PostParams::default()
        };
        match ns_api.create(&pp, &namespace).await {
            Ok(_) => reporter.line(&format!("{reference} created")),
            Err(e) if status_code(&e) == Some(409) => {}
            Err(e) => failures.push(Failure {
                order: 0,
                reference,
                source: None,
                reason: message(&e),
            }),
        }
        reporter.tick();
    }
    if args.dry_run == DryRun::Server && !pending.is_empty() {
        let list: Vec<&str> = pending.iter().map(String::as_str).collect();
        reporter.warn(&format!(
            "namespace(s) {} do not exist yet, so the host could not validate the objects in them",
            list.join(", ")
        ));
    }

    // Namespaces this run federates: the webhook judges with an informer cache, which may not hold the
    // FederatedNamespace just written when the next object arrives. Such a "not federated" denial is
    // retried for a few seconds, only for these namespaces.
    let just_federated: BTreeSet<String> = namespaces.federated.iter().map(|p| p.name.clone()).collect();
    let just_federated = &just_federated;
    let apply = |p: Planned| {
        let skip =
            args.dry_run == DryRun::Server && p.namespace.as_ref().is_some_and(|ns| pending.contains(ns));
        async move {
            if skip {
                return (p, Ok(Outcome::Created));
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let result = apply_one(host, args, &p).await;
                let lagging = matches!(&result, Err(e) if e.contains("is not federated"))
                    && p.namespace.as_ref().is_some_and(|ns| just_federated.contains(ns));
                if !lagging || std::time::Instant::now() >= deadline {
                    return (p, result);
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        }
    };
    for p in namespaces.federated {
        let (p, result) = apply(p).await;
        report(&reporter, &p, result, suffix, &mut done, failures);
    }
    let mut results = futures::stream::iter(planned).map(apply).buffered(CONCURRENCY);
    while let Some((p, result)) = results.next().await {
        report(&reporter, &p, result, suffix, &mut done, failures);
    }
    reporter.finish();
    done
}

fn report(
    reporter: &Reporter,
    p: &Planned,
    result: Result<Outcome, String>,
    suffix: &str,
    done: &mut usize,
    failures: &mut Vec<Failure>,
) {
    match result {
        Ok(outcome) => {
            *done += 1;
            reporter.line(&format!("{} {}{suffix}", p.reference, outcome.verb()));
        }
        Err(reason) => failures.push(Failure::of(p, reason)),
    }
    reporter.tick();
}

/// Applies one object (or, with `--dry-run=client`, compares it with what the host has).
async fn apply_one(host: &Host, args: &ApplyArgs, p: &Planned) -> Result<Outcome, String> {
    let api: Api<DynamicObject> = match &p.namespace {
        Some(ns) => Api::namespaced_with(host.client.clone(), ns, &p.resource),
        None => Api::all_with(host.client.clone(), &p.resource),
    };
    let before = match api.get_opt(&p.name).await {
        Ok(found) => found,
        // A namespace that does not exist yet (client dry run) holds nothing.
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(message(&e)),
    };
    if args.dry_run == DryRun::Client {
        return Ok(match before {
            None => Outcome::Created,
            Some(b) if b.data.get("spec") == p.object.get("spec") => Outcome::Unchanged,
            Some(_) => Outcome::Configured,
        });
    }
    let params = PatchParams {
        dry_run: args.dry_run == DryRun::Server,
        force: args.force_conflicts,
        field_manager: Some(KUBECTL_FED_FIELD_MANAGER.into()),
        field_validation: Some(ValidationDirective::Strict),
    };
    let after = api
        .patch(&p.name, &params, &Patch::Apply(&p.object))
        .await
        .map_err(|e| {
            let text = message(&e);
            if status_code(&e) == Some(409) && !args.force_conflicts {
                format!("{text}; run again with --force-conflicts to take these fields over")
            } else {
                text
            }
        })?;
    Ok(match before {
        None => Outcome::Created,
        Some(b) if unchanged(&b, &after, args.dry_run == DryRun::Server) => Outcome::Unchanged,
        Some(_) => Outcome::Configured,
    })
}

/// Metadata the API server sets, which a server-side apply must not carry (`managedFields` is refused,
/// `resourceVersion` would turn the apply into a conditional update).
const SERVER_SET_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Makes an object read back from a cluster (`kubectl get -o yaml`) fit for a server-side apply: drops the
/// metadata the server sets and `status` (written by the controller through its subresource).
fn strip_server_fields(object: &mut Value) {
    if let Some(obj) = object.as_object_mut() {
        obj.remove("status");
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in SERVER_SET_METADATA {
                meta.remove(*field);
            }
        }
    }
}

/// Whether an apply changed nothing: the resourceVersion is the same (the API server skips no-op writes).
/// A server dry run never writes, so there the content is compared instead.
fn unchanged(before: &DynamicObject, after: &DynamicObject, dry_run: bool) -> bool {
    if dry_run {
        before.data == after.data
            && before.metadata.labels == after.metadata.labels
            && before.metadata.annotations == after.metadata.annotations
    } else {
        before.metadata.resource_version == after.metadata.resource_version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_read_back_from_a_cluster_are_fit_for_apply() {
        let mut obj = json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
            "metadata": {"name": "c", "namespace": "n", "uid": "u", "resourceVersion": "12", "generation": 3,
                         "creationTimestamp": "2024-01-01T00:00:00Z", "managedFields": [{"manager": "x"}],
                         "labels": {"a": "b"}},
            "spec": {"placement": {"clusterSelector": {}}},
            "status": {"observedGeneration": 3}
        });
        strip_server_fields(&mut obj);
        assert_eq!(
            obj,
            json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
                "metadata": {"name": "c", "namespace": "n", "labels": {"a": "b"}},
                "spec": {"placement": {"clusterSelector": {}}}
            })
        );
    }

    #[test]
    fn unchanged_means_same_resource_version_or_same_content_in_a_dry_run() {
        let obj = |rv: &str, replicas: i32| -> DynamicObject {
            serde_json::from_value(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
                "metadata": {"name": "w", "resourceVersion": rv},
                "spec": {"template": {"spec": {"replicas": replicas}}}
            }))
            .expect("valid object")
        };
        assert!(unchanged(&obj("1", 1), &obj("1", 1), false));
        assert!(!unchanged(&obj("1", 1), &obj("2", 1), false));
        assert!(
            unchanged(&obj("1", 1), &obj("2", 1), true),
            "a dry run compares content"
        );
        assert!(!unchanged(&obj("1", 1), &obj("1", 2), true));
    }
}
