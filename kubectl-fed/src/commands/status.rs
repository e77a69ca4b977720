//! `kubectl fed status KIND/NAME` (or `-f app.yaml`): where a federated object runs, one row per joined
//! cluster — placed there?, the controller's propagation status for it, ready/desired replicas, the
//! problem if any — and the overall `Propagation` condition.
//!
//! Everything comes from the host: placement is resolved with `kubefed_core`'s own
//! [`resolve_placement`] against the KubeFedClusters, desired replicas from the template and that cluster's
//! overrides ([`overrides_for_cluster`]), and the rest from the object's `status` (per-cluster status,
//! `remoteStatus`, `aggregated`). Colour only when stdout is a terminal and `NO_COLOR` is unset.

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
        let (out, failed) = render_all(&host, ns, &objects, colour).await?;
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
    watch(&host, ns, &objects, colour, args.watch_timeout).await
}

/// Renders every object: the text and how many were not found.
async fn render_all(
    host: &Host,
    ns: &str,
    objects: &[(TargetType, Option<String>, String)],
    colour: bool,
) -> anyhow::Result<(String, usize)> {
    let kfcs: Api<KubeFedCluster> = Api::namespaced(host.client.clone(), ns);
    let mut clusters: Vec<ClusterInfo> = kfcs
        .list(&ListParams::default())
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))
        .with_context(|| host.doing("listing KubeFedClusters"))?
        .items
        .iter()
        .map(ClusterInfo::from_cluster)
        .collect();
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    let mut failed = 0;
    let mut out = String::new();
    for (i, (target, namespace, name)) in objects.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match fetch(host, target, namespace.as_deref(), name).await? {
            Some(fed) => out.push_str(&render(&fed, target, &clusters, colour)),
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
        let (out, _) = render_all(host, ns, objects, colour).await?;
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
