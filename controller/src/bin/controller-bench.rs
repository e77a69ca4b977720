//! `kubefed-controller-bench`: the propagation controller on the testbed (host + 2 members), measured.
//!
//! 1. Boots the testbed, installs kubefed, joins both members, federates namespace `bench`.
//! 2. Stores `--objects` FederatedDeployments with overrides (by cluster name and by cluster label) on the
//!    host *before* the controller runs.
//! 3. Starts the real `kubefed-controller` binary (from the same directory as this one) and measures the
//!    time until every object has `Propagation=True` for its current generation.
//! 4. Makes `--updates` template changes one at a time and measures, for each, the time from the host
//!    write to the change being visible in both members (watches on the members; p50/p90/p99/max).
//! 5. Reports the controller's peak resident memory (`VmHWM`).
//!
//! Members run without kube-controller-manager unless `--controller-manager` is given: 10,000
//! Deployments would otherwise have the members' controllers create 10,000s of ReplicaSets and Pods on the
//! same two cores, which measures them rather than us. Everything runs on 127.0.0.1, and every phase is
//! bounded in time (`--timeout`).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kubefed_tests::fixtures::{install_kubefed, join};
use kubefed_tests::testbed::HOST;
use kubefed_tests::{ClusterOptions, Testbed, TestbedOptions};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Measures propagation on the testbed: convergence from controller start, update latency, peak memory.
#[derive(Parser, Debug)]
#[command(name = "kubefed-controller-bench", version)]
struct Args {
    /// FederatedDeployments to propagate.
    #[arg(long, default_value_t = 1000)]
    objects: usize,
    /// Template updates to time, one at a time.
    #[arg(long, default_value_t = 200)]
    updates: usize,
    /// The controller's --concurrency.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
    /// The controller's --member-qps.
    #[arg(long, default_value_t = 500.0)]
    member_qps: f64,
    /// The controller's --member-burst.
    #[arg(long, default_value_t = 1000)]
    member_burst: u32,
    /// Run kube-controller-manager in every cluster (members then create ReplicaSets and Pods).
    #[arg(long)]
    controller_manager: bool,
    /// The kubefed-controller binary (default: next to this one).
    #[arg(long)]
    controller_bin: Option<PathBuf>,
    /// Limit for each phase, in seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
}

fn deployments() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", "Deployment"), "deployments")
}

fn fed_deployments() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("types.kubefed.io", "v1beta1", "FederatedDeployment"),
        "federateddeployments",
    )
}

/// A realistic FederatedDeployment: probes, resources, env, labels and annotations; overrides by cluster name
/// (member-2 replicas) and by cluster label (region=eu gets an annotation).
fn federated_deployment(ns: &str, i: usize) -> Value {
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
                        "spec": {"containers": [{
                            "name": "web", "image": "nginx:1.27",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "env": [{"name": "MODE", "value": "production"}, {"name": "INDEX", "value": i.to_string()}],
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                          "limits": {"cpu": "500m", "memory": "256Mi"}},
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
                            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
                        }]}
                    }
                }
            },
            "placement": {"clusters": [{"name": "member-1"}, {"name": "member-2"}]},
            "overrides": [
                {"clusterName": "member-2", "clusterOverrides": [{"path": "/spec/replicas", "value": 3}]},
                {"clusterSelector": {"matchLabels": {"region": "eu"}},
                 "clusterOverrides": [{"op": "add", "path": "/metadata/annotations/region", "value": "eu"}]}
            ]
        }
    })
}

/// Whether a federated object is propagated for its current generation.
fn propagated(o: &DynamicObject) -> bool {
    let s = &o.data["status"];
    let ok = s["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Propagation" && c["status"] == "True")
    });
    ok && s["observedGeneration"].as_i64() == o.metadata.generation
}

/// `VmHWM` and `VmRSS` of `pid`, in bytes.
fn memory(pid: u32) -> (u64, u64) {
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let limit = Duration::from_secs(args.timeout);
    let controller_bin = match &args.controller_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .context("locating this executable")?
            .with_file_name("kubefed-controller"),
    };
    if !controller_bin.is_file() {
        bail!(
            "{} not found; build it with `cargo build --release -p kubefed-controller` (or pass --controller-bin)",
            controller_bin.display()
        );
    }

    eprintln!("booting the testbed (host + 2 members)…");
    let opts = TestbedOptions {
        members: 2,
        cluster: ClusterOptions {
            controller_manager: args.controller_manager,
            ..ClusterOptions::default()
        },
        ..Default::default()
    };
    let tb = Testbed::start(opts).context("starting the testbed")?;
    eprintln!("testbed ready in {:.1}s", tb.boot_time().as_secs_f64());
    let host = install_kubefed(&tb).await?;
    join(
        &tb,
        &host,
        "member-1",
        BTreeMap::from([("region".into(), "eu".into())]),
    )
    .await?;
    join(
        &tb,
        &host,
        "member-2",
        BTreeMap::from([("region".into(), "us".into())]),
    )
    .await?;
    let ns = tb.namespace("bench", &[HOST]).await?;
    let fns: Api<DynamicObject> = Api::namespaced_with(
        host.clone(),
        &ns,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("types.kubefed.io", "v1beta1", "FederatedNamespace"),
            "federatednamespaces",
        ),
    );
    fns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace",
            "metadata": {"name": ns, "namespace": ns},
            "spec": {"placement": {"clusterSelector": {}}}
        }))?,
    )
    .await?;

    // Store every object before the controller starts.
    let fed: Api<DynamicObject> = Api::namespaced_with(host.clone(), &ns, &fed_deployments());
    let started = Instant::now();
    futures::stream::iter(0..args.objects)
        .map(|i| {
            let fed = fed.clone();
            let ns = ns.clone();
            async move {
                let obj: DynamicObject = serde_json::from_value(federated_deployment(&ns, i))?;
                fed.create(&PostParams::default(), &obj).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .context("creating the FederatedDeployments")?;
    eprintln!(
        "stored {} FederatedDeployments in {:.1}s",
        args.objects,
        started.elapsed().as_secs_f64()
    );

    // Watch propagation on the host and the member Deployments before the controller starts.
    let (fed_tx, mut fed_rx) = mpsc::unbounded_channel::<(String, bool)>();
    let fed_watch = tokio::spawn({
        let fed = fed.clone();
        async move {
            let mut s = watcher(fed, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(Ok(o)) = s.next().await {
                if fed_tx
                    .send((o.metadata.name.clone().unwrap_or_default(), propagated(&o)))
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    let (member_tx, mut member_rx) = mpsc::unbounded_channel::<(String, String, String)>();
    let mut member_watches = Vec::new();
    for m in ["member-1", "member-2"] {
        let api: Api<DynamicObject> = Api::namespaced_with(tb.client(m).await?, &ns, &deployments());
        let tx = member_tx.clone();
        member_watches.push(tokio::spawn(async move {
            let mut s = watcher(api, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(Ok(o)) = s.next().await {
                let rev = o
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("bench/rev"))
                    .cloned()
                    .unwrap_or_default();
                if tx
                    .send((m.to_string(), o.metadata.name.clone().unwrap_or_default(), rev))
                    .is_err()
                {
                    return;
                }
            }
        }));
    }

    let log = tb.dir.join("kubefed-controller.log");
    let log_file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut child = tokio::process::Command::new(&controller_bin)
        .arg("--kubeconfig")
        .arg(&tb.kubeconfig)
        .args(["--context", HOST, "--metrics-addr", "off"])
        .arg("--concurrency")
        .arg(args.concurrency.to_string())
        .arg("--member-qps")
        .arg(args.member_qps.to_string())
        .arg("--member-burst")
        .arg(args.member_burst.to_string())
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", controller_bin.display()))?;
    let t0 = Instant::now();
    let pid = child.id().context("the controller exited at once")?;
    eprintln!("controller started (pid {pid}, log {})", log.display());

    // Phase 1: every object Propagation=True.
    let mut state: HashMap<String, bool> = HashMap::new();
    let mut done = 0usize;
    let mut peak_sampled = 0u64;
    let mut last_report = Instant::now();
    let converged = loop {
        if done == args.objects {
            break t0.elapsed();
        }
        if t0.elapsed() > limit {
            bail!(
                "only {done} of {} objects propagated after {limit:?}; see {}",
                args.objects,
                log.display()
            );
        }
        if let Some(status) = child.try_wait()? {
            bail!("the controller exited ({status}); see {}", log.display());
        }
        match tokio::time::timeout(Duration::from_millis(100), fed_rx.recv()).await {
            Ok(Some((name, ok))) => {
                let was = state.insert(name, ok).unwrap_or(false);
                match (was, ok) {
                    (false, true) => done += 1,
                    (true, false) => done -= 1,
                    _ => {}
                }
            }
            Ok(None) => bail!("the host watch ended"),
            Err(_) => {}
        }
        peak_sampled = peak_sampled.max(memory(pid).1);
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "  {:>6.1}s: {done}/{} propagated",
                t0.elapsed().as_secs_f64(),
                args.objects
            );
            last_report = Instant::now();
        }
    };
    let (hwm_converged, _) = memory(pid);
    eprintln!("converged in {:.2}s", converged.as_secs_f64());

    // Phase 2: update latency, one update at a time.
    while member_rx.try_recv().is_ok() {}
    let mut latencies = Vec::with_capacity(args.updates);
    for u in 0..args.updates {
        let name = format!("web-{}", (u * 7919) % args.objects.max(1));
        let rev = format!("u{u}");
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {"bench/rev": rev}}}}});
        let t = Instant::now();
        fed.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        let mut seen = [false, false];
        while !(seen[0] && seen[1]) {
            let left = Duration::from_secs(30).saturating_sub(t.elapsed());
            match tokio::time::timeout(left, member_rx.recv()).await {
                Ok(Some((m, n, r))) if n == name && r == rev => seen[usize::from(m == "member-2")] = true,
                Ok(Some(_)) => {}
                Ok(None) => bail!("a member watch ended"),
                Err(_) => bail!(
                    "update {u} of {name} not seen in both members within 30s; see {}",
                    log.display()
                ),
            }
        }
        latencies.push(t.elapsed());
        peak_sampled = peak_sampled.max(memory(pid).1);
    }
    latencies.sort();
    let (hwm, rss) = memory(pid);
    let _ = child.kill().await;
    fed_watch.abort();
    for w in member_watches {
        w.abort();
    }

    let per_sec = args.objects as f64 / converged.as_secs_f64().max(1e-9);
    println!(
        "kubefed-controller-bench: {} FederatedDeployments × 2 members",
        args.objects
    );
    println!(
        "  convergence (controller start → all Propagation=True): {:.2}s ({per_sec:.0} objects/s)",
        converged.as_secs_f64()
    );
    if !latencies.is_empty() {
        println!(
            "  update → both members ({} updates): p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            latencies.len(),
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.90).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    }
    println!(
        "  controller memory: peak RSS {:.0} MiB (after convergence {:.0} MiB, at end {:.0} MiB)",
        mib(hwm.max(peak_sampled)),
        mib(hwm_converged),
        mib(rss)
    );
    for (name, bytes) in tb.memory_per_cluster() {
        println!("  testbed {name}: {:.0} MiB resident", mib(bytes));
    }
    Ok(())
}
