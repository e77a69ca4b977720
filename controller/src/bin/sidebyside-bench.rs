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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kubefed_core::TargetType;
use kubefed_core::api::constants::{
    CONTROLLER_FIELD_MANAGER, DEFAULT_SYSTEM_NAMESPACE, SYNC_CONTROLLER_FINALIZER,
};
use kubefed_core::api::{FederatedObject, FederatedTypeConfig};
use kubefed_core::placement::ClusterInfo;
use kubefed_core::propagation::{MemberOptions, desired_member_object_with};
use kubefed_core::status::{ClusterOutcome, compute_status};
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
    /// Which to measure, in order: `kubefed` (needs the two flags above), `defaults` (ours), `budget` (ours at
    /// KubeFed's 20 qps / 30 burst), `floor` (no controller at all: the bench itself makes, right after
    /// storing each object, the requests any KubeFed-compatible controller must make for it — the finalizer
    /// patch, one apply per member, the status apply — with no watch, queue or Events in between; what the
    /// machine allows).
    #[arg(long, value_delimiter = ',', default_values_t = ["kubefed".to_string(), "defaults".into(), "budget".into()])]
    contenders: Vec<String>,
    /// Requests in flight from the bench's own client (creates, updates, and the floor's pipelines).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    in_flight: u16,
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
    Floor,
}

impl Contender {
    fn label(&self) -> String {
        match self {
            Contender::KubeFed { .. } => "KubeFed v0.10.0 controller-manager".into(),
            Contender::Ours { budget: None, .. } => "kubefed-controller, defaults".into(),
            Contender::Ours {
                budget: Some((q, b)), ..
            } => format!("kubefed-controller, --member-qps {q} --member-burst {b}"),
            Contender::Floor => "floor: the requests alone (no controller, no Events)".into(),
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
    /// The testbed's API servers' and etcds' CPU during create / update.
    clusters_cpu: (Duration, Duration),
    /// The controller's; none for the floor.
    peak_rss: Option<u64>,
    cpu: Option<Duration>,
}

/// The floor's requests for one stored object (see `Args::floor`): what our controller sends, built with the
/// same library code, made at once.
struct Floor {
    fed: Api<DynamicObject>,
    members: Vec<(String, Api<DynamicObject>)>,
    target: TargetType,
}

impl Floor {
    async fn sync(&self, stored: DynamicObject, first: bool) -> anyhow::Result<()> {
        let name = stored
            .metadata
            .name
            .clone()
            .context("a stored object has a name")?;
        if first {
            let patch: json_patch::Patch = serde_json::from_value(json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": [SYNC_CONTROLLER_FINALIZER]},
            ]))?;
            self.fed
                .patch(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
                .await?;
        }
        let fed: FederatedObject = serde_json::from_value(serde_json::to_value(&stored)?)?;
        let writes = self.members.iter().map(|(cluster, api)| {
            let info = ClusterInfo::new(cluster.clone(), Default::default(), true);
            let desired =
                desired_member_object_with(&fed, &self.target, &info, !first, MemberOptions::default());
            let name = name.clone();
            async move {
                // As the controller: unforced for a new object (it has not looked), forced once it is ours.
                let mut pp = PatchParams::apply(CONTROLLER_FIELD_MANAGER);
                if !first {
                    pp = pp.force();
                }
                api.patch(&name, &pp, &Patch::Apply(&desired?)).await?;
                anyhow::Ok(())
            }
        });
        futures::future::try_join_all(writes).await?;
        let outcomes: BTreeMap<String, ClusterOutcome> = self
            .members
            .iter()
            .map(|(c, _)| (c.clone(), ClusterOutcome::ok(None)))
            .collect();
        let now = Time(Timestamp::now());
        let status = compute_status(stored.metadata.generation, &outcomes, None, None, &now);
        let body = json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
            "metadata": {"name": name, "namespace": stored.metadata.namespace},
            "status": status,
        });
        self.fed
            .patch_status(
                &name,
                &PatchParams::apply(CONTROLLER_FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await?;
        Ok(())
    }
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
        Contender::Floor => bail!("the floor runs no controller"),
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
        Contender::Floor => bail!("the floor runs no controller"),
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
    mut child: Option<&mut tokio::process::Child>,
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
        if let Some(status) = child.as_mut().map(|c| c.try_wait()).transpose()?.flatten() {
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
        Contender::Ours { .. } | Contender::Floor => install_kubefed(&tb).await?,
    };
    let (names, members) = join_members(&tb, &host, n).await?;
    let log = tb.dir.join("controller-under-test.log");
    let floor = matches!(c, Contender::Floor);
    if floor {
        let mut everywhere = vec![HOST];
        everywhere.extend(names.iter().map(String::as_str));
        let ns = tb.namespace("bench", &everywhere).await?;
        let floor = Floor {
            fed: Api::namespaced_with(host.clone(), &ns, &fed_deployments()),
            members: members
                .iter()
                .map(|(name, client)| {
                    (
                        name.clone(),
                        Api::namespaced_with(client.clone(), &ns, &deployments()),
                    )
                })
                .collect(),
            target: kubefed_core::kinds::builtin_types()
                .into_iter()
                .find(|t| t.group == "apps" && t.kind == "Deployment")
                .context("Deployment is a built-in type")?,
        };
        return measure(
            c,
            args,
            &host,
            &members,
            &names,
            &ns,
            None,
            Some(floor),
            &log,
            &tb.dir,
        )
        .await;
    }
    let ns = bench_namespace(&tb, &host).await?;

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
    measure(
        c,
        args,
        &host,
        &members,
        &names,
        &ns,
        Some(child),
        None,
        &log,
        &tb.dir,
    )
    .await
}

/// Creates and updates the objects, timing both until every member shows them; `child` is the controller
/// under test, `floor` the bench's own requests when there is none.
#[allow(clippy::too_many_arguments)]
async fn measure(
    c: &Contender,
    args: &Args,
    host: &kube::Client,
    members: &[(String, kube::Client)],
    names: &[String],
    ns: &str,
    mut child: Option<tokio::process::Child>,
    floor: Option<Floor>,
    log: &Path,
    testbed_dir: &Path,
) -> anyhow::Result<Figures> {
    let label = c.label();
    let n = usize::from(args.members);
    let m = args.objects as usize;
    let limit = Duration::from_secs(args.timeout);
    let pid = child.as_ref().and_then(|c| c.id());
    let in_flight = usize::from(args.in_flight);
    let floor = floor.map(std::sync::Arc::new);

    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, String, String)>();
    let mut watches = Vec::new();
    for (idx, (_, client)) in members.iter().enumerate() {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &deployments());
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
    let fed: Api<DynamicObject> = Api::namespaced_with(host.clone(), ns, &fed_deployments());
    let cpu_before = pid.map(cpu_time);
    let before = member_requests(members).await?;
    let host_before = kubefed_tests::requests::served_all(host).await?;
    let mut seen = HashMap::new();
    let clusters_before = control_plane_cpu(testbed_dir);

    // Create: every object stored on the host (32 at a time, as a client would) and in every member.
    let t0 = Instant::now();
    let creating = tokio::spawn({
        let fed = fed.clone();
        let ns = ns.to_string();
        let names = names.to_vec();
        let floor = floor.clone();
        async move {
            let stored = futures::stream::iter(0..m)
                .map(|i| {
                    let fed = fed.clone();
                    let obj = serde_json::from_value::<DynamicObject>(workload(&ns, i, &names));
                    let floor = floor.clone();
                    async move {
                        let stored = fed.create(&PostParams::default(), &obj?).await?;
                        if let Some(floor) = floor {
                            floor.sync(stored, true).await?;
                        }
                        anyhow::Ok(())
                    }
                })
                .buffer_unordered(in_flight)
                .try_collect::<Vec<()>>()
                .await;
            stored.map(|_| t0.elapsed())
        }
    });
    wait_all(&mut rx, &mut seen, "r0", m * n, child.as_mut(), t0 + limit, log).await?;
    let create = t0.elapsed();
    let create_stored = creating
        .await
        .context("the create task")?
        .context("creating the FederatedDeployments")?;
    let (writes, reads) = member_requests_since(members, &before).await?;
    let host_delta =
        kubefed_tests::requests::delta(&kubefed_tests::requests::served_all(host).await?, &host_before);
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
    let clusters_created = control_plane_cpu(testbed_dir);
    eprintln!(
        "  created: {:.1}s (all stored on the host after {:.1}s)",
        create.as_secs_f64(),
        create_stored.as_secs_f64()
    );

    // Update: every object's template changed on the host, then in every member.
    let t1 = Instant::now();
    let updating = tokio::spawn({
        let fed = fed.clone();
        let floor = floor.clone();
        async move {
            let patch = json!({"spec": {"template": {"spec": {"template": {"metadata": {"annotations": {
                "bench/rev": "u1"
            }}}}}}});
            let stored = futures::stream::iter(0..m)
                .map(|i| {
                    let fed = fed.clone();
                    let patch = patch.clone();
                    let floor = floor.clone();
                    async move {
                        let stored = fed
                            .patch(
                                &format!("web-{i}"),
                                &PatchParams::default(),
                                &Patch::Merge(&patch),
                            )
                            .await?;
                        if let Some(floor) = floor {
                            floor.sync(stored, false).await?;
                        }
                        anyhow::Ok(())
                    }
                })
                .buffer_unordered(in_flight)
                .try_collect::<Vec<()>>()
                .await;
            stored.map(|_| t1.elapsed())
        }
    });
    wait_all(&mut rx, &mut seen, "u1", m * n, child.as_mut(), t1 + limit, log).await?;
    let update = t1.elapsed();
    let clusters_updated = control_plane_cpu(testbed_dir);
    let update_stored = updating
        .await
        .context("the update task")?
        .context("updating the FederatedDeployments")?;
    eprintln!(
        "  updated: {:.1}s (all stored on the host after {:.1}s)",
        update.as_secs_f64(),
        update_stored.as_secs_f64()
    );

    let peak_rss = pid.map(|p| memory(p).0);
    let cpu = pid.zip(cpu_before).map(|(p, b)| cpu_time(p).saturating_sub(b));
    if let Some(mut child) = child {
        let _ = child.kill().await;
    }
    for w in watches {
        w.abort();
    }
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
        clusters_cpu: (
            clusters_created.saturating_sub(clusters_before),
            clusters_updated.saturating_sub(clusters_created),
        ),
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
    let kubefed = match (&args.kubefed_controller_manager, &args.kubefed_crds) {
        (Some(bin), Some(crds)) if bin.is_file() && crds.is_file() => Some(Contender::KubeFed {
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
        (None, None) => None,
    };
    let mut contenders = Vec::new();
    for name in &args.contenders {
        match name.as_str() {
            "kubefed" => match &kubefed {
                Some(k) => contenders.push(k.clone()),
                None => println!(
                    "KubeFed v0.10.0: not measured (no --kubefed-controller-manager: Go missing or \
                     `hack/build-kubefed.sh controller-manager` failed); measuring ours only"
                ),
            },
            "defaults" => contenders.push(Contender::Ours {
                bin: ours.clone(),
                budget: None,
            }),
            "budget" => contenders.push(Contender::Ours {
                bin: ours.clone(),
                budget: Some((KUBEFED_QPS, KUBEFED_BURST)),
            }),
            "floor" => contenders.push(Contender::Floor),
            other => {
                bail!("unknown contender {other:?}: use kubefed, defaults, budget or floor (comma-separated)")
            }
        }
    }

    let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
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
         CPU (create + update) | host stored all (create / update) | host writes per created object | API servers + \
         etcd CPU, create / update (÷ {cores} cores) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for f in &results {
        println!(
            "| {} | {:.1} s | {:.1} s | {:.3} ({} writes, {} GETs) | {} | {} | {:.1} s / {:.1} s | {:.2} | {:.1} s / \
             {:.1} s ({:.1} s / {:.1} s) |",
            f.label,
            f.create.as_secs_f64(),
            f.update.as_secs_f64(),
            (f.writes + f.reads) as f64 / f.copies.max(1) as f64,
            f.writes,
            f.reads,
            f.peak_rss.map_or("—".into(), |r| format!("{:.0} MiB", mib(r))),
            f.cpu.map_or("—".into(), |c| format!("{:.1} s", c.as_secs_f64())),
            f.create_stored.as_secs_f64(),
            f.update_stored.as_secs_f64(),
            f.host_writes as f64 / (f.copies / u64::from(args.members)).max(1) as f64,
            f.clusters_cpu.0.as_secs_f64(),
            f.clusters_cpu.1.as_secs_f64(),
            f.clusters_cpu.0.as_secs_f64() / cores,
            f.clusters_cpu.1.as_secs_f64() / cores,
        );
    }
    if let Some(k) = results
        .first()
        .filter(|_| matches!(contenders.first(), Some(Contender::KubeFed { .. })))
    {
        let opt_ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map_or("—".into(), |(a, b)| ratio(a, b));
        for f in &results[1..] {
            println!(
                "| KubeFed ÷ {} | {} | {} | — | {} | {} | — | — |",
                f.label,
                ratio(k.create.as_secs_f64(), f.create.as_secs_f64()),
                ratio(k.update.as_secs_f64(), f.update.as_secs_f64()),
                opt_ratio(k.peak_rss.map(|r| r as f64), f.peak_rss.map(|r| r as f64)),
                opt_ratio(k.cpu.map(|c| c.as_secs_f64()), f.cpu.map(|c| c.as_secs_f64())),
            );
        }
    }
    for f in &results {
        println!("host writes during create, {}: {}", f.label, f.host_detail);
    }
    Ok(())
}
