//! `kubectl fed check -f app.yaml`: would the host's admission webhook admit these objects? The webhook's
//! own pure decisions (`kubefed_core::admission::{mutate, validate}`), run here: each object is converted as
//! `apply` converts it, mutated (defaults, e.g. a policy's default placement) as the API server would have
//! the webhook do first, then validated; the answer is allowed or denied with the webhook's messages, and
//! its warnings.
//!
//! What the decisions read (a [`Snapshot`]) comes from `--from-host` (KubeFedClusters, FederatedNamespaces,
//! Namespaces, FederationPolicies and FederatedTypeConfigs, listed once) and/or `--policies DIR` (YAML files
//! of FederationPolicies, which replace the host's, plus optionally KubeFedClusters, FederatedNamespaces,
//! Namespaces and FederatedTypeConfigs describing the host offline; the default types when none).
//!
//! The webhook's RBAC step (`propagate` on clusters and the user's rights on the target kind) runs with
//! `--from-host`, with the webhook's own code: for `--as USER` with SubjectAccessReviews (which need the right
//! to create them), otherwise for the caller — who the kubeconfig authenticates as, from a SelfSubjectReview —
//! with SelfSubjectAccessReviews, which anyone may ask. Offline it is listed as not evaluated. The type check of override values against the host's schema is never run here (listed).
//! Exit code 1 when any object is denied.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{DynamicObject, ListParams};
use kubefed_core::admission::{
    self, AdmissionInput, Decision, Settings, Snapshot, TypeEntry, propagate_check_failed,
};
use kubefed_core::api::{FederatedObject, FederatedTypeConfig, FederationPolicy, KubeFedCluster, Placement};
use kubefed_core::manifest::ManifestObject;
use kubefed_core::placement::ClusterInfo;
use kubefed_core::typeinfo::Scope;
use kubefed_webhook::decisions::check_rights;
use kubefed_webhook::sar::{
    AccessReviewer, CacheTtl, KubeReviewer, PropagateAuthorizer, SelfReviewer, Subject, whoami,
};
use serde_json::Value;

use crate::cli::{CheckArgs, GlobalArgs};
use crate::client::{Connection, Host, message};
use crate::types::{TypeTable, convert};
use crate::{input, output};

/// What `--policies DIR` holds.
#[derive(Default)]
struct HostFiles {
    policies: Vec<FederationPolicy>,
    clusters: Vec<KubeFedCluster>,
    federated_namespaces: Vec<FederatedObject>,
    namespaces: Vec<Namespace>,
    type_configs: Vec<FederatedTypeConfig>,
}

/// Whose rights the RBAC step checks.
enum Asker {
    /// `--as USER [--as-group G]…`: SubjectAccessReviews.
    Named(Subject),
    /// The caller, as the host authenticates it: SelfSubjectAccessReviews.
    Caller(Subject),
}

impl Asker {
    fn subject(&self) -> &Subject {
        match self {
            Asker::Named(s) | Asker::Caller(s) => s,
        }
    }
}

/// The verdict on one object.
pub struct Verdict {
    /// `federateddeployment.types.kubefed.io/web -n shop`.
    pub reference: String,
    /// The decision after mutation.
    pub decision: Decision,
    /// Warnings of the mutation (defaults applied), then of validation.
    pub warnings: Vec<String>,
}

/// Runs `kubectl fed check`; `Ok(false)` when an object is denied.
pub async fn run(global: &GlobalArgs, args: &CheckArgs) -> anyhow::Result<bool> {
    if args.policies.is_none() && !args.from_host {
        anyhow::bail!(
            "say what to check against: --policies DIR (FederationPolicies, and optionally KubeFedClusters, \
             FederatedNamespaces, Namespaces and FederatedTypeConfigs, as YAML) and/or --from-host"
        );
    }
    let objects = super::read_input(&args.input)?;
    let connection = Connection::from_args(global);
    // kubectl's rules, as apply: -n, else the object's own, else the context's namespace, else `default`.
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
    let files = match &args.policies {
        Some(dir) => read_host_files(dir)?,
        None => HostFiles::default(),
    };
    let settings = Settings {
        system_namespace: global.kubefed_namespace.clone(),
        ..Settings::default()
    };
    let host = if args.from_host {
        Some(
            connection
                .connect(None)
                .await
                .context("while connecting to the host cluster")?,
        )
    } else {
        None
    };
    let snapshot = match &host {
        Some(host) => host_snapshot(host, files, settings).await?,
        None => files_snapshot(files, settings),
    };

    // Who the webhook would see: --as USER, else (with the host) the caller.
    let timeout = global.request_timeout.max(Duration::from_secs(1));
    let mut unknown_caller = None;
    let asker = match (&host, &args.user) {
        (_, Some(user)) => Some(Asker::Named(Subject {
            user: user.clone(),
            groups: args.groups.clone(),
            ..Subject::default()
        })),
        (Some(host), None) => match whoami(&host.client, timeout).await {
            Ok(me) => Some(Asker::Caller(me)),
            Err(e) => {
                unknown_caller = Some(e);
                None
            }
        },
        (None, None) => None,
    };

    let mut table = TypeTable::default();
    snapshot.types.iter().for_each(|t| table.insert(t.target.clone()));
    let mut verdicts = judge(
        objects,
        &table,
        &opts,
        Some(default_namespace.as_str()),
        &snapshot,
        asker.as_ref().map(|a| a.subject().user.as_str()),
    )?;

    // With the host, the webhook's RBAC step runs too, for that user.
    let rbac_checked = match (&host, &asker) {
        (Some(host), Some(asker)) => {
            let subject = asker.subject();
            let reviewer: Arc<dyn AccessReviewer> = match asker {
                Asker::Named(_) => Arc::new(KubeReviewer::new(host.client.clone(), timeout)),
                Asker::Caller(_) => Arc::new(SelfReviewer::new(host.client.clone(), timeout)),
            };
            let authorizer = PropagateAuthorizer::new(reviewer, CacheTtl::default());
            for v in &mut verdicts {
                let d = &mut v.decision;
                let (propagate, access) = (d.propagate.clone(), d.access.clone());
                if let Err(e) = check_rights(
                    &authorizer,
                    &subject.keyed(),
                    propagate.as_ref(),
                    &access,
                    &snapshot.settings.system_namespace,
                    &mut d.denials,
                )
                .await
                {
                    d.denials.push(propagate_check_failed(&e));
                }
            }
            true
        }
        _ => false,
    };

    let mut out = String::new();
    let mut denied = 0;
    let mut rbac_skipped = false;
    for v in &verdicts {
        if v.decision.allowed() {
            out.push_str(&format!("{}: allowed\n", v.reference));
        } else {
            denied += 1;
            out.push_str(&format!("{}: denied: {}\n", v.reference, v.decision.message()));
        }
        for w in &v.warnings {
            out.push_str(&format!("  Warning: {w}\n"));
        }
        if rbac_checked {
            // Asked above; what is missing is among the denials.
        } else if let Some(p) = &v.decision.propagate {
            rbac_skipped = true;
            let on = if p.all_clusters {
                "every cluster".to_string()
            } else {
                p.clusters.iter().cloned().collect::<Vec<_>>().join(", ")
            };
            out.push_str(&format!(
                "  not checked offline: RBAC verb \"propagate\" on kubefedclusters.core.kubefed.io for {on} ({})\n",
                p.field
            ));
        }
        for a in v.decision.access.iter().filter(|_| !rbac_checked) {
            rbac_skipped = true;
            out.push_str(&format!("  not checked offline: RBAC {}\n", a.access));
        }
        if let Some(t) = &v.decision.type_check {
            out.push_str(&format!(
                "  not checked offline: the types of spec.overrides values against the host's schema of {}\n",
                t.kind
            ));
        }
    }
    match (&asker, rbac_checked) {
        (Some(Asker::Named(s)), true) => out.push_str(&format!(
            "RBAC checked with SubjectAccessReviews on the host for user {:?}\n",
            s.user
        )),
        (Some(Asker::Caller(s)), true) => out.push_str(&format!(
            "RBAC checked with SelfSubjectAccessReviews on the host for you (user {:?}; --as USER checks \
             another user)\n",
            s.user
        )),
        _ => {}
    }
    if !rbac_checked && rbac_skipped {
        out.push_str(&format!(
            "RBAC checks (SubjectAccessReviews{}) were skipped{}; the webhook also denies what the user \
             may not do\n",
            match (&args.user, args.groups.is_empty()) {
                (Some(u), true) => format!(" for user {u:?}"),
                (Some(u), false) => format!(" for user {u:?} in groups {}", args.groups.join(",")),
                (None, _) => String::new(),
            },
            match (&unknown_caller, args.from_host) {
                (Some(e), _) => format!(" (who you are could not be read: {e}; pass --as USER)"),
                (None, true) => " (pass --as USER to run them)".into(),
                (None, false) => " offline".into(),
            }
        ));
    }
    output::print_stdout(&out)?;
    if denied > 0 {
        output::error(&format!(
            "{denied} of {} object{} would be denied",
            verdicts.len(),
            if verdicts.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(denied == 0)
}

/// Converts `objects` and runs the webhook's mutation, then validation, on each one (as a create by
/// `user`).
pub fn judge(
    objects: Vec<ManifestObject>,
    table: &TypeTable,
    opts: &kubefed_core::ConvertOptions,
    default_namespace: Option<&str>,
    snapshot: &Snapshot,
    user: Option<&str>,
) -> anyhow::Result<Vec<Verdict>> {
    let batch = convert(objects, table, opts)?.batch;
    // Applying stores the input's FederatedNamespaces first (and creates their namespaces, which the API
    // server labels with their name): the webhook judges the other objects with them in place.
    let mut with_input = None;
    for item in &batch.items {
        let (Some(target), Ok(c)) = (&item.target, &item.result) else {
            continue;
        };
        if !target.is_namespace() {
            continue;
        }
        let Ok(fed) = serde_json::from_value::<FederatedObject>(c.object.clone()) else {
            continue;
        };
        let Some(ns) = fed.metadata.namespace.clone().or(fed.metadata.name.clone()) else {
            continue;
        };
        let snap: &mut Snapshot = with_input.get_or_insert_with(|| snapshot.clone());
        snap.federated_namespaces
            .insert(ns.clone(), fed.spec.placement.clone());
        snap.namespace_labels
            .entry(ns.clone())
            .or_default()
            .entry("kubernetes.io/metadata.name".to_string())
            .or_insert(ns);
    }
    let snapshot = with_input.as_ref().unwrap_or(snapshot);
    let mut verdicts = Vec::new();
    for item in batch.items {
        let converted = match item.result {
            Ok(c) => c,
            Err(e) => anyhow::bail!("{}: {e}", item.source),
        };
        let mut object = converted.object;
        let namespaced = item
            .target
            .as_ref()
            .is_some_and(|t| t.federated_scope() == Scope::Namespaced);
        if namespaced
            && object.pointer("/metadata/namespace").is_none()
            && let (Some(ns), Some(meta)) = (
                default_namespace,
                object.get_mut("metadata").and_then(Value::as_object_mut),
            )
        {
            meta.insert("namespace".into(), Value::String(ns.to_string()));
        }
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut reference = output::object_ref(kind, crate::types::group_of(api_version), name);
        if let Some(ns) = object.pointer("/metadata/namespace").and_then(Value::as_str) {
            reference.push_str(&format!(" -n {ns}"));
        }
        let dynamic: DynamicObject = serde_json::from_value(object.clone())
            .with_context(|| format!("{}: not a Kubernetes object", item.source))?;
        let mut warnings = Vec::new();
        let input = AdmissionInput {
            user,
            ..AdmissionInput::create(&dynamic)
        };
        // The API server calls the mutating webhook first and validates what it returns.
        let mutation = admission::mutate(&input, snapshot);
        warnings.extend(mutation.warnings);
        let mutated: DynamicObject = if mutation.patch.is_empty() {
            dynamic.clone()
        } else {
            let mut patched = object;
            json_patch::patch(&mut patched, &mutation.patch)
                .with_context(|| format!("{}: applying the webhook's defaults", item.source))?;
            serde_json::from_value(patched).with_context(|| format!("{}: after defaults", item.source))?
        };
        let input = AdmissionInput {
            user,
            ..AdmissionInput::create(&mutated)
        };
        let decision = admission::validate(&input, snapshot);
        warnings.extend(decision.warnings.iter().cloned());
        verdicts.push(Verdict {
            reference,
            decision,
            warnings,
        });
    }
    Ok(verdicts)
}

/// Reads every YAML/JSON file in `dir` (recursively) and keeps the kinds a snapshot is made of.
fn read_host_files(dir: &std::path::Path) -> anyhow::Result<HostFiles> {
    let read = input::read(&[dir.display().to_string()], true, &mut std::io::empty());
    if !read.errors.is_empty() {
        for e in &read.errors {
            output::error(e);
        }
        anyhow::bail!(
            "--policies {}: {} error(s) in the files",
            dir.display(),
            read.errors.len()
        );
    }
    let mut files = HostFiles::default();
    for o in read.objects {
        let source = o.source.to_string();
        let value = o.object.clone();
        let fail = |e: serde_json::Error| anyhow::anyhow!("{source}: {e}");
        match (o.api_version(), o.kind()) {
            ("policy.kubefed.io/v1alpha1", "FederationPolicy") => {
                files.policies.push(serde_json::from_value(value).map_err(fail)?)
            }
            ("core.kubefed.io/v1beta1", "KubeFedCluster") => {
                files.clusters.push(serde_json::from_value(value).map_err(fail)?)
            }
            ("core.kubefed.io/v1beta1", "FederatedTypeConfig") => files
                .type_configs
                .push(serde_json::from_value(value).map_err(fail)?),
            ("types.kubefed.io/v1beta1", "FederatedNamespace") => files
                .federated_namespaces
                .push(serde_json::from_value(value).map_err(fail)?),
            ("v1", "Namespace") => files
                .namespaces
                .push(serde_json::from_value(value).map_err(fail)?),
            (api_version, kind) => output::warn(&format!(
                "{source}: {kind} ({api_version}) ignored: --policies takes FederationPolicies, KubeFedClusters, \
                 FederatedNamespaces, Namespaces and FederatedTypeConfigs"
            )),
        }
    }
    Ok(files)
}

/// `spec.placement` of each FederatedNamespace named after its namespace (as the webhook keeps them).
fn namespace_placements(fns: &[FederatedObject]) -> BTreeMap<String, Placement> {
    fns.iter()
        .filter(|f| f.metadata.deletion_timestamp.is_none())
        .filter_map(|f| {
            let (name, ns) = (f.metadata.name.as_ref()?, f.metadata.namespace.as_ref()?);
            (name == ns).then(|| (ns.clone(), f.spec.placement.clone()))
        })
        .collect()
}

fn namespace_labels(namespaces: &[Namespace]) -> BTreeMap<String, BTreeMap<String, String>> {
    namespaces
        .iter()
        .filter_map(|n| {
            Some((
                n.metadata.name.clone()?,
                n.metadata.labels.clone().unwrap_or_default(),
            ))
        })
        .collect()
}

/// A snapshot of the files alone; the default types when the files hold no FederatedTypeConfig.
fn files_snapshot(files: HostFiles, settings: Settings) -> Snapshot {
    let mut configs = files.type_configs;
    if configs.is_empty() {
        configs = kubefed_core::default_types()
            .iter()
            .map(|t| FederatedTypeConfig::for_target(t, &settings.system_namespace))
            .collect();
    }
    Snapshot::new(
        files.clusters.iter().map(ClusterInfo::from_cluster).collect(),
        namespace_placements(&files.federated_namespaces),
        namespace_labels(&files.namespaces),
        files.policies,
        configs.iter().map(TypeEntry::from_config).collect(),
        settings,
    )
}

/// A snapshot of the host, listed once, as the webhook's caches hold it; policies, clusters, namespaces and
/// type configs given in files replace the host's.
async fn host_snapshot(host: &Host, files: HostFiles, settings: Settings) -> anyhow::Result<Snapshot> {
    let ns = settings.system_namespace.clone();
    let lp = ListParams::default();
    let list_err = |what: &'static str| {
        move |e: kube::Error| anyhow::anyhow!(message(&e)).context(host.doing(format!("listing {what}")))
    };
    let clusters = if files.clusters.is_empty() {
        Api::<KubeFedCluster>::namespaced(host.client.clone(), &ns)
            .list(&lp)
            .await
            .map_err(list_err("KubeFedClusters"))?
            .items
    } else {
        files.clusters
    };
    let type_configs = if files.type_configs.is_empty() {
        Api::<FederatedTypeConfig>::namespaced(host.client.clone(), &ns)
            .list(&lp)
            .await
            .map_err(list_err("FederatedTypeConfigs"))?
            .items
    } else {
        files.type_configs
    };
    let policies = if files.policies.is_empty() {
        Api::<FederationPolicy>::all(host.client.clone())
            .list(&lp)
            .await
            .map_err(list_err("FederationPolicies"))?
            .items
    } else {
        files.policies
    };
    let namespaces = if files.namespaces.is_empty() {
        Api::<Namespace>::all(host.client.clone())
            .list(&lp)
            .await
            .map_err(list_err("Namespaces"))?
            .items
    } else {
        files.namespaces
    };
    let federated_namespaces = if files.federated_namespaces.is_empty() {
        match kubefed_core::find_default_type("Namespace") {
            Some(t) => {
                let ar = kubefed_core::federated_api_resource(&t);
                Api::<FederatedObject>::all_with(host.client.clone(), &ar)
                    .list(&lp)
                    .await
                    .map_err(list_err("FederatedNamespaces"))?
                    .items
            }
            None => Vec::new(),
        }
    } else {
        files.federated_namespaces
    };
    Ok(Snapshot::new(
        clusters.iter().map(ClusterInfo::from_cluster).collect(),
        namespace_placements(&federated_namespaces),
        namespace_labels(&namespaces),
        policies,
        type_configs.iter().map(TypeEntry::from_config).collect(),
        settings,
    ))
}

#[cfg(test)]
mod tests {
    use kubefed_core::manifest::parse_manifests;
    use serde_json::json;

    use super::*;

    fn snapshot() -> Snapshot {
        let policy: FederationPolicy = serde_json::from_value(json!({
            "apiVersion": "policy.kubefed.io/v1alpha1", "kind": "FederationPolicy", "metadata": {"name": "no-us"},
            "spec": {"deniedClusters": {"selector": {"matchLabels": {"region": "us"}}}}}))
        .expect("policy");
        let cluster = |name: &str, region: &str| -> KubeFedCluster {
            serde_json::from_value(json!({"apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedCluster",
                "metadata": {"name": name, "namespace": "kube-federation-system", "labels": {"region": region}},
                "spec": {"apiEndpoint": "https://x", "secretRef": {"name": "s"}}}))
            .expect("cluster")
        };
        files_snapshot(
            HostFiles {
                policies: vec![policy],
                clusters: vec![cluster("eu-1", "eu"), cluster("us-1", "us")],
                ..HostFiles::default()
            },
            Settings::default(),
        )
    }

    fn verdicts(yaml: &str, clusters: &[&str]) -> Vec<(String, bool, String)> {
        let snapshot = snapshot();
        let mut table = TypeTable::default();
        snapshot.types.iter().for_each(|t| table.insert(t.target.clone()));
        let objects = parse_manifests("app.yaml", yaml, &Default::default()).expect("valid manifests");
        let opts = crate::cli::PlacementArgs {
            clusters: Some(clusters.join(",")),
            ..Default::default()
        }
        .convert_options(None, Some("default".into()), &crate::cli::AllowArgs::default())
        .expect("options");
        judge(objects, &table, &opts, None, &snapshot, Some("alice"))
            .expect("judged")
            .into_iter()
            .map(|v| (v.reference, v.decision.allowed(), v.decision.message()))
            .collect()
    }

    const APP: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: v1\nkind: ConfigMap\n\
                       metadata: {name: cfg, namespace: shop}\ndata: {a: b}\n";

    #[test]
    fn the_inputs_namespace_counts_and_policies_deny_with_the_webhooks_message() {
        let got = verdicts(APP, &["eu-1"]);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|(_, allowed, _)| *allowed), "{got:?}");
        let got = verdicts(APP, &["eu-1", "us-1"]);
        let (reference, allowed, message) = &got[1];
        assert_eq!(reference, "federatedconfigmap.types.kubefed.io/cfg -n shop");
        assert!(!allowed);
        assert!(
            message.contains("policy \"no-us\"") && message.contains("\"us-1\""),
            "{message}"
        );
        // Without its Namespace in the input, the ConfigMap's namespace is not federated.
        let alone = APP.split("---\n").nth(1).unwrap_or_default();
        let got = verdicts(alone, &["eu-1"]);
        assert!(!got[0].1 && got[0].2.contains("is not federated"), "{got:?}");
    }
}
