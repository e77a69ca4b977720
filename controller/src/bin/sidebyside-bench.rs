//! `kubefed-sidebyside-bench`: our propagation controller side by side with KubeFed v0.10.0's
//! controller-manager, on identical fresh testbeds (host + `--members` members, real kube-apiservers), one
//! after the other in the same run:
//!
//! 1. KubeFed's `controller-manager` (built by `hack/build-kubefed.sh controller-manager`) with KubeFed's own
//!    CRDs from its chart, a KubeFedConfig `kubefed`, FederatedTypeConfigs for namespaces and deployments.apps,
//!    and the members joined as `kubectl fed join` joins them (token Secret + KubeFedCluster);
//! 2. `kubefed-controller` at its defaults;
//! 3. `kubefed-controller --member-qps 20 --member-burst 30`, KubeFed's hard-coded member client budget
//!    (`KubeAPIQPS`/`KubeAPIBurst` in KubeFed's pkg/controller/util/cluster_util.go).
//!
//! Each run starts the controller as a separate process, waits until it has propagated the federated namespace
//! to every member (so start-up and cluster health checks are not timed), then creates `--objects`
//! FederatedDeployments with an override per member (`kubefed-controller-bench`'s workload, cut to what KubeFed
//! supports) and times until every
//! member holds every Deployment (create), then changes every object's template and times until every member
//! shows every change (update) — both observed by watches on the members, the same way for both tools. It
//! counts the Deployment requests the members' API servers served during the create phase, and reads the
//! controller's peak RSS (`VmHWM`) and CPU time. Without a KubeFed binary it says so and measures ours only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kubefed_core::api::FederatedTypeConfig;
use kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
use kubefed_tests::fixtures::install_kubefed;
use kubefed_tests::testbed::{HOST, install_crds};
use kubefed_tests::{ClusterOptions, Testbed, TestbedOptions};
use serde_json::{Value, json};
use tokio::sync::mpsc;

mod bench_common;
use bench_common::*;

/// KubeFed's member client budget, hard-coded in v0.10.0 (pkg/controller/util/cluster_util.go).
const KUBEFED_QPS: f64 = 20.0;
const KUBEFED_BURST: u32 = 30;

/// Our controller and KubeFed's, one after the other on identical fresh testbeds.
#[derive(Parser, Debug)]
#[command(name = "kubefed-sidebyside-bench", version)]
struct Args {
    /// FederatedDeployments to create (each with overrides), placed on every member.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    objects: u32,
    /// Member clusters.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=10))]
    members: u16,
    /// KubeFed v0.10.0's controller-manager binary (`hack/build-kubefed.sh controller-manager`). Without it
    /// only our controller is measured.
    #[arg(long)]
    kubefed_controller_manager: Option<PathBuf>,
    /// KubeFed's CRDs (its chart's `charts/controllermanager/crds/crds.yaml` in the Go module cache).
    #[arg(long)]
    kubefed_crds: Option<PathBuf>,
    /// The kubefed-controller binary (default: next to this one).
    #[arg(long)]
    controller_bin: Option<PathBuf>,
    /// Our controller's --concurrency.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
    /// Limit for each phase, in seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Run kube-controller-manager in every cluster. Off by default, as in `kubefed-controller-bench`: neither
    /// controller needs it, and on a small machine the members' Deployment → ReplicaSet → Pod work (which a
    /// real member does on its own machines) competes for the CPU with the controller under test.
    #[arg(long)]
    controller_manager: bool,
}

#[derive(Clone)]
enum Contender {
    KubeFed {
        bin: PathBuf,
        crds: PathBuf,
    },
    Ours {
        bin: PathBuf,
        budget: Option<(f64, u32)>,
    },
}

impl Contender {
    fn label(&self) -> String {
        match self {
            Contender::KubeFed { .. } => "KubeFed v0.10.0 controller-manager".into(),
            Contender::Ours { budget: None, .. } => "kubefed-controller, defaults".into(),
            Contender::Ours {
                budget: Some((q, b)), ..
            } => format!("kubefed-controller, --member-qps {q} --member-burst {b}"),
        }
    }
}

struct Figures {
    label: String,
    create: Duration,
    update: Duration,
    /// When the host had stored every create / update (the client's side; a floor for the times above).
    create_stored: Duration,
    update_stored: Duration,
    writes: u64,
    reads: u64,
    /// Writes the host's API server served during the create phase (the bench's own creates included),
    /// and the busiest kinds of them.
    host_writes: u64,
    host_detail: String,
    copies: u64,
    peak_rss: u64,
    cpu: Duration,
}

/// The workload: `kubefed-controller-bench`'s FederatedDeployment reduced to what KubeFed v0.10.0 supports, so
/// both tools do the same work. KubeFed drops `metadata.annotations` from a template (`AnnotationsNotSupported`)
/// and knows only `clusterName` overrides, so the revision marker `bench/rev` is a pod-template annotation
/// (part of the spec) and each member gets its own override: member-1 a label, the others 3 replicas.
fn workload(ns: &str, i: usize, members: &[String]) -> Value {
    let placement: Vec<Value> = members.iter().map(|m| json!({"name": m})).collect();
    let overrides: Vec<Value> = members
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let o = if k == 0 {
                json!({"op": "add", "path": "/metadata/labels/region", "value": "eu"})
            } else {
                json!({"path": "/spec/replicas", "value": 3})
            };
            json!({"clusterName": m, "clusterOverrides": [o]})
        })
        .collect();
    let name = format!("web-{i}");
    json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": name, "tier": "frontend"}},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name, "tier": "frontend"},
                                     "annotations": {"team": "payments", "bench/rev": "r0"}},
                        "spec": {"containers": [web_container(i)]}
                    }
                }
            },
            "placement": {"clusters": placement},
            "overrides": overrides
        }
    })
}

/// The `bench/rev` marker of a member Deployment (its pod template's annotation).
fn rev(o: &DynamicObject) -> String {
    o.data["spec"]["template"]["metadata"]["annotations"]["bench/rev"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn kubefed_config() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("core.kubefed.io", "v1beta1", "KubeFedConfig"),
        "kubefedconfigs",
    )
}

/// KubeFed's control plane as its chart installs it (without the webhook, which the bench does not exercise):
/// KubeFed's CRDs, our federated-type CRDs (the schema `kubefedctl enable` would generate is the same shape;
/// KubeFed reads only `spec.template/placement/overrides`), the system namespace, the chart's KubeFedConfig
/// and FederatedTypeConfigs for namespaces (KubeFed requires it for namespaced types) and deployments.apps.
async fn install_kubefed_v010(tb: &Testbed, crds: &Path) -> anyhow::Result<kube::Client> {
    let file = crds.to_str().context("the KubeFed CRD path is not UTF-8")?;
    for args in [
        vec!["apply", "--server-side", "-f", file],
        vec![
            "wait",
            "--for",
            "condition=Established",
            "--timeout",
            "60s",
            "-f",
            file,
        ],
    ] {
        let out = tb.kubectl(&args)?;
        if !out.status.success() {
            bail!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let host = tb.client(HOST).await?;
    let types: Vec<_> = kubefed_core::default_types()
        .into_iter()
        .filter(|t| {
            matches!(
                (t.group.as_str(), t.kind.as_str()),
                ("", "Namespace") | ("apps", "Deployment")
            )
        })
        .collect();
    if types.len() != 2 {
        bail!("the built-in type table lacks Namespace or apps/Deployment");
    }
    let fed_crds: Vec<_> = types.iter().map(kubefed_core::crds::federated_crd).collect();
    install_crds(&host, &fed_crds).await?;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": DEFAULT_SYSTEM_NAMESPACE}}))?;
    Api::<Namespace>::all(host.clone())
        .create(&PostParams::default(), &ns)
        .await
        .context("creating the KubeFed namespace")?;
    // The chart's KubeFedConfig (charts/kubefed/charts/controllermanager/templates/kubefedconfig.yaml) at
    // its default values.
    let cfg: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedConfig",
        "metadata": {"name": "kubefed", "namespace": DEFAULT_SYSTEM_NAMESPACE},
        "spec": {
            "scope": "Cluster",
            "controllerDuration": {"availableDelay": "20s", "unavailableDelay": "60s", "cacheSyncTimeout": "5m"},
            "leaderElect": {"leaseDuration": "15s", "renewDeadline": "10s", "retryPeriod": "5s",
                            "resourceLock": "configmaps"},
            "clusterHealthCheck": {"period": "10s", "failureThreshold": 3, "successThreshold": 1, "timeout": "3s"},
            "syncController": {"maxConcurrentReconciles": 1, "adoptResources": "Enabled"},
            "statusController": {"maxConcurrentReconciles": 1},
            "featureGates": [{"name": "PushReconciler", "configuration": "Enabled"},
                             {"name": "SchedulerPreferences", "configuration": "Enabled"}]
        }
    }))?;
    Api::<DynamicObject>::namespaced_with(host.clone(), DEFAULT_SYSTEM_NAMESPACE, &kubefed_config())
        .create(&PostParams::default(), &cfg)
        .await
        .context("creating the KubeFedConfig")?;
    let ftcs: Api<FederatedTypeConfig> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
    for t in &types {
        ftcs.create(
            &PostParams::default(),
            &FederatedTypeConfig::for_target(t, DEFAULT_SYSTEM_NAMESPACE),
        )
        .await
        .with_context(|| format!("creating FederatedTypeConfig {}", t.type_config_name()))?;
    }
    Ok(host)
}

fn spawn_controller(
    c: &Contender,
    tb: &Testbed,
    concurrency: u16,
    log: &Path,
) -> anyhow::Result<tokio::process::Child> {
    let log_file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut cmd = match c {
        Contender::KubeFed { bin, .. } => {
            let mut cmd = tokio::process::Command::new(bin);
            cmd.arg("--kubeconfig")
                .arg(&tb.kubeconfig)
                .args(["--kubefed-namespace", DEFAULT_SYSTEM_NAMESPACE])
                .arg(format!("--metrics-addr=127.0.0.1:{}", free_port()?))
                .arg(format!("--healthz-addr=127.0.0.1:{}", free_port()?));
            cmd
        }
        Contender::Ours { bin, budget } => {
            let mut cmd = tokio::process::Command::new(bin);
            cmd.arg("--kubeconfig")
                .arg(&tb.kubeconfig)
                .args(["--context", HOST, "--metrics-addr"])
                .arg(format!("127.0.0.1:{}", free_port()?))
                .arg("--concurrency")
                .arg(concurrency.to_string())
                .env(
                    "RUST_LOG",
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
                );
            if let Some((qps, burst)) = budget {
                cmd.arg("--member-qps")
                    .arg(qps.to_string())
                    .arg("--member-burst")
                    .arg(burst.to_string());
            }
            cmd
        }
    };
    let bin = match c {
        Contender::KubeFed { bin, .. } | Contender::Ours { bin, .. } => bin,
    };
    cmd.stdout(log_file.try_clone()?)
        .stderr(log_file)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))
}

/// Waits until every `(member, name)` has annotation `bench/rev` = `rev`, reading the member watches.
/// Returns when all `want` copies are there; fails on the deadline or if the controller exits.
async fn wait_all(
    rx: &mut mpsc::UnboundedReceiver<(usize, String, String)>,
    seen: &mut HashMap<(usize, String), String>,
    rev: &str,
    want: usize,
    child: &mut tokio::process::Child,
    deadline: Instant,
    log: &Path,
) -> anyhow::Result<()> {
    let mut done = seen.values().filter(|r| *r == rev).count();
    let mut last_report = Instant::now();
    while done < want {
        if Instant::now() > deadline {
            bail!(
                "only {done} of {want} member copies at rev {rev} by the deadline; see {}",
                log.display()
            );
        }
        if let Some(status) = child.try_wait()? {
            bail!("the controller exited ({status}); see {}", log.display());
        }
        match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            Ok(Some((m, name, r))) => {
                let was = seen.insert((m, name), r.clone());
                match (was.as_deref() == Some(rev), r == rev) {
                    (false, true) => done += 1,
                    (true, false) => done -= 1,
                    _ => {}
                }
            }
            Ok(None) => bail!("a member watch ended"),
            Err(_) => {}
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!("    {done}/{want} member copies at rev {rev}");
            last_report = Instant::now();
        }
    }
    Ok(())
}

async fn run(c: &Contender, args: &Args) -> anyhow::Result<Figures> {
    let label = c.label();
    let n = usize::from(args.members);
    let m = args.objects as usize;
    let limit = Duration::from_secs(args.timeout);
    eprintln!("== {label}: booting a fresh testbed (host + {n} members)…");
    let tb = Testbed::start(TestbedOptions {
        members: n,
        cluster: ClusterOptions {
            controller_manager: args.controller_manager,
            ..ClusterOptions::default()
        },
        ..Default::default()
    })
    .context("starting the testbed")?;
    let host = match c {
        Contender::KubeFed { crds, .. } => install_kubefed_v010(&tb, crds).await?,
        Contender::Ours { .. } => install_kubefed(&tb).await?,
    };
    let (names, members) = join_members(&tb, &host, n).await?;
    let ns = bench_namespace(&tb, &host).await?;

    let log = tb.dir.join("controller-under-test.log");
    let mut child = spawn_controller(c, &tb, args.concurrency, &log)?;
    let pid = child.id().context("the controller exited at once")?;
    eprintln!("  controller started (pid {pid}, log {})", log.display());

    // Ready = the federated namespace is in every member: start-up, cache sync and the first cluster
    // health checks are behind us, so what follows times propagation only.
    let started = Instant::now();
    for (name, client) in &members {
        let api: Api<Namespace> = Api::all(client.clone());
        loop {
            if api.get_opt(&ns).await?.is_some() {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!("the controller exited ({status}); see {}", log.display());
            }
            if started.elapsed() > limit {
                bail!(
                    "namespace {ns} not propagated to {name} within {limit:?}; see {}",
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!(
        "  ready: namespace propagated after {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, String, String)>();
    let mut watches = Vec::new();
    for (idx, (_, client)) in members.iter().enumerate() {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &deployments());
        let tx = tx.clone();
        watches.push(tokio::spawn(async move {
            let mut s = watcher(api, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(Ok(o)) = s.next().await {
                if tx
                    .send((idx, o.metadata.name.clone().unwrap_or_default(), rev(&o)))
                    .is_err()
                {
                    return;
                }
            }
        }));
    }
    let fed: Api<DynamicObject> = Api::namespaced_with(host.clone(), &ns, &fed_deployments());
    let cpu_before = cpu_time(pid);
    let before = member_requests(&members).await?;
    let host_before = kubefed_tests::requests::served_all(&host).await?;
    let mut seen = HashMap::new();

    // Create: every object stored on the host (32 at a time, as a client would) and in every member.
    let t0 = Instant::now();
    let creating = tokio::spawn({
        let fed = fed.clone();
        let ns = ns.clone();
        let names = names.clone();
        async move {
            let stored = futures::stream::iter(0..m)
                .map(|i| {
                    let fed = fed.clone();
                    let obj = serde_json::from_value::<DynamicObject>(workload(&ns, i, &names));
                    async move {
                        fed.create(&PostParams::default(), &obj?).await?;
                        anyhow::Ok(())
                    }
                })
                .buffer_unordered(32)
                .try_collect::<Vec<()>>()
                .await;
            stored.map(|_| t0.elapsed())
        }
    });
    wait_all(&mut rx, &mut seen, "r0", m * n, &mut child, t0 + limit, &log).await?;
    let create = t0.elapsed();
    let create_stored = creating
        .await
        .context("the create task")?
        .context("creating the FederatedDeployments")?;
    let (writes, reads) = member_requests_since(&members, &before).await?;
    let host_delta =
        kubefed_tests::requests::delta(&kubefed_tests::requests::served_all(&host).await?, &host_before);
    let host_writes = kubefed_tests::requests::writes(&host_delta);
    let mut busiest: Vec<(&String, &u64)> = host_delta
        .iter()
        .filter(|(k, _)| kubefed_tests::requests::is_write(k))
        .collect();
    busiest.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let host_detail = busiest
        .iter()
        .take(5)
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "  created: {:.1}s (all stored on the host after {:.1}s)",
        create.as_secs_f64(),
        create_stored.as_secs_f64()
    );

    // Update: every object's template changed on the host, then in every member.
    let t1 = Instant::now();
    let updating = tokio::spawn({
        let fed = fed.clone();
        async move {
            let patch = json!({"spec": {"template": {"spec": {"template": {"metadata": {"annotations": {
                "bench/rev": "u1"
            }}}}}}});
            let stored = futures::stream::iter(0..m)
                .map(|i| {
                    let fed = fed.clone();
                    let patch = patch.clone();
                    async move {
                        fed.patch(
                            &format!("web-{i}"),
                            &PatchParams::default(),
                            &Patch::Merge(&patch),
                        )
                        .await?;
                        anyhow::Ok(())
                    }
                })
                .buffer_unordered(32)
                .try_collect::<Vec<()>>()
                .await;
            stored.map(|_| t1.elapsed())
        }
    });
    wait_all(&mut rx, &mut seen, "u1", m * n, &mut child, t1 + limit, &log).await?;
    let update = t1.elapsed();
    let update_stored = updating
        .await
        .context("the update task")?
        .context("updating the FederatedDeployments")?;
    eprintln!(
        "  updated: {:.1}s (all stored on the host after {:.1}s)",
        update.as_secs_f64(),
        update_stored.as_secs_f64()
    );

    let (peak_rss, _) = memory(pid);
    let cpu = cpu_time(pid).saturating_sub(cpu_before);
    let _ = child.kill().await;
    for w in watches {
        w.abort();
    }
    drop(tb);
    Ok(Figures {
        label,
        create,
        update,
        create_stored,
        update_stored,
        writes,
        reads,
        host_writes,
        host_detail,
        copies: (m * n) as u64,
        peak_rss,
        cpu,
    })
}

fn ratio(kubefed: f64, ours: f64) -> String {
    if ours > 0.0 {
        format!("{:.1}×", kubefed / ours)
    } else {
        "—".into()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ours = match &args.controller_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .context("locating this executable")?
            .with_file_name("kubefed-controller"),
    };
    if !ours.is_file() {
        bail!(
            "{} not found; build it with `cargo build --release -p kubefed-controller` (or pass --controller-bin)",
            ours.display()
        );
    }
    let mut contenders = Vec::new();
    match (&args.kubefed_controller_manager, &args.kubefed_crds) {
        (Some(bin), Some(crds)) if bin.is_file() && crds.is_file() => contenders.push(Contender::KubeFed {
            bin: bin.clone(),
            crds: crds.clone(),
        }),
        (Some(bin), Some(crds)) => bail!(
            "{} or {} does not exist; build KubeFed with `hack/build-kubefed.sh controller-manager`",
            bin.display(),
            crds.display()
        ),
        (Some(_), None) | (None, Some(_)) => {
            bail!("--kubefed-controller-manager and --kubefed-crds go together")
        }
        (None, None) => println!(
            "KubeFed v0.10.0: not measured (no --kubefed-controller-manager: Go missing or \
             `hack/build-kubefed.sh controller-manager` failed); measuring ours only"
        ),
    }
    contenders.push(Contender::Ours {
        bin: ours.clone(),
        budget: None,
    });
    contenders.push(Contender::Ours {
        bin: ours,
        budget: Some((KUBEFED_QPS, KUBEFED_BURST)),
    });

    let mut results = Vec::new();
    for c in &contenders {
        let f = run(c, &args)
            .await
            .with_context(|| format!("measuring {}", c.label()))?;
        results.push(f);
    }

    println!(
        "kubefed-sidebyside-bench: {} FederatedDeployments with overrides × {} members, each contender on a \
         fresh testbed ({})",
        args.objects,
        args.members,
        if args.controller_manager {
            "kube-controller-manager in every cluster"
        } else {
            "no kube-controller-manager"
        }
    );
    println!(
        "| | create → all members | update → all members | member requests per created object | peak RSS | \
         CPU (create + update) | host stored all (create / update) | host writes per created object |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for f in &results {
        println!(
            "| {} | {:.1} s | {:.1} s | {:.3} ({} writes, {} GETs) | {:.0} MiB | {:.1} s | {:.1} s / {:.1} s | {:.2} |",
            f.label,
            f.create.as_secs_f64(),
            f.update.as_secs_f64(),
            (f.writes + f.reads) as f64 / f.copies.max(1) as f64,
            f.writes,
            f.reads,
            mib(f.peak_rss),
            f.cpu.as_secs_f64(),
            f.create_stored.as_secs_f64(),
            f.update_stored.as_secs_f64(),
            f.host_writes as f64 / (f.copies / u64::from(args.members)).max(1) as f64
        );
    }
    if let Some(k) = results.first().filter(|_| contenders.len() == 3) {
        for f in &results[1..] {
            println!(
                "| KubeFed ÷ {} | {} | {} | — | {} | {} | — | — |",
                f.label,
                ratio(k.create.as_secs_f64(), f.create.as_secs_f64()),
                ratio(k.update.as_secs_f64(), f.update.as_secs_f64()),
                ratio(k.peak_rss as f64, f.peak_rss as f64),
                ratio(k.cpu.as_secs_f64(), f.cpu.as_secs_f64()),
            );
        }
    }
    for f in &results {
        println!("host writes during create, {}: {}", f.label, f.host_detail);
    }
    Ok(())
}
