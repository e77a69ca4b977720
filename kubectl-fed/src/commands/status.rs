//! `kubectl fed status KIND/NAME` (or `-f app.yaml`): where a federated object runs, one row per joined
//! cluster — placed there?, the controller's propagation status for it, ready/desired replicas, the
//! problem if any — and the overall `Propagation` condition.
//!
//! Everything comes from the host: placement is resolved with `kubefed_core`'s own
//! [`resolve_placement`] against the KubeFedClusters, desired replicas from the template and that cluster's
//! overrides ([`overrides_for_cluster`]), and the rest from the object's `status` (per-cluster status,
//! `remoteStatus`, `aggregated`). For a Service, a second table says where it is exported and imported
//! (Multi-Cluster Services), read from each member. Colour only when stdout is a terminal and `NO_COLOR` is unset.

use std::io::IsTerminal;

use anyhow::Context;
use kube::Api;
use kube::api::ListParams;
use kubefed_core::api::{FederatedObject, FederatedTypeConfig, KubeFedCluster, federated_api_resource};
use kubefed_core::placement::{ClusterInfo, resolve_placement};
use kubefed_core::typeinfo::{Scope, TargetType};
use kubefed_core::{ManifestObject, overrides_for_cluster};
use serde_json::Value;

use crate::cli::{GlobalArgs, InputArgs, StatusArgs};
use crate::client::{Connection, Host, is_not_found, message};
use crate::{members, output};

/// Runs `kubectl fed status`.
pub async fn run(global: &GlobalArgs, args: &StatusArgs) -> anyhow::Result<()> {
    let connection = Connection::from_args(global);
    let default_ns = args
        .namespace
        .clone()
        .or_else(|| connection.context_namespace())
        .unwrap_or_else(|| "default".into());
    // What to show: (kind or resource name, object name, namespace given by the manifest).
    let mut wanted: Vec<(String, String, Option<String>)> = Vec::new();
    if let Some(target) = &args.target {
        let Some((kind, name)) = target
            .split_once('/')
            .filter(|(k, n)| !k.is_empty() && !n.is_empty())
        else {
            anyhow::bail!("invalid {target:?}: expected KIND/NAME, e.g. deployment/web or deploy/web");
        };
        wanted.push((kind.to_string(), name.to_string(), None));
    } else if !args.filenames.is_empty() {
        let input = InputArgs {
            filenames: args.filenames.clone(),
            recursive: args.recursive,
        };
        let objects: Vec<ManifestObject> = super::read_input(&input)?;
        for o in objects {
            wanted.push((
                o.kind().to_string(),
                o.name().to_string(),
                o.namespace().map(str::to_string),
            ));
        }
    } else {
        anyhow::bail!("say what to show: KIND/NAME (e.g. deploy/web) or -f FILE");
    }

    let host = connection
        .connect(None)
        .await
        .context("while connecting to the host cluster")?;
    let ns = &global.kubefed_namespace;
    let configs = members::type_configs(&host, ns).await?;
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    // Resolve every KIND first: a typo fails before anything is shown.
    let mut objects = Vec::new();
    for (kind, name, manifest_ns) in &wanted {
        let target = resolve_kind(&configs, kind)?;
        let namespace = match (target.is_namespace(), target.scope) {
            (true, _) => Some(name.clone()),
            (false, Scope::Cluster) => None,
            (false, Scope::Namespaced) => Some(manifest_ns.clone().unwrap_or_else(|| default_ns.clone())),
        };
        objects.push((target, namespace, name.clone()));
    }

    if !args.watch {
        let (out, failed) = render_all(&host, &connection, ns, &objects, colour).await?;
        output::print_stdout(&out)?;
        if failed > 0 {
            anyhow::bail!(
                "{failed} of {} object{} not found",
                objects.len(),
                if objects.len() == 1 { "" } else { "s" }
            );
        }
        return Ok(());
    }
    watch(&host, &connection, ns, &objects, colour, args.watch_timeout).await
}

/// Renders every object: the text and how many were not found.
async fn render_all(
    host: &Host,
    connection: &Connection,
    ns: &str,
    objects: &[(TargetType, Option<String>, String)],
    colour: bool,
) -> anyhow::Result<(String, usize)> {
    let kfcs: Api<KubeFedCluster> = Api::namespaced(host.client.clone(), ns);
    let kfc_list = kfcs
        .list(&ListParams::default())
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))
        .with_context(|| host.doing("listing KubeFedClusters"))?
        .items;
    let mut clusters: Vec<ClusterInfo> = kfc_list.iter().map(ClusterInfo::from_cluster).collect();
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    let mut failed = 0;
    let mut out = String::new();
    for (i, (target, namespace, name)) in objects.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match fetch(host, target, namespace.as_deref(), name).await? {
            Some(fed) => {
                out.push_str(&render(&fed, target, &clusters, colour));
                if target.group.is_empty()
                    && target.kind == "Service"
                    && let Some(ns) = namespace.as_deref()
                {
                    out.push_str(&discovery::section(connection, &kfc_list, ns, name).await);
                }
            }
            None => {
                failed += 1;
                out.push_str(&format!(
                    "{}/{name}{}: not found on the host; apply it with `kubectl fed apply -f …`\n",
                    target.federated_kind().to_ascii_lowercase(),
                    namespace
                        .as_ref()
                        .map(|n| format!(" in namespace {n}"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    Ok((out, failed))
}

/// `--watch`: renders, then again whenever one of the federated objects or a KubeFedCluster changes, until
/// Ctrl-C or `limit` (0: no limit). Changes are watched, not polled; a burst of events renders once.
async fn watch(
    host: &Host,
    connection: &Connection,
    ns: &str,
    objects: &[(TargetType, Option<String>, String)],
    colour: bool,
    limit: std::time::Duration,
) -> anyhow::Result<()> {
    use futures::StreamExt;
    use kube::runtime::watcher;

    let mut streams = Vec::new();
    for (target, namespace, name) in objects {
        let ar = federated_api_resource(target);
        let api: Api<kube::api::DynamicObject> = match namespace {
            Some(n) => Api::namespaced_with(host.client.clone(), n, &ar),
            None => Api::all_with(host.client.clone(), &ar),
        };
        let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
        streams.push(watcher(api, cfg).map(|e| e.map(|_| ())).boxed());
    }
    let kfcs: Api<KubeFedCluster> = Api::namespaced(host.client.clone(), ns);
    streams.push(
        watcher(kfcs, watcher::Config::default())
            .map(|e| e.map(|_| ()))
            .boxed(),
    );
    let mut events = futures::stream::select_all(streams);
    let deadline = (!limit.is_zero()).then(|| tokio::time::Instant::now() + limit);
    let until_deadline = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until_deadline);
    let clear = colour; // Only a terminal is redrawn in place; a pipe gets one block per change.
    let mut last = String::new();
    loop {
        let (out, _) = render_all(host, connection, ns, objects, colour).await?;
        if out != last {
            let text = if clear {
                format!("\x1b[2J\x1b[H{out}")
            } else if last.is_empty() {
                out.clone()
            } else {
                format!("\n{out}")
            };
            output::print_stdout(&text)?;
            last = out;
        }
        // Wait for a change, then let a burst settle.
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(())) => {}
                Some(Err(e)) => tracing::debug!(error = %e, "watch error; the watcher retries"),
                None => return Ok(()),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = &mut until_deadline => return Ok(()),
        }
        let settle = tokio::time::sleep(std::time::Duration::from_millis(200));
        tokio::pin!(settle);
        loop {
            tokio::select! {
                () = &mut settle => break,
                event = events.next() => if event.is_none() { break },
            }
        }
    }
}

/// Where a federated Service is exported and imported (Multi-Cluster Services), read from each member
/// through the kubeconfig context `join` used (`kubefed.io/member-context`, else the cluster's name).
mod discovery {
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use kube::Api;
    use kube::api::ListParams;
    use kubefed_core::api::KubeFedCluster;
    use kubefed_core::mcs::{
        CONDITION_CONFLICT, CONDITION_VALID, LABEL_SERVICE_NAME, ServiceExport, ServiceImport,
    };
    use kubefed_core::membership::MEMBER_CONTEXT_ANNOTATION;

    use crate::client::{Connection, message};
    use crate::{members, output};

    /// The "Service discovery" section: one row per joined cluster.
    pub async fn section(connection: &Connection, kfcs: &[KubeFedCluster], ns: &str, name: &str) -> String {
        let mut rows = Vec::new();
        let mut any = false;
        for kfc in kfcs {
            let cluster = kfc.metadata.name.clone().unwrap_or_default();
            let context = kfc
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(MEMBER_CONTEXT_ANNOTATION))
                .cloned()
                .unwrap_or_else(|| cluster.clone());
            let row = match read(connection, &context, ns, name).await {
                Ok((export, import, endpoints)) => {
                    any |= export.is_some() || import.is_some();
                    let (e, i, n) = cells(export.as_ref(), import.as_ref(), endpoints);
                    vec![cluster, e, i, n]
                }
                Err(e) => vec![
                    cluster,
                    "?".into(),
                    "?".into(),
                    format!("cannot read (context {context:?}): {e}"),
                ],
            };
            rows.push(row);
        }
        if !any && rows.iter().all(|r| r[1] != "?") {
            return "Service discovery: not exported from any cluster (add a ServiceExport of the same name; docs/service-discovery.md)\n".into();
        }
        format!(
            "Service discovery ({name}.{ns}.svc.clusterset.local):\n{}",
            output::table(&["CLUSTER", "EXPORTED", "IMPORTED", "ENDPOINTS"], &rows)
        )
    }

    async fn read(
        connection: &Connection,
        context: &str,
        ns: &str,
        name: &str,
    ) -> anyhow::Result<(Option<ServiceExport>, Option<ServiceImport>, usize)> {
        let member = members::connect(connection, context).await?;
        let err = |e: kube::Error| anyhow::anyhow!(message(&e));
        // A member without the MCS CRDs answers 404 for the resource: nothing exported or imported there.
        let export = match Api::<ServiceExport>::namespaced(member.client.clone(), ns)
            .get_opt(name)
            .await
        {
            Ok(e) => e,
            Err(kube::Error::Api(s)) if s.code == 404 => None,
            Err(e) => return Err(err(e)),
        };
        let import = match Api::<ServiceImport>::namespaced(member.client.clone(), ns)
            .get_opt(name)
            .await
        {
            Ok(i) => i,
            Err(kube::Error::Api(s)) if s.code == 404 => None,
            Err(e) => return Err(err(e)),
        };
        let slices = Api::<EndpointSlice>::namespaced(member.client.clone(), ns)
            .list(&ListParams::default().labels(&format!("{LABEL_SERVICE_NAME}={name}")))
            .await
            .map_err(err)?;
        let endpoints = slices.items.iter().map(|s| s.endpoints.len()).sum();
        Ok((export, import, endpoints))
    }

    /// The EXPORTED, IMPORTED and ENDPOINTS cells of one cluster.
    pub fn cells(
        export: Option<&ServiceExport>,
        import: Option<&ServiceImport>,
        endpoints: usize,
    ) -> (String, String, String) {
        let exported = match export {
            None => "no".to_string(),
            Some(e) => {
                let conds = e
                    .status
                    .as_ref()
                    .map(|s| s.conditions.as_slice())
                    .unwrap_or_default();
                let find = |t: &str| conds.iter().find(|c| c.type_ == t);
                match (find(CONDITION_VALID), find(CONDITION_CONFLICT)) {
                    (Some(v), _) if v.status == "False" => format!("invalid ({})", v.reason),
                    (_, Some(c)) if c.status == "True" => {
                        format!("yes, conflict ({}): {}", c.reason, c.message)
                    }
                    (Some(_), _) => "yes".to_string(),
                    (None, _) => "yes (not yet seen by the controller)".to_string(),
                }
            }
        };
        let imported = match import {
            None => "no".to_string(),
            Some(i) => {
                let from: Vec<String> = i
                    .status
                    .as_ref()
                    .map(|s| s.clusters.iter().map(|c| c.cluster.clone()).collect())
                    .unwrap_or_default();
                let ports: Vec<String> = i
                    .spec
                    .ports
                    .iter()
                    .map(|p| format!("{}/{}", p.port, p.protocol.as_deref().unwrap_or("TCP")))
                    .collect();
                format!("{:?} {} from {}", i.spec.type_, ports.join(","), from.join(","))
            }
        };
        (exported, imported, endpoints.to_string())
    }
}

/// The enabled type KIND names: a target's kind, plural, singular, short name or `plural.group`, or the
/// federated kind/plural/short name (`FederatedDeployment`, `fdeploy`).
fn resolve_kind(configs: &[FederatedTypeConfig], kind: &str) -> anyhow::Result<TargetType> {
    let lower = kind.to_ascii_lowercase();
    let targets: Vec<TargetType> = configs.iter().map(FederatedTypeConfig::target).collect();
    targets
        .iter()
        .find(|t| {
            t.matches(kind)
                || lower == t.federated_kind().to_ascii_lowercase()
                || lower == t.federated_plural()
                || lower == t.federated_singular()
                || t.federated_short_names().contains(&lower)
        })
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{kind:?} is not an enabled federated type; see `kubectl get federatedtypeconfigs -A`, or run \
                 `kubectl fed enable {kind}`"
            )
        })
}

async fn fetch(
    host: &Host,
    target: &TargetType,
    namespace: Option<&str>,
    name: &str,
) -> anyhow::Result<Option<FederatedObject>> {
    let ar = federated_api_resource(target);
    let api: Api<FederatedObject> = match namespace {
        Some(ns) => Api::namespaced_with(host.client.clone(), ns, &ar),
        None => Api::all_with(host.client.clone(), &ar),
    };
    match api.get_opt(name).await {
        Ok(found) => Ok(found),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(anyhow::anyhow!(message(&e)))
            .with_context(|| host.doing(format!("reading {}/{name}", ar.plural))),
    }
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    cluster: String,
    placed: bool,
    status: String,
    replicas: String,
    problem: String,
}

/// The rows: every joined cluster, placed or not, plus clusters the status names that are no longer joined.
fn rows(fed: &FederatedObject, target: &TargetType, clusters: &[ClusterInfo]) -> Vec<Row> {
    let placed = resolve_placement(&fed.spec.placement, clusters, "spec.placement").unwrap_or_default();
    let status = fed.status.as_ref();
    let mut names: Vec<String> = clusters.iter().map(|c| c.name.clone()).collect();
    for c in status.map(|s| s.clusters.as_slice()).unwrap_or_default() {
        if !names.contains(&c.name) {
            names.push(c.name.clone());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let info = clusters.iter().find(|c| c.name == name);
            let reported = status.and_then(|s| s.cluster(&name));
            let is_placed = placed.contains(&name);
            let (state, problem) = match (info, reported) {
                (None, _) => (
                    "NotJoined".to_string(),
                    "the cluster is no longer joined".to_string(),
                ),
                (_, Some(r)) if r.status.is_empty() => ("OK".to_string(), String::new()),
                (_, Some(r)) => (r.status.clone(), describe(&r.status)),
                (Some(c), None) if is_placed && !c.ready => (
                    "ClusterNotReady".to_string(),
                    "the cluster is not Ready".to_string(),
                ),
                (Some(_), None) if is_placed => ("Pending".to_string(), "not propagated yet".to_string()),
                (Some(_), None) => ("-".to_string(), String::new()),
            };
            let desired = info
                .filter(|_| target.has_replicas && is_placed)
                .and_then(|c| desired_replicas(fed, c));
            let ready = reported
                .and_then(|r| r.remote_status.as_ref())
                .map(|s| s.get("readyReplicas").and_then(Value::as_i64).unwrap_or(0));
            let replicas = match (desired, ready) {
                (Some(d), Some(r)) => format!("{r}/{d}"),
                (Some(d), None) => format!("?/{d}"),
                (None, Some(r)) => format!("{r}/?"),
                (None, None) => "-".into(),
            };
            Row {
                cluster: name,
                placed: is_placed,
                status: state,
                replicas,
                problem,
            }
        })
        .collect()
}

/// `spec.replicas` of the template after the cluster's overrides.
fn desired_replicas(fed: &FederatedObject, cluster: &ClusterInfo) -> Option<i64> {
    let mut replicas = fed
        .spec
        .template
        .pointer("/spec/replicas")
        .and_then(Value::as_i64);
    if let Ok(ops) = overrides_for_cluster(&fed.spec.overrides, cluster) {
        for op in ops.iter().filter(|o| o.path == "/spec/replicas") {
            replicas = op.value.as_ref().and_then(Value::as_i64);
        }
    }
    // A Deployment without replicas runs one.
    replicas.or(Some(1))
}

/// A sentence for a per-cluster status value.
fn describe(status: &str) -> String {
    match status {
        "ClusterNotReady" => "the cluster is not Ready".into(),
        "WaitingForRemoval" => "being removed from the cluster".into(),
        "AlreadyExists" => "an object of that name exists there and is not ours".into(),
        "ManagedLabelFalse" => "the member object is labelled kubefed.io/managed=false and left alone".into(),
        "ApplyOverridesFailed" => "the overrides for this cluster cannot be applied".into(),
        s if s.ends_with("TimedOut") => "the member API server did not answer in time".into(),
        s if s.ends_with("Failed") => "see `kubectl describe` on the federated object for the error".into(),
        _ => String::new(),
    }
}

fn render(fed: &FederatedObject, target: &TargetType, clusters: &[ClusterInfo], colour: bool) -> String {
    let paint = |text: &str, code: &str| {
        if colour && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let name = fed.metadata.name.clone().unwrap_or_default();
    let at = fed
        .metadata
        .namespace
        .as_ref()
        .map(|n| format!(" (namespace {n})"))
        .unwrap_or_default();
    let mut out = format!("{}/{name}{at}\n", target.federated_kind().to_ascii_lowercase());
    let status = fed.status.as_ref();
    let condition = status.and_then(|s| s.propagation_condition());
    let overall = match condition {
        Some(c) => {
            let text = format!(
                "Propagation: {}{}{}",
                c.status.as_str(),
                c.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default(),
                c.message.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
            );
            match c.status {
                kubefed_core::api::ConditionStatus::True => paint(&text, "32"),
                _ => paint(&text, "31"),
            }
        }
        None => paint("Propagation: Unknown (the controller has not reported yet)", "33"),
    };
    out.push_str(&overall);
    let stale = status
        .and_then(|s| s.observed_generation)
        .zip(fed.metadata.generation)
        .is_some_and(|(o, g)| o < g);
    if stale {
        out.push_str(" [status is for an older generation]");
    }
    out.push('\n');
    if let Some(a) = status.and_then(|s| s.aggregated.as_ref())
        && let Some(total) = a.replicas
    {
        out.push_str(&format!(
            "Replicas: {}/{total} ready\n",
            a.ready_replicas.unwrap_or(0)
        ));
    }
    let rows = rows(fed, target, clusters);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.cluster.clone(),
                if r.placed { "yes".into() } else { "no".into() },
                r.status.clone(),
                r.replicas.clone(),
                r.problem.clone(),
            ]
        })
        .collect();
    let text = output::table(
        &["CLUSTER", "PLACED", "STATUS", "READY/DESIRED", "PROBLEM"],
        &table,
    );
    if colour {
        // Colour the STATUS cells after layout, so escape codes do not upset the column widths.
        for (line, r) in text
            .lines()
            .zip(std::iter::once(None).chain(rows.iter().map(Some)))
        {
            let painted = match r {
                Some(r) if r.status == "OK" => line.replacen(" OK ", &format!(" {} ", paint("OK", "32")), 1),
                Some(r) if r.status != "-" && !r.status.is_empty() => line.replacen(
                    &format!(" {} ", r.status),
                    &format!(" {} ", paint(&r.status, "31")),
                    1,
                ),
                _ => line.to_string(),
            };
            out.push_str(&painted);
            out.push('\n');
        }
    } else {
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn fed(value: Value) -> FederatedObject {
        serde_json::from_value(value).expect("valid federated object")
    }

    #[test]
    fn rows_per_cluster() {
        let deploy = kubefed_core::find_default_type("deployments").expect("default");
        let obj = fed(json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": "shop", "generation": 2},
            "spec": {
                "template": {"spec": {"replicas": 2}},
                "placement": {"clusters": [{"name": "eu-1"}, {"name": "us-1"}]},
                "overrides": [{"clusterName": "us-1", "clusterOverrides": [{"path": "/spec/replicas", "value": 5}]}]
            },
            "status": {
                "observedGeneration": 2,
                "conditions": [{"type": "Propagation", "status": "False", "reason": "CheckClusters"}],
                "clusters": [
                    {"name": "eu-1", "status": "", "remoteStatus": {"readyReplicas": 2}},
                    {"name": "us-1", "status": "CreationFailed"},
                    {"name": "gone", "status": ""}
                ]
            }
        }));
        let clusters = vec![
            ClusterInfo::new("eu-1", BTreeMap::new(), true),
            ClusterInfo::new("us-1", BTreeMap::new(), true),
            ClusterInfo::new("ap-1", BTreeMap::new(), false),
        ];
        let rows = rows(&obj, &deploy, &clusters);
        let brief: Vec<(&str, bool, &str, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r.cluster.as_str(),
                    r.placed,
                    r.status.as_str(),
                    r.replicas.as_str(),
                )
            })
            .collect();
        assert_eq!(
            brief,
            [
                ("eu-1", true, "OK", "2/2"),
                ("us-1", true, "CreationFailed", "?/5"),
                ("ap-1", false, "-", "-"),
                ("gone", false, "NotJoined", "-"),
            ]
        );
        let text = render(&obj, &deploy, &clusters, false);
        assert!(
            text.starts_with(
                "federateddeployment/web (namespace shop)\nPropagation: False (CheckClusters)\n"
            ),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "no colour off a terminal");
        assert!(render(&obj, &deploy, &clusters, true).contains("\x1b[31mCreationFailed\x1b[0m"));
    }

    #[test]
    fn discovery_cells_say_where_a_service_is_exported_and_imported() {
        use kubefed_core::mcs::{ServiceExport, ServiceImport};
        let export: ServiceExport = serde_json::from_value(json!({
            "apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceExport",
            "metadata": {"name": "web", "namespace": "ns"},
            "status": {"conditions": [
                {"type": "Valid", "status": "True", "reason": "Valid", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Conflict", "status": "True", "reason": "PortConflict", "message": "port 80 vs 8080", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
        .expect("valid export");
        let import: ServiceImport = serde_json::from_value(json!({
            "apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceImport",
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"type": "ClusterSetIP", "ports": [{"port": 80, "protocol": "TCP"}]},
            "status": {"clusters": [{"cluster": "a"}, {"cluster": "b"}]}
        }))
        .expect("valid import");
        let (e, i, n) = discovery::cells(Some(&export), Some(&import), 3);
        assert_eq!(e, "yes, conflict (PortConflict): port 80 vs 8080");
        assert_eq!(i, "ClusterSetIP 80/TCP from a,b");
        assert_eq!(n, "3");
        assert_eq!(
            discovery::cells(None, None, 0),
            ("no".into(), "no".into(), "0".into())
        );
    }

    #[test]
    fn kinds_resolve_by_target_or_federated_name() {
        let configs: Vec<FederatedTypeConfig> = kubefed_core::default_types()
            .iter()
            .map(|t| FederatedTypeConfig::for_target(t, "kube-federation-system"))
            .collect();
        for name in [
            "deploy",
            "Deployment",
            "deployments.apps",
            "FederatedDeployment",
            "fdeploy",
        ] {
            assert_eq!(
                resolve_kind(&configs, name).expect(name).kind,
                "Deployment",
                "{name}"
            );
        }
        let err = resolve_kind(&configs, "statefulset")
            .expect_err("not enabled")
            .to_string();
        assert!(err.contains("kubectl fed enable statefulset"), "{err}");
    }
}
