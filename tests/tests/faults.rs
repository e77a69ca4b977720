//! Faults, end to end: a member API server frozen (a partition) or killed, the host API server restarted
//! under the controller, the controller killed mid-propagation (and the leader of two replicas killed), a
//! member's credentials revoked. Each test asserts the outcome — nothing deleted or recreated, everything
//! converges, no needless writes — never how fast it happened (waits are generous).
//!
//! The controller runs as a separate process, so it can be SIGKILLed: this test binary re-runs itself
//! with `KUBEFED_FAULTS_CONTROLLER` set, and the ignored [`controller_process`] "test" then runs the
//! controller's real `run()` (flags, leader election, logging) until it is stopped or killed. Its log is
//! `<testbed dir>/<name>.log` (keep it with `KUBEFED_TESTBED_KEEP=1`).
//!
//! Faults hit the whole testbed, so the tests take turns ([`EXCLUSIVE`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
use kubefed_core::api::{KubeFedCluster, KubeFedConfig};
use kubefed_tests::fixtures::{install_kubefed, join};
use kubefed_tests::process::{Process, free_port};
use kubefed_tests::testbed::HOST;
use kubefed_tests::{Testbed, shared_testbed};
use serde_json::{Value, json};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const M1: &str = "member-1";
const M2: &str = "member-2";
const MEMBERS: [&str; 2] = [M1, M2];
/// Bound of every wait: outcomes are asserted, not timings.
const WAIT: Duration = Duration::from_secs(150);
/// How long writes that would follow a convergence (retries, a second reconcile) get to show up.
const SETTLE: Duration = Duration::from_secs(5);
/// Set in the environment of the controller processes: the controller's arguments, as a JSON list.
const CONTROLLER_ENV: &str = "KUBEFED_FAULTS_CONTROLLER";

/// One fault at a time: each one affects every test's clusters.
static EXCLUSIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn wait_for<T, F, Fut>(what: &str, f: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = TestResult<Option<T>>>,
{
    kubefed_tests::wait_for(what, WAIT, f).await
}

/// Not a test: the controller process the fault tests start (see the module docs). Does nothing unless
/// [`CONTROLLER_ENV`] is set.
#[test]
#[ignore = "the controller process of the fault tests; they run it themselves"]
fn controller_process() {
    let Ok(raw) = std::env::var(CONTROLLER_ENV) else {
        return;
    };
    let args: Vec<String> = match serde_json::from_str(&raw) {
        Ok(a) => a,
        Err(e) => panic!("{CONTROLLER_ENV} is not a JSON list of arguments: {e}"),
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(kubefed_controller::DEFAULT_LOG_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .try_init();
    let args =
        kubefed_controller::Args::parse_from(std::iter::once("kubefed-controller".to_string()).chain(args));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("building the controller's runtime: {e}"),
    };
    if let Err(e) = rt.block_on(kubefed_controller::run(args)) {
        eprintln!("kubefed-controller stopped with an error: {e}");
        std::process::exit(1);
    }
}

/// A controller process (this binary re-run as [`controller_process`]); stopped (TERM) when dropped.
struct Controller {
    process: Process,
}

/// Starts a controller process named `name` (its identity and log file) with `extra` flags.
fn start_controller(tb: &Testbed, name: &str, extra: &[&str]) -> TestResult<Controller> {
    let port = free_port()?;
    let mut args: Vec<String> = [
        "--kubeconfig",
        &tb.kubeconfig.display().to_string(),
        "--context",
        HOST,
        "--metrics-addr",
        &format!("127.0.0.1:{port}"),
        "--identity",
        name,
        "--member-timeout",
        "5s",
        "--deletion-timeout",
        "20s",
        "--concurrency",
        "8",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let exe = std::env::current_exe()?;
    let harness = [
        "controller_process",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]
    .map(String::from);
    let log = tb.dir.join(format!("{name}.log"));
    let process = Process::spawn_with_env(
        name,
        &exe,
        &harness,
        &log,
        &[(CONTROLLER_ENV, serde_json::to_string(&args)?)],
    )?;
    println!("controller {name}: log {}", log.display());
    Ok(Controller { process })
}

/// kubefed on the host (fast health checks, short leader leases) and both members joined, once.
async fn setup() -> TestResult<&'static Testbed> {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let tb = shared_testbed()?;
    DONE.get_or_try_init(|| async {
        let host = install_kubefed(tb).await?;
        let cfg: KubeFedConfig = serde_json::from_value(json!({
            "apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedConfig",
            "metadata": {"name": "kubefed", "namespace": DEFAULT_SYSTEM_NAMESPACE},
            "spec": {
                "clusterHealthCheck": {"period": "1s", "timeout": "2s", "failureThreshold": 2, "successThreshold": 1},
                "leaderElect": {"leaseDuration": "6s", "renewDeadline": "4s", "retryPeriod": "1s"}
            }
        }))?;
        Api::<KubeFedConfig>::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE)
            .patch("kubefed", &PatchParams::apply("fault-tests").force(), &Patch::Apply(&cfg))
            .await?;
        for m in MEMBERS {
            join(tb, &host, m, BTreeMap::new()).await?;
        }
        TestResult::Ok(())
    })
    .await?;
    Ok(tb)
}

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn fed_ar(kind: &str, plural: &str) -> ApiResource {
    ar("types.kubefed.io", "v1beta1", kind, plural)
}

fn deployments() -> ApiResource {
    ar("apps", "v1", "Deployment", "deployments")
}

fn obj(value: Value) -> TestResult<DynamicObject> {
    Ok(serde_json::from_value(value)?)
}

async fn kfc_ready(host: &kube::Client, member: &str, want: bool) -> TestResult<KubeFedCluster> {
    let kfcs: Api<KubeFedCluster> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
    let what = format!("KubeFedCluster {member} Ready={want}");
    wait_for(&what, || {
        let kfcs = kfcs.clone();
        async move { Ok(kfcs.get_opt(member).await?.filter(|k| k.is_ready() == want)) }
    })
    .await
}

/// A host namespace with a FederatedNamespace on both members; waits until the members have it.
async fn federated_namespace(tb: &Testbed, prefix: &str) -> TestResult<(kube::Client, String)> {
    let host = tb.client(HOST).await?;
    let ns = tb.namespace(prefix, &[HOST]).await?;
    Api::<DynamicObject>::namespaced_with(
        host.clone(),
        &ns,
        &fed_ar("FederatedNamespace", "federatednamespaces"),
    )
    .create(
        &PostParams::default(),
        &obj(json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace",
            "metadata": {"name": ns, "namespace": ns},
            "spec": {"placement": {"clusterSelector": {}}}
        }))?,
    )
    .await?;
    for m in MEMBERS {
        // With its kube-root-ca.crt, so that ConfigMap write (not ours) is not counted by the tests.
        let cms: Api<ConfigMap> = Api::namespaced(tb.client(m).await?, &ns);
        wait_for(&format!("namespace {ns} and its kube-root-ca.crt in {m}"), || {
            let cms = cms.clone();
            async move { Ok(cms.get_opt("kube-root-ca.crt").await?.map(|_| ())) }
        })
        .await?;
    }
    Ok((host, ns))
}

fn fcm_api(host: &kube::Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        host.clone(),
        ns,
        &fed_ar("FederatedConfigMap", "federatedconfigmaps"),
    )
}

async fn create_configmaps(host: &kube::Client, ns: &str, names: impl Iterator<Item = String>) -> TestResult {
    let api = fcm_api(host, ns);
    for name in names {
        api.create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"template": {"data": {"v": "1"}}, "placement": {"clusterSelector": {}}}
            }))?,
        )
        .await?;
    }
    Ok(())
}

/// Name → uid of the ConfigMaps labelled `kubefed.io/managed=true` in `ns` of `member`.
async fn managed_configmaps(tb: &Testbed, member: &str, ns: &str) -> TestResult<BTreeMap<String, String>> {
    let api: Api<ConfigMap> = Api::namespaced(tb.client(member).await?, ns);
    let list = api
        .list(&ListParams::default().labels("kubefed.io/managed=true"))
        .await?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|c| Some((c.metadata.name?, c.metadata.uid?)))
        .collect())
}

/// Waits until `member` holds exactly `n` managed ConfigMaps in `ns`; returns them (name → uid).
async fn holds_configmaps(
    tb: &Testbed,
    member: &str,
    ns: &str,
    n: usize,
) -> TestResult<BTreeMap<String, String>> {
    wait_for(&format!("{n} managed ConfigMaps in {member}"), || async move {
        let have = managed_configmaps(tb, member, ns).await?;
        Ok((have.len() == n).then_some(have))
    })
    .await
}

/// Waits until the `n` FederatedConfigMaps of `ns` all report `Propagation=True`.
async fn all_propagated(host: &kube::Client, ns: &str, n: usize) -> TestResult {
    let fcm = fcm_api(host, ns);
    wait_for(&format!("{n} FederatedConfigMaps with Propagation True"), || {
        let fcm = fcm.clone();
        async move {
            let all = fcm.list(&ListParams::default()).await?.items;
            let propagated = |o: &DynamicObject| {
                o.data["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Propagation" && c["status"] == "True")
                })
            };
            Ok((all.len() == n && all.iter().all(propagated)).then_some(()))
        }
    })
    .await
}

/// The member Deployment's `spec.replicas` and uid.
async fn deployment(client: &kube::Client, ns: &str, name: &str) -> TestResult<Option<(i64, String)>> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &deployments());
    Ok(api.get_opt(name).await?.map(|d| {
        (
            d.data["spec"]["replicas"].as_i64().unwrap_or(-1),
            d.metadata.uid.unwrap_or_default(),
        )
    }))
}

/// Waits until the members' Deployment `name` has `want[i]` replicas.
async fn replicas_are(tb: &Testbed, ns: &str, name: &str, want: [i64; 2]) -> TestResult<[String; 2]> {
    let mut uids = [String::new(), String::new()];
    for (i, m) in MEMBERS.iter().enumerate() {
        let client = tb.client(m).await?;
        uids[i] = wait_for(
            &format!("{m}: Deployment {name} with {} replicas", want[i]),
            || {
                let client = client.clone();
                async move {
                    Ok(deployment(&client, ns, name)
                        .await?
                        .filter(|(r, _)| *r == want[i])
                        .map(|(_, u)| u))
                }
            },
        )
        .await?;
    }
    Ok(uids)
}

/// Watches the members' Deployment while a fault runs: every 200 ms it reads `spec.replicas` from each
/// member (a member that does not answer within a second counts with what it last had — its pods keep
/// running in a partition), and records a violation whenever the sum leaves `[low, high]`, the Deployment
/// is missing, or its uid changed (deleted and recreated).
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(usize, Vec<String>)>,
}

impl Sampler {
    async fn start(
        tb: &Testbed,
        ns: &str,
        name: &str,
        uids: [String; 2],
        low: i64,
        high: i64,
    ) -> TestResult<Self> {
        let mut clients = Vec::new();
        for m in MEMBERS {
            clients.push(tb.client(m).await?);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (ns, name, flag) = (ns.to_string(), name.to_string(), stop.clone());
        let task = tokio::spawn(async move {
            let mut last = [None::<i64>; 2];
            let (mut samples, mut violations) = (0usize, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                let reads = clients
                    .iter()
                    .map(|c| tokio::time::timeout(Duration::from_secs(1), deployment(c, &ns, &name)));
                let reads = futures::future::join_all(reads).await;
                for (i, read) in reads.into_iter().enumerate() {
                    match read {
                        Ok(Ok(Some((r, uid)))) => {
                            if uid != uids[i] {
                                violations.push(format!("{}: uid {uid}, was {}", MEMBERS[i], uids[i]));
                            }
                            last[i] = Some(r);
                        }
                        Ok(Ok(None)) => violations.push(format!("{}: Deployment {name} missing", MEMBERS[i])),
                        _ => {}
                    }
                }
                if let [Some(a), Some(b)] = last {
                    samples += 1;
                    if a + b < low || a + b > high {
                        violations.push(format!("replicas {a}+{b} outside [{low}, {high}]"));
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (samples, violations)
        });
        Ok(Self { stop, task })
    }

    async fn finish(self) -> TestResult<usize> {
        self.stop.store(true, Ordering::Relaxed);
        let (samples, violations) = self.task.await?;
        assert!(violations.is_empty(), "during the fault: {violations:?}");
        Ok(samples)
    }
}

#[derive(Clone, Copy, Debug)]
enum MemberFault {
    /// SIGSTOP: a partition (connections hang).
    Freeze,
    /// SIGKILL, then a restart on the same port and data.
    Kill,
}

/// Total replicas of the scheduled Deployment, split 4/4 over the two members.
const TOTAL: i64 = 8;
/// The surge bound (docs/operations.md): while a cluster is away its last share keeps running there and
/// the others carry the whole total; when it returns it is scaled, so at most `TOTAL + its share`.
const SHARE: i64 = TOTAL / 2;
/// Objects propagated before the fault, and created while the member is away (500 in all, as issue 15 asks).
const BEFORE: usize = 350;
const DURING: usize = 150;

/// member-2 frozen or killed and restarted while objects propagate: the other member takes all replicas,
/// nothing on member-2 is deleted or recreated, and everything converges when it is back.
async fn member_fault(fault: MemberFault) -> TestResult {
    let _turn = EXCLUSIVE.lock().await;
    let tb = setup().await?;
    let _controller = start_controller(tb, &format!("controller-{fault:?}").to_lowercase(), &[])?;
    let (host, ns) = federated_namespace(tb, &format!("fault-{fault:?}").to_lowercase()).await?;
    for m in MEMBERS {
        kfc_ready(&host, m, true).await?;
    }
    let rsps: Api<DynamicObject> = Api::namespaced_with(
        host.clone(),
        &ns,
        &ar(
            "scheduling.kubefed.io",
            "v1alpha1",
            "ReplicaSchedulingPreference",
            "replicaschedulingpreferences",
        ),
    );
    rsps.create(
        &PostParams::default(),
        &obj(json!({
            "apiVersion": "scheduling.kubefed.io/v1alpha1", "kind": "ReplicaSchedulingPreference",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"targetKind": "FederatedDeployment", "totalReplicas": TOTAL, "rebalance": true,
                     "clusters": {"*": {"weight": 1}}}
        }))?,
    )
    .await?;
    Api::<DynamicObject>::namespaced_with(
        host.clone(),
        &ns,
        &fed_ar("FederatedDeployment", "federateddeployments"),
    )
    .create(
        &PostParams::default(),
        &obj(json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"template": {"spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}},
                     "placement": {"clusterSelector": {}}}
        }))?,
    )
    .await?;
    create_configmaps(&host, &ns, (0..BEFORE).map(|i| format!("before-{i}"))).await?;
    let uids = replicas_are(tb, &ns, "web", [SHARE, SHARE]).await?;
    let before = holds_configmaps(tb, M2, &ns, BEFORE).await?;
    holds_configmaps(tb, M1, &ns, BEFORE).await?;

    let sampler = Sampler::start(tb, &ns, "web", uids.clone(), TOTAL, TOTAL + SHARE).await?;
    match fault {
        MemberFault::Freeze => tb.freeze_apiserver(M2)?,
        MemberFault::Kill => tb.kill_apiserver(M2)?,
    }
    let away = async {
        kfc_ready(&host, M2, false).await?;
        // Failover: member-1 carries every replica; the RSP says why member-2 is left out.
        let client = tb.client(M1).await?;
        wait_for("member-1 to carry all replicas", || {
            let client = client.clone();
            let ns = ns.clone();
            async move {
                Ok(deployment(&client, &ns, "web")
                    .await?
                    .filter(|(r, _)| *r == TOTAL)
                    .map(|_| ()))
            }
        })
        .await?;
        wait_for("the RSP status to name member-2 as not ready", || {
            let rsps = rsps.clone();
            async move {
                let r = rsps.get("web").await?;
                let text = r.data["status"].to_string();
                Ok((text.contains("ClustersNotReady") && text.contains(M2)).then_some(()))
            }
        })
        .await?;
        create_configmaps(&host, &ns, (0..DURING).map(|i| format!("during-{i}"))).await?;
        holds_configmaps(tb, M1, &ns, BEFORE + DURING).await?;
        TestResult::Ok(())
    }
    .await;
    // Whatever happened, bring member-2 back.
    let back = tokio::task::spawn_blocking(move || {
        let tb = shared_testbed()?;
        match fault {
            MemberFault::Freeze => tb.resume_apiserver(M2),
            MemberFault::Kill => tb.start_apiserver(M2),
        }
    })
    .await?;
    away?;
    back?;

    kfc_ready(&host, M2, true).await?;
    let after_uids = replicas_are(tb, &ns, "web", [SHARE, SHARE]).await?;
    let after = holds_configmaps(tb, M2, &ns, BEFORE + DURING).await?;
    holds_configmaps(tb, M1, &ns, BEFORE + DURING).await?;
    let samples = sampler.finish().await?;
    println!(
        "{fault:?}: {samples} samples of the replica sum, all within [{TOTAL}, {}]",
        TOTAL + SHARE
    );
    assert!(samples >= 5, "the sampler saw too little ({samples} samples)");
    assert_eq!(after_uids, uids, "the Deployments were scaled, not recreated");
    for (name, uid) in &before {
        assert_eq!(
            after.get(name),
            Some(uid),
            "member-2's ConfigMap {name} kept (same uid)"
        );
    }
    all_propagated(&host, &ns, BEFORE + DURING).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_frozen_then_resumed_keeps_its_objects_and_converges() -> TestResult {
    member_fault(MemberFault::Freeze).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_killed_then_restarted_keeps_its_objects_and_converges() -> TestResult {
    member_fault(MemberFault::Kill).await
}

/// Requests for ConfigMaps and Deployments a member's API server has served so far.
async fn requests(member: &kube::Client) -> TestResult<HashMap<String, u64>> {
    Ok(kubefed_tests::requests::served(member, &["configmaps", "deployments"]).await?)
}

/// Writes of `resource` between two counts.
fn writes(now: &HashMap<String, u64>, before: &HashMap<String, u64>, resource: &str) -> u64 {
    kubefed_tests::requests::writes_reads(&kubefed_tests::requests::delta(now, before), resource).0
}

/// The host API server restarted under a running controller: the controller reconnects by itself, a
/// change made afterwards propagates, and objects that did not change are not written again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_apiserver_restart_is_survived_without_rewrites() -> TestResult {
    let _turn = EXCLUSIVE.lock().await;
    let tb = setup().await?;
    let mut controller = start_controller(tb, "controller-host-restart", &[])?;
    let (host, ns) = federated_namespace(tb, "fault-host").await?;
    const N: usize = 20;
    create_configmaps(&host, &ns, (0..N).map(|i| format!("cm-{i}"))).await?;
    let mut members = Vec::new();
    for m in MEMBERS {
        holds_configmaps(tb, m, &ns, N).await?;
        members.push(tb.client(m).await?);
    }
    tokio::time::sleep(SETTLE).await;
    let mut before = Vec::new();
    for c in &members {
        before.push(requests(c).await?);
    }

    tokio::task::spawn_blocking(|| shared_testbed().and_then(|tb| tb.restart_apiserver(HOST))).await??;
    let host = tb.client(HOST).await?;
    let fcm = fcm_api(&host, &ns);
    // Retried: right after the restart the host may still refuse some requests.
    wait_for("a change to cm-0 after the host restart", || {
        let fcm = fcm.clone();
        async move {
            let patch = json!({"spec": {"template": {"data": {"v": "2"}}}});
            Ok(fcm
                .patch("cm-0", &PatchParams::default(), &Patch::Merge(patch))
                .await
                .ok()
                .map(|_| ()))
        }
    })
    .await?;
    for m in &members {
        let api: Api<ConfigMap> = Api::namespaced(m.clone(), &ns);
        wait_for("cm-0 updated in the member after the host restart", || {
            let api = api.clone();
            async move {
                let cm = api.get("cm-0").await?;
                Ok((cm.data.and_then(|d| d.get("v").cloned()).as_deref() == Some("2")).then_some(()))
            }
        })
        .await?;
    }
    tokio::time::sleep(SETTLE).await;
    controller.process.check_alive()?;
    for (i, c) in members.iter().enumerate() {
        let now = requests(c).await?;
        let (cm_writes, deploy_writes) = (
            writes(&now, &before[i], "configmaps"),
            writes(&now, &before[i], "deployments"),
        );
        println!(
            "{}: {cm_writes} ConfigMap writes, {deploy_writes} Deployment writes",
            MEMBERS[i]
        );
        assert_eq!(cm_writes, 1, "{}: one write, for the one change", MEMBERS[i]);
        assert_eq!(deploy_writes, 0, "{}: nothing else written", MEMBERS[i]);
    }
    Ok(())
}

/// Holder of the leader Lease.
async fn leader(host: &kube::Client) -> TestResult<Option<String>> {
    let leases: Api<Lease> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
    Ok(leases
        .get_opt("kubefed-controller-manager")
        .await?
        .and_then(|l| l.spec?.holder_identity)
        .filter(|h| !h.is_empty()))
}

/// Two replicas with leader election; the leader is SIGKILLed mid-propagation (its member budget is small,
/// so 150 objects take a while). The standby takes over once the Lease expires and finishes the work; the
/// killed one, restarted, becomes the standby. Every object ends up in every member exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_mid_propagation_standby_finishes() -> TestResult {
    let _turn = EXCLUSIVE.lock().await;
    let tb = setup().await?;
    let host = tb.client(HOST).await?;
    let flags = ["--leader-elect", "--member-qps", "10", "--member-burst", "10"];
    let mut replicas: HashMap<String, Controller> = HashMap::new();
    for name in ["replica-a", "replica-b"] {
        replicas.insert(name.to_string(), start_controller(tb, name, &flags)?);
    }
    let (host_ns_client, ns) = federated_namespace(tb, "fault-leader").await?;
    let first = wait_for("a leader", || {
        let host = host.clone();
        async move { Ok(leader(&host).await?.filter(|h| h.starts_with("replica-"))) }
    })
    .await?;
    const N: usize = 150;
    create_configmaps(&host_ns_client, &ns, (0..N).map(|i| format!("cm-{i}"))).await?;
    let in_flight = wait_for("propagation under way", || async {
        let n = managed_configmaps(tb, M1, &ns).await?.len();
        Ok((n > 0).then_some(n))
    })
    .await?;
    let killed = replicas
        .get_mut(&first)
        .ok_or_else(|| format!("the leader {first} is not one of ours"))?;
    killed.process.kill()?;
    println!("killed leader {first} with {in_flight}/{N} objects in member-1");
    let second = wait_for("the standby to take the Lease", || {
        let (host, first) = (host.clone(), first.clone());
        async move { Ok(leader(&host).await?.filter(|h| *h != first)) }
    })
    .await?;
    // The killed replica comes back as the standby.
    replicas.insert(first.clone(), start_controller(tb, &first, &flags)?);
    let mut seen = Vec::new();
    for m in MEMBERS {
        seen.push(holds_configmaps(tb, m, &ns, N).await?);
    }
    let expected: Vec<String> = (0..N).map(|i| format!("cm-{i}")).collect();
    for (m, have) in MEMBERS.iter().zip(&seen) {
        let names: Vec<&String> = have.keys().collect();
        let mut want: Vec<&String> = expected.iter().collect();
        want.sort();
        assert_eq!(names, want, "{m}: each object exactly once");
    }
    assert_eq!(
        leader(&host).await?.as_deref(),
        Some(second.as_str()),
        "the new leader keeps the Lease"
    );
    Ok(())
}

/// Makes a token for `member` from a ServiceAccount bound to cluster-admin there (a legacy token Secret,
/// so deleting the Secret revokes it).
async fn member_token(member: &kube::Client, secret: &str) -> TestResult<String> {
    let ns = "kube-system";
    let pp = PatchParams::apply("fault-tests").force();
    let sas: Api<ServiceAccount> = Api::namespaced(member.clone(), ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "kubefed-faults", "namespace": ns}}))?;
    sas.patch("kubefed-faults", &pp, &Patch::Apply(&sa)).await?;
    let crb: ClusterRoleBinding = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "kubefed-faults"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "kubefed-faults", "namespace": ns}]
    }))?;
    Api::<ClusterRoleBinding>::all(member.clone())
        .patch("kubefed-faults", &pp, &Patch::Apply(&crb))
        .await?;
    let secrets: Api<Secret> = Api::namespaced(member.clone(), ns);
    let s: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": secret, "namespace": ns,
                     "annotations": {"kubernetes.io/service-account.name": "kubefed-faults"}}
    }))?;
    secrets.create(&PostParams::default(), &s).await?;
    wait_for("the token controller to fill the Secret", || {
        let secrets = secrets.clone();
        async move {
            let s = secrets.get(secret).await?;
            Ok(s.data
                .and_then(|d| d.get("token").cloned())
                .and_then(|t| String::from_utf8(t.0).ok()))
        }
    })
    .await
}

/// Points the host's Secret for `member` at `token`.
async fn use_token(host: &kube::Client, member: &str, token: &str) -> TestResult {
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(format!("{member}-token")),
            namespace: Some(DEFAULT_SYSTEM_NAMESPACE.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "token".to_string(),
            ByteString(token.as_bytes().to_vec()),
        )])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE)
        .patch(
            &format!("{member}-token"),
            &PatchParams::apply("kubefed-testbed").force(),
            &Patch::Apply(&secret),
        )
        .await?;
    Ok(())
}

/// member-2's credentials revoked (its ServiceAccount token Secret deleted): member-2 is reported not
/// ready with the reason on its KubeFedCluster and an Event, nothing in it is deleted, member-1 carries
/// on; a new token brings it back and what changed meanwhile arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_credentials_revoked_are_reported_and_recovered() -> TestResult {
    let _turn = EXCLUSIVE.lock().await;
    let tb = setup().await?;
    let _controller = start_controller(tb, "controller-credentials", &[])?;
    let (host, ns) = federated_namespace(tb, "fault-creds").await?;
    let member = tb.client(M2).await?;
    let token = member_token(&member, "kubefed-faults-1").await?;
    use_token(&host, M2, &token).await?;
    let result = async {
        create_configmaps(&host, &ns, std::iter::once("kept".to_string())).await?;
        let kept = holds_configmaps(tb, M2, &ns, 1).await?;
        // Revoke: the token stops authenticating.
        Api::<Secret>::namespaced(member.clone(), "kube-system")
            .delete("kubefed-faults-1", &DeleteParams::default())
            .await?;
        let kfc = kfc_ready(&host, M2, false).await?;
        let status = serde_json::to_value(&kfc.status)?.to_string();
        assert!(
            status.contains("401"),
            "the KubeFedCluster says the credentials were rejected: {status}"
        );
        // Read as core/v1, the view `kubectl get events --sort-by=.lastTimestamp` sorts.
        let events: Api<Event> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
        assert!(
            status.contains("ClusterCredentialsRejected"),
            "the Ready condition's reason says the credentials were rejected: {status}"
        );
        wait_for(
            "a ClusterCredentialsRejected Event naming the rejected credentials",
            || {
                let events = events.clone();
                async move {
                    let list = events.list(&ListParams::default()).await?.items;
                    Ok(list
                        .iter()
                        .any(|e| {
                            e.reason.as_deref() == Some("ClusterCredentialsRejected")
                                && e.involved_object.name.as_deref() == Some(M2)
                                && e.message.as_deref().is_some_and(|n| n.contains("credentials"))
                                && e.last_timestamp.is_some()
                        })
                        .then_some(()))
                }
            },
        )
        .await?;
        // member-1 carries on; member-2 keeps what it has.
        create_configmaps(&host, &ns, std::iter::once("meanwhile".to_string())).await?;
        holds_configmaps(tb, M1, &ns, 2).await?;
        tokio::time::sleep(SETTLE).await;
        assert_eq!(
            managed_configmaps(tb, M2, &ns).await?,
            kept,
            "nothing deleted in member-2"
        );
        // Restore with a new token.
        let token = member_token(&member, "kubefed-faults-2").await?;
        use_token(&host, M2, &token).await?;
        kfc_ready(&host, M2, true).await?;
        let after = holds_configmaps(tb, M2, &ns, 2).await?;
        assert_eq!(
            after.get("kept"),
            kept.get("kept"),
            "the kept ConfigMap was not recreated"
        );
        TestResult::Ok(())
    }
    .await;
    // Back to the admin token for the other tests.
    join(tb, &host, M2, BTreeMap::new()).await?;
    result
}

/// A member that rejects a write for good (here: an override puts a number where a ConfigMap wants a
/// string, which the member's schema refuses): the federated object reports the member's own message for
/// that cluster, the write is not retried on a timer, the other member is unaffected, and fixing the
/// override lets it through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_rejection_is_reported_with_its_reason_and_not_retried() -> TestResult {
    let _turn = EXCLUSIVE.lock().await;
    let tb = setup().await?;
    let _controller = start_controller(tb, "controller-rejection", &[])?;
    let (host, ns) = federated_namespace(tb, "fault-reject").await?;
    let fcm = fcm_api(&host, &ns);
    fcm.create(
        &PostParams::default(),
        &obj(json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
            "metadata": {"name": "bad", "namespace": ns},
            "spec": {"template": {"data": {"v": "1"}}, "placement": {"clusterSelector": {}},
                     "overrides": [{"clusterName": M2, "clusterOverrides": [{"path": "/data/v", "value": 5}]}]}
        }))?,
    )
    .await?;
    holds_configmaps(tb, M1, &ns, 1).await?;
    let message = wait_for("member-2's rejection on the federated object", || {
        let fcm = fcm.clone();
        async move {
            let o = fcm.get("bad").await?;
            let status = &o.data["status"];
            let failed = status["clusters"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["name"] == M2 && c["status"] == "CreationFailed")
            });
            let message = status["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Propagation"))
                .and_then(|c| c["message"].as_str())
                .map(String::from);
            Ok(message.filter(|m| failed && m.contains(M2) && m.contains("rejected")))
        }
    })
    .await?;
    println!("status message: {message}");
    // The member's own reason, not just a status code.
    assert!(
        message.contains("data"),
        "the member's message names the field: {message}"
    );
    let member = tb.client(M2).await?;
    let before = requests(&member).await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let again = writes(&requests(&member).await?, &before, "configmaps");
    assert_eq!(
        again, 0,
        "a rejected write is not retried on a timer (retries back off from 0.5 s)"
    );
    assert!(
        managed_configmaps(tb, M2, &ns).await?.is_empty(),
        "nothing half-written in member-2"
    );
    // Fixed: the object changes, the write goes through.
    fcm.patch(
        "bad",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"overrides": null}})),
    )
    .await?;
    holds_configmaps(tb, M2, &ns, 1).await?;
    Ok(())
}

/// The only controller SIGKILLed mid-propagation (no leader election) and started again: the new process
/// picks up where the old one stopped, and every object ends up in every member once, with its status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_killed_mid_propagation_and_restarted_finishes() -> TestResult {
    let _turn = EXCLUSIVE.lock().await;
    let tb = setup().await?;
    let flags = ["--member-qps", "10", "--member-burst", "10"];
    let mut controller = start_controller(tb, "controller-killed", &flags)?;
    let (host, ns) = federated_namespace(tb, "fault-restart").await?;
    const N: usize = 100;
    create_configmaps(&host, &ns, (0..N).map(|i| format!("cm-{i}"))).await?;
    let in_flight = wait_for("propagation under way", || async {
        let n = managed_configmaps(tb, M1, &ns).await?.len();
        Ok((n > 0).then_some(n))
    })
    .await?;
    controller.process.kill()?;
    println!("killed the controller with {in_flight}/{N} objects in member-1");
    let _restarted = start_controller(tb, "controller-restarted", &flags)?;
    for m in MEMBERS {
        holds_configmaps(tb, m, &ns, N).await?;
    }
    all_propagated(&host, &ns, N).await
}
