//! `kubectl fed diff -f app.yaml`: for each object and each joined member cluster, what applying would
//! change there — create, update (with a unified diff of the member object's YAML, only the fields kubefed
//! manages), delete, or nothing.
//!
//! Computed the controller's way, with its code: the federated objects are converted as `apply` converts
//! them; placement is `kubefed_core::place` (FederatedNamespace placement included, from the input or the
//! host); the member object is `desired_member_object_with` (overrides, managed label, retention, the
//! KubeFedConfig's `propagateTemplateAnnotations`); member clusters are read with the KubeFedClusters'
//! own credentials, through the controller's client builder; and the per-cluster decision is
//! `kubefed_core::preview::member_change`, which compares the part of the member object our field manager
//! owns with the desired object as the controller does.
//!
//! Exit code like kubectl diff: 0 no differences, 1 differences, 2 (via the caller) an error.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DynamicObject, ListParams};
use kubefed_controller::cluster::client::{Token, client_for};
use kubefed_controller::kubefedconfig::ControlPlaneConfig;
use kubefed_controller::member::{owned_view, target_api_resource};
use kubefed_core::api::constants::{CLUSTER_SECRET_TOKEN_KEY, KUBEFED_CONFIG_NAME};
use kubefed_core::api::{FederatedObject, KubeFedCluster, KubeFedConfig, Placement};
use kubefed_core::placement::{ClusterInfo, PlacementDecision, place};
use kubefed_core::preview::{LiveMember, MemberChange, comparable, member_change};
use kubefed_core::propagation::{MemberOptions, desired_member_object_with, is_managed, orphan_requested};
use kubefed_core::typeinfo::{Scope, TargetType};
use serde_json::Value;

use crate::cli::{DiffArgs, GlobalArgs};
use crate::client::{Connection, Host, is_not_found, message};
use crate::discovery::Discovery;
use crate::enabled::{EnabledTypes, TypeState};
use crate::output;
use crate::types::{TypeTable, convert};

/// Member requests are few and sequential; this bounds each one so an unreachable member fails fast.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(10);

/// A joined member as the controller sees it.
struct Member {
    info: ClusterInfo,
    /// The client, or why there is none (the KubeFedCluster's `ConfigMalformed` reason).
    client: Result<kube::Client, String>,
}

/// One object to diff.
struct Planned {
    fed: FederatedObject,
    target: TargetType,
    reference: String,
    propagation_disabled: bool,
}

/// Runs `kubectl fed diff`; `Ok(true)` when applying would change something.
pub async fn run(global: &GlobalArgs, args: &DiffArgs) -> anyhow::Result<bool> {
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
    let host = connection
        .connect(None)
        .await
        .context("while connecting to the host cluster")?;
    let mut discovery = Discovery::new(host.clone());
    let system_ns = global.kubefed_namespace.clone();
    let enabled = EnabledTypes::load(&mut discovery, &system_ns).await?;
    let mut table = TypeTable::default();
    enabled.targets().for_each(|t| table.insert(t));
    let batch = convert(objects, &table, &opts)?.batch;

    let mut errors = Vec::new();
    for item in &batch.items {
        if let Some(msg) = item.error_message() {
            errors.push(msg);
        }
    }
    if !errors.is_empty() {
        for e in &errors {
            output::error(e);
        }
        anyhow::bail!("{} of {} objects are invalid", errors.len(), batch.items.len());
    }
    for w in &batch.warnings {
        output::warn(w);
    }

    let mut planned = Vec::new();
    for item in batch.items {
        let Ok(converted) = item.result else { continue };
        let mut object = converted.object;
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // Already-federated input is diffed as it is; its type is the enabled one with that federated kind.
        let target = match item.target {
            Some(t) => t,
            None => match enabled.targets().find(|t| t.federated_kind() == kind) {
                Some(t) => t,
                None => anyhow::bail!(
                    "{}: {kind} is not a federated type enabled on the host; diff takes plain manifests or \
                     federated objects of enabled types",
                    item.source
                ),
            },
        };
        let propagation_disabled = match enabled.state(&target) {
            TypeState::NotEnabled(why) => anyhow::bail!("{}: {why}", item.source),
            TypeState::PropagationDisabled => true,
            TypeState::Enabled => false,
        };
        if target.federated_scope() == Scope::Namespaced
            && object.pointer("/metadata/namespace").is_none()
            && let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.insert("namespace".into(), Value::String(default_namespace.clone()));
        }
        let fed: FederatedObject =
            serde_json::from_value(object).with_context(|| format!("{}: not a valid {kind}", item.source))?;
        let name = fed.metadata.name.clone().unwrap_or_default();
        let reference = match (&fed.metadata.namespace, target.is_namespace()) {
            (Some(ns), false) => format!(
                "{} -n {ns}",
                output::object_ref(&target.kind, &target.group, &name)
            ),
            (Some(ns), true) => output::object_ref(&target.kind, &target.group, ns),
            (None, _) => output::object_ref(&target.kind, &target.group, &name),
        };
        planned.push(Planned {
            fed,
            target,
            reference,
            propagation_disabled,
        });
    }

    let config = control_plane_config(&host, &system_ns).await?;
    let members = members(&host, &system_ns).await?;
    let infos: Vec<ClusterInfo> = members.iter().map(|m| m.info.clone()).collect();
    // FederatedNamespaces of the input win over the host's: they are what applying would store.
    let mut ns_placements: BTreeMap<String, Option<Placement>> = planned
        .iter()
        .filter(|p| p.target.is_namespace())
        .filter_map(|p| {
            let ns = p
                .fed
                .metadata
                .namespace
                .clone()
                .or_else(|| p.fed.metadata.name.clone())?;
            Some((ns, Some(p.fed.spec.placement.clone())))
        })
        .collect();
    let options = MemberOptions {
        drop_template_annotations: !config.propagate_template_annotations,
    };

    let mut differences = false;
    let mut failures = 0;
    let mut out = String::new();
    for p in &planned {
        if p.propagation_disabled {
            out.push_str(&format!(
                "{}: propagation of {} is disabled on the host: nothing would change in member clusters\n",
                p.reference, p.target.kind
            ));
            continue;
        }
        let ns_placement = match (&p.fed.metadata.namespace, p.target.scope) {
            (Some(ns), Scope::Namespaced) if !p.target.is_namespace() => {
                if !ns_placements.contains_key(ns) {
                    let found = host_namespace_placement(&host, &table, ns).await?;
                    let found = found.or_else(|| args.create_namespace.then(|| p.fed.spec.placement.clone()));
                    ns_placements.insert(ns.clone(), found);
                }
                ns_placements.get(ns).cloned().flatten()
            }
            _ => None,
        };
        let selected = match place(&p.fed, &p.target, &infos, ns_placement.as_ref(), &system_ns) {
            Ok(PlacementDecision::Clusters(c)) => c,
            Ok(PlacementDecision::ReservedNamespace { namespace }) => {
                out.push_str(&format!(
                    "{}: namespace {namespace} is reserved and never propagated as a Namespace: nothing would change\n",
                    p.reference
                ));
                continue;
            }
            Ok(PlacementDecision::NamespaceNotFederated { namespace }) => {
                out.push_str(&format!(
                    "{}: namespace {namespace} is not federated (no FederatedNamespace): the object would go to no \
                     cluster; apply the Namespace too, or pass --create-namespace\n",
                    p.reference
                ));
                Default::default()
            }
            Err(e) => {
                differences = true;
                out.push_str(&format!("{}: {e}\n", p.reference));
                continue;
            }
        };
        let orphan = orphan_requested(&p.fed);
        for m in &members {
            let name = &m.info.name;
            let placed = selected.contains(name);
            let live = match &m.client {
                Err(why) => {
                    if placed {
                        differences = true;
                        out.push_str(&format!("{name}: {}: cannot be read: {why}\n", p.reference));
                    }
                    continue;
                }
                Ok(client) if m.info.ready || placed => match read_member(client, &p.fed, &p.target).await {
                    Ok(live) => live,
                    Err(e) if !m.info.ready => {
                        tracing::debug!(cluster = %name, error = %e, "not ready and not readable");
                        None
                    }
                    Err(e) => {
                        failures += 1;
                        out.push_str(&format!("{name}: {}: error: {e:#}\n", p.reference));
                        continue;
                    }
                },
                Ok(_) => None,
            };
            let desired = placed.then(|| {
                desired_member_object_with(&p.fed, &p.target, &m.info, live.is_some(), options)
                    .map_err(|e| (e.status(), e.to_string()))
            });
            let change = member_change(
                placed,
                m.info.ready,
                live.as_ref(),
                desired.as_ref().map(|d| d.as_ref().map_err(Clone::clone)),
                config.adopt_resources,
                orphan,
            );
            differences |= change.is_difference();
            out.push_str(&format!("{name}: {}: {}\n", p.reference, describe(&change)));
            let desired = desired.and_then(Result::ok);
            match (&change, &desired) {
                (MemberChange::Create, Some(d)) => out.push_str(&unified(None, Some(d), name, &p.reference)?),
                (MemberChange::Update { .. }, Some(d)) => {
                    let owned = live.as_ref().and_then(|l| l.owned.clone()).unwrap_or(Value::Null);
                    out.push_str(&unified(Some(&owned), Some(d), name, &p.reference)?);
                }
                _ => {}
            }
        }
    }
    output::print_stdout(&out)?;
    if failures > 0 {
        anyhow::bail!(
            "{failures} member object{} could not be read",
            if failures == 1 { "" } else { "s" }
        );
    }
    Ok(differences)
}

/// What a change is called in the one-line report.
fn describe(change: &MemberChange) -> String {
    match change {
        MemberChange::Create => "create".into(),
        MemberChange::Update { adopt: false } => "update".into(),
        MemberChange::Update { adopt: true } => {
            "update (adopt: the existing object is not managed by kubefed yet)".into()
        }
        MemberChange::Unchanged => "unchanged".into(),
        MemberChange::Delete => "delete (the placement no longer selects this cluster)".into(),
        MemberChange::Orphan => {
            "orphan (not deleted, annotation kubefed.io/orphan: label kubefed.io/managed removed)".into()
        }
        MemberChange::NotPlaced => "not placed".into(),
        MemberChange::NotReady => "cluster not Ready: nothing is written until it is".into(),
        MemberChange::Deleting => "being deleted".into(),
        MemberChange::Blocked(status, message) => format!("{status}: {message}"),
    }
}

/// A unified diff of the member object before (`None`: absent) and after, as YAML.
fn unified(
    before: Option<&Value>,
    after: Option<&Value>,
    cluster: &str,
    reference: &str,
) -> anyhow::Result<String> {
    let identity = after.or(before).cloned().unwrap_or(Value::Null);
    let text = |v: Option<&Value>| -> anyhow::Result<String> {
        match v {
            None => Ok(String::new()),
            Some(v) => output::to_yaml(&comparable(v, &identity)),
        }
    };
    let (old, new) = (text(before)?, text(after)?);
    let old_name = match before {
        Some(_) => format!("{cluster} {reference} (live: fields kubefed manages)"),
        None => "/dev/null".to_string(),
    };
    let new_name = format!("{cluster} {reference} (after apply)");
    let diff = similar::TextDiff::from_lines(&old, &new);
    let mut out = diff
        .unified_diff()
        .context_radius(3)
        .header(&old_name, &new_name)
        .to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// The member object of `fed` in a cluster, with our owned view, or `None` when absent.
async fn read_member(
    client: &kube::Client,
    fed: &FederatedObject,
    target: &TargetType,
) -> anyhow::Result<Option<LiveMember>> {
    let ar = target_api_resource(target);
    let name = if target.is_namespace() {
        fed.metadata
            .namespace
            .clone()
            .or_else(|| fed.metadata.name.clone())
    } else {
        fed.metadata.name.clone()
    }
    .unwrap_or_default();
    let api: Api<DynamicObject> = match (&fed.metadata.namespace, target.scope, target.is_namespace()) {
        (Some(ns), Scope::Namespaced, false) => Api::namespaced_with(client.clone(), ns, &ar),
        _ => Api::all_with(client.clone(), &ar),
    };
    let got = tokio::time::timeout(MEMBER_TIMEOUT, api.get_opt(&name))
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {}s", MEMBER_TIMEOUT.as_secs()))?
        .map_err(|e| anyhow::anyhow!(message(&e)))?;
    Ok(got.map(|obj| {
        let labels = serde_json::json!({"metadata": {"labels": obj.metadata.labels}});
        LiveMember {
            managed: is_managed(&labels),
            owned: owned_view(&obj),
            deleting: obj.metadata.deletion_timestamp.is_some(),
        }
    }))
}

/// The KubeFedConfig's settings, defaulted as the controller defaults them (none on the host: defaults).
async fn control_plane_config(host: &Host, namespace: &str) -> anyhow::Result<ControlPlaneConfig> {
    let api: Api<KubeFedConfig> = Api::namespaced(host.client.clone(), namespace);
    match api.get_opt(KUBEFED_CONFIG_NAME).await {
        Ok(Some(cfg)) => Ok(ControlPlaneConfig::from_spec(&cfg.spec)),
        Ok(None) => Ok(ControlPlaneConfig::default()),
        Err(e) if is_not_found(&e) => Ok(ControlPlaneConfig::default()),
        Err(e) => Err(anyhow::anyhow!(message(&e)))
            .with_context(|| host.doing(format!("reading KubeFedConfig {namespace}/{KUBEFED_CONFIG_NAME}"))),
    }
}

/// Every KubeFedCluster with a client built from its token Secret, as the controller builds it.
async fn members(host: &Host, namespace: &str) -> anyhow::Result<Vec<Member>> {
    let kfcs: Api<KubeFedCluster> = Api::namespaced(host.client.clone(), namespace);
    let mut list = kfcs
        .list(&ListParams::default())
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))
        .with_context(|| host.doing("listing KubeFedClusters"))?
        .items;
    list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let secrets: Api<Secret> = Api::namespaced(host.client.clone(), namespace);
    let mut out = Vec::new();
    for kfc in list {
        let secret_name = &kfc.spec.secret_ref.name;
        let token = match secrets.get_opt(secret_name).await {
            Ok(None) => Token::SecretMissing,
            Ok(Some(s)) => s
                .data
                .as_ref()
                .and_then(|d| d.get(CLUSTER_SECRET_TOKEN_KEY))
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
                .map_or(Token::KeyMissing, Token::Present),
            Err(e) => {
                return Err(anyhow::anyhow!(message(&e))).with_context(|| {
                    host.doing(format!(
                        "reading Secret {namespace}/{secret_name} (the member credentials diff reads members with)"
                    ))
                });
            }
        };
        // A generous rate: diff makes one request per object and cluster.
        let client = client_for(&kfc, &token, 50.0, 100).map_err(|e| e.to_string());
        out.push(Member {
            info: ClusterInfo::from_cluster(&kfc),
            client,
        });
    }
    Ok(out)
}

/// The placement of namespace `ns`'s FederatedNamespace on the host, if it has one.
async fn host_namespace_placement(
    host: &Host,
    table: &TypeTable,
    ns: &str,
) -> anyhow::Result<Option<Placement>> {
    let Some(target) = table.get("v1", "Namespace") else {
        return Ok(None);
    };
    let ar = kubefed_core::federated_api_resource(&target);
    let api: Api<FederatedObject> = Api::namespaced_with(host.client.clone(), ns, &ar);
    match api.get_opt(ns).await {
        Ok(found) => Ok(found.map(|f| f.spec.placement)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(anyhow::anyhow!(message(&e)))
            .with_context(|| host.doing(format!("reading FederatedNamespace {ns}/{ns}"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unified_diff_of_an_update_shows_only_changed_lines_with_context() {
        let before =
            json!({"metadata": {"labels": {"kubefed.io/managed": "true"}}, "data": {"a": "1", "b": "2"}});
        let after = json!({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "c", "namespace": "n", "labels": {"kubefed.io/managed": "true"}},
                           "data": {"a": "1", "b": "3"}});
        let text = unified(Some(&before), Some(&after), "m1", "configmap/c -n n").expect("renders");
        assert!(text.starts_with("--- m1 configmap/c -n n (live: fields kubefed manages)\n+++ m1 configmap/c -n n (after apply)\n"), "{text}");
        assert!(
            text.contains("\n-  b: '2'\n+  b: '3'\n") || text.contains("\n-  b: \"2\"\n+  b: \"3\"\n"),
            "{text}"
        );
        assert!(!text.contains("-  a:"), "{text}");
        let create = unified(None, Some(&after), "m1", "configmap/c -n n").expect("renders");
        assert!(create.starts_with("--- /dev/null\n"), "{create}");
        assert!(create.lines().skip(3).all(|l| l.starts_with('+')), "{create}");
        assert_eq!(
            unified(Some(&after), Some(&after), "m1", "x").expect("renders"),
            ""
        );
    }
}
