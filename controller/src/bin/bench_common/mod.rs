//! What the propagation benchmarks share (`kubefed-controller-bench`, `kubefed-sidebyside-bench`): the
//! workload, and how a process's memory, CPU and the members' request counts are read.
// Each benchmark binary uses a part of this module.
#![allow(dead_code)]

use std::time::Duration;

use anyhow::Context;
use kube::api::DynamicObject;
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

pub fn deployments() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", "Deployment"), "deployments")
}

pub fn fed_deployments() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("types.kubefed.io", "v1beta1", "FederatedDeployment"),
        "federateddeployments",
    )
}

/// A realistic FederatedDeployment: probes, resources, env, labels and annotations; overrides by cluster name
/// (member-2 replicas) and by cluster label (region=eu gets an annotation).
pub fn federated_deployment(ns: &str, i: usize, members: &[String]) -> Value {
    let placement: Vec<Value> = members.iter().map(|m| json!({"name": m})).collect();
    let name = format!("web-{i}");
    json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": name, "tier": "frontend"},
                             "annotations": {"team": "payments", "bench/rev": "r0"}},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name, "tier": "frontend"}},
                        "spec": {"containers": [web_container(i)]}
                    }
                }
            },
            "placement": {"clusters": placement},
            "overrides": [
                {"clusterName": "member-2", "clusterOverrides": [{"path": "/spec/replicas", "value": 3}]},
                {"clusterSelector": {"matchLabels": {"region": "eu"}},
                 "clusterOverrides": [{"op": "add", "path": "/metadata/annotations/region", "value": "eu"}]}
            ]
        }
    })
}

/// Whether a federated object is propagated for its current generation.
pub fn propagated(o: &DynamicObject) -> bool {
    let s = &o.data["status"];
    let ok = s["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Propagation" && c["status"] == "True")
    });
    ok && s["observedGeneration"].as_i64() == o.metadata.generation
}

/// `VmHWM` and `VmRSS` of `pid`, in bytes.
pub fn memory(pid: u32) -> (u64, u64) {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (0, 0);
    };
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// User + system CPU time of `pid` (all its threads), from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Duration {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    });
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may contain spaces) start at field 3; utime, stime are 14, 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Duration::from_secs_f64((field(14) + field(15)) / ticks)
}

/// CPU time used so far by the testbed's API servers and etcds (their watchdogs write each one's pid next to
/// its log, `<dir>/<cluster>/{kube-apiserver,etcd}.log.pid`): what the requests cost the clusters, whoever
/// sent them.
#[allow(dead_code)] // used by one of the two benches
pub fn control_plane_cpu(testbed_dir: &std::path::Path) -> Duration {
    let Ok(clusters) = std::fs::read_dir(testbed_dir) else {
        return Duration::ZERO;
    };
    clusters
        .flatten()
        .flat_map(|c| ["kube-apiserver.log.pid", "etcd.log.pid"].map(|f| c.path().join(f)))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|pid| pid.trim().parse::<u32>().ok())
        .map(cpu_time)
        .sum()
}

/// A loopback port nobody listens on right now (for the controller's /metrics).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `kubefed_controller_reconciles_total` summed over types and results, from the controller's /metrics.
pub async fn reconciles(port: u16) -> Option<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .ok()?;
    let mut body = String::new();
    conn.read_to_string(&mut body).await.ok()?;
    Some(
        body.lines()
            .filter(|l| l.starts_with("kubefed_controller_reconciles_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum(),
    )
}

/// Deployment requests each member's API server served so far.
pub async fn member_requests(
    members: &[(String, kube::Client)],
) -> anyhow::Result<Vec<std::collections::HashMap<String, u64>>> {
    let mut out = Vec::new();
    for (m, c) in members {
        out.push(
            kubefed_tests::requests::served(c, &["deployments"])
                .await
                .with_context(|| format!("reading {m}'s request counts"))?,
        );
    }
    Ok(out)
}

/// Writes and reads of Deployments over all members since `before`.
pub async fn member_requests_since(
    members: &[(String, kube::Client)],
    before: &[std::collections::HashMap<String, u64>],
) -> anyhow::Result<(u64, u64)> {
    let now = member_requests(members).await?;
    Ok(now.iter().zip(before).fold((0, 0), |(w, r), (n, b)| {
        let (dw, dr) =
            kubefed_tests::requests::writes_reads(&kubefed_tests::requests::delta(n, b), "deployments");
        (w + dw, r + dr)
    }))
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Joins the testbed's `n` members (`member-1`…, regions eu, us, eu, …): their names and clients.
pub async fn join_members(
    tb: &kubefed_tests::Testbed,
    host: &kube::Client,
    n: usize,
) -> anyhow::Result<(Vec<String>, Vec<(String, kube::Client)>)> {
    let names: Vec<String> = (1..=n).map(|i| format!("member-{i}")).collect();
    let mut members = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let region = if i % 2 == 0 { "eu" } else { "us" };
        let labels = std::collections::BTreeMap::from([("region".into(), region.into())]);
        kubefed_tests::fixtures::join(tb, host, name, labels)
            .await
            .with_context(|| format!("joining {name}"))?;
        members.push((name.clone(), tb.client(name).await?));
    }
    Ok((names, members))
}

/// A fresh namespace on the host, federated to every member (a FederatedNamespace with an empty selector).
pub async fn bench_namespace(tb: &kubefed_tests::Testbed, host: &kube::Client) -> anyhow::Result<String> {
    let ns = tb.namespace("bench", &[kubefed_tests::testbed::HOST]).await?;
    kubefed_tests::fixtures::federate_namespace(host, &ns).await?;
    Ok(ns)
}

/// The container of every bench Deployment (both benches' workloads: the same pod for KubeFed and ours).
pub fn web_container(i: usize) -> serde_json::Value {
    serde_json::json!({
        "name": "web", "image": "nginx:1.27",
        "ports": [{"containerPort": 8080, "name": "http"}],
        "env": [{"name": "MODE", "value": "production"}, {"name": "INDEX", "value": i.to_string()}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "500m", "memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    })
}
