//! A host and N member clusters, one kubeconfig with a context per cluster and user, and kube clients.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::bins::Binaries;
use crate::cluster::{Cluster, ClusterOptions, USERS, token};
use crate::node::{NODE_IP, Node, NodeTargets};
use crate::{Error, Result, io_err};

/// How many times a cluster that lost a port race is started again.
const PORT_RETRIES: u32 = 3;

/// Name of the host cluster (and of its kubeconfig context).
pub const HOST: &str = "host";

/// What to start.
#[derive(Clone, Debug)]
pub struct TestbedOptions {
    /// Number of member clusters, named `member-1` … `member-N`.
    pub members: usize,
    pub cluster: ClusterOptions,
    /// How long each API server may take to become ready (start-up is CPU-bound on 2 cores).
    pub ready_timeout: Duration,
    /// Give the host cluster a real worker node (containerd, kubelet, kube-scheduler) so pods run; see
    /// [`crate::node`]. Needs root; fails with [`Error::NodeUnavailable`] when the machine cannot.
    pub node: bool,
}

impl Default for TestbedOptions {
    fn default() -> Self {
        Self {
            members: 2,
            cluster: ClusterOptions::default(),
            ready_timeout: Duration::from_secs(180),
            node: false,
        }
    }
}

/// Running clusters. Dropping it stops them; so does the end of this process, however it ends.
pub struct Testbed {
    pub dir: PathBuf,
    /// A kubeconfig with contexts `host`, `member-1`, … (as admin) and `<user>@<cluster>` for each test user.
    pub kubeconfig: PathBuf,
    pub bins: Binaries,
    // Declared before the clusters: dropped (torn down) while their apiservers still answer.
    node: Option<Node>,
    clusters: Mutex<Vec<Cluster>>,
    names: Vec<String>,
    boot: Duration,
    _cleanup: Option<Cleanup>,
}

/// The testbed of this test binary: started on first use (host + 2 members), shared by its tests.
/// Each test should work in its own namespace ([`Testbed::namespace`]).
pub fn shared_testbed() -> Result<&'static Testbed> {
    static TB: OnceLock<std::result::Result<Testbed, String>> = OnceLock::new();
    TB.get_or_init(|| Testbed::start(TestbedOptions::default()).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::Other(format!("testbed failed to start: {e}")))
}

impl Testbed {
    /// Builds missing binaries, starts every cluster and waits until all are ready. Blocking; safe to call
    /// from async code (the work runs on a thread of its own).
    pub fn start(opts: TestbedOptions) -> Result<Self> {
        std::thread::scope(|s| {
            s.spawn(|| Self::start_blocking(opts))
                .join()
                .map_err(|_| Error::Other("testbed start-up thread panicked".into()))?
        })
    }

    fn start_blocking(opts: TestbedOptions) -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bins = Binaries::locate()?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        // Two testbeds of one test binary can start in the same millisecond: the sequence number keeps their
        // directories (and so their etcd data) apart, and `create_dir` (not `_all`) fails rather than share one.
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kubefed-testbed-{}-{stamp}-{seq}", std::process::id()));
        std::fs::create_dir(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let cleanup = cleanup_process(&dir)?;
        let names: Vec<String> = std::iter::once(HOST.to_string())
            .chain((1..=opts.members).map(|i| format!("member-{i}")))
            .collect();
        // The node's network (and the Service-CIDR blackhole) must exist before any apiserver creates a Service.
        let mut node = if opts.node {
            Some(Node::prepare(&dir.join("node"), &bins)?)
        } else {
            None
        };
        let started = Instant::now();
        let mut clusters = Vec::new();
        for name in &names {
            clusters.push(Cluster::start(name, &dir, &bins, opts.cluster.clone())?);
        }
        for (i, name) in names.iter().enumerate() {
            // free_port() hands out a port nothing listens on *now*; another process (a parallel test
            // binary, a just-stopped testbed) may take it before etcd or the apiserver binds. Such a start
            // is retried from scratch on new ports, a few times.
            let mut attempt = 1;
            loop {
                match clusters[i].wait_ready(opts.ready_timeout) {
                    Ok(()) => break,
                    Err(e) if attempt < PORT_RETRIES && e.to_string().contains("address already in use") => {
                        eprintln!(
                            "testbed: {name} lost a port race ({attempt}/{PORT_RETRIES}), starting it again"
                        );
                        attempt += 1;
                        let fresh = dir.join(format!("{name}.retry-{attempt}"));
                        let _ = std::fs::create_dir_all(&fresh);
                        // Stops the failed cluster's processes (Drop) before its replacement starts.
                        clusters[i] = Cluster::start(name, &fresh, &bins, opts.cluster.clone())?;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let boot = started.elapsed();
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, render_kubeconfig(&clusters))
            .map_err(io_err(format!("writing {}", kubeconfig.display())))?;
        if let Some(n) = node.as_mut() {
            let targets = NodeTargets {
                host_port: clusters[0].port(),
                all_ports: clusters.iter().map(Cluster::port).collect(),
                host_kubeconfig: clusters[0].dir.join("kcm.kubeconfig"),
                kubectl: bins.path("kubectl"),
            };
            n.start(&bins, &targets, opts.ready_timeout)?;
        }
        Ok(Self {
            dir,
            kubeconfig,
            bins,
            node,
            clusters: Mutex::new(clusters),
            names,
            boot,
            _cleanup: cleanup,
        })
    }

    /// Cluster names: `host`, then the members.
    pub fn cluster_names(&self) -> &[String] {
        &self.names
    }

    /// Member cluster names.
    pub fn members(&self) -> &[String] {
        &self.names[1..]
    }

    /// How long the clusters took to become ready.
    pub fn boot_time(&self) -> Duration {
        self.boot
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Cluster>> {
        self.clusters.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_cluster<T>(&self, name: &str, f: impl FnOnce(&mut Cluster) -> Result<T>) -> Result<T> {
        let mut all = self.lock();
        let c = all
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| Error::Other(format!("no cluster named {name:?}; have {:?}", self.names)))?;
        f(c)
    }

    /// `https://127.0.0.1:PORT` of a cluster's API server.
    pub fn endpoint(&self, cluster: &str) -> Result<String> {
        self.with_cluster(cluster, |c| Ok(c.endpoint.clone()))
    }

    /// The host's worker node, when started with `TestbedOptions { node: true, .. }`.
    pub fn node(&self) -> Option<&Node> {
        self.node.as_ref()
    }

    /// The endpoint pods on the node reach a cluster's API server on: `https://<node IP>:PORT` (relayed to its
    /// loopback port; the serving certificate has the node IP). Use it for KubeFedClusters the controller
    /// reads from inside a pod. Errors when the testbed has no node.
    pub fn pod_endpoint(&self, cluster: &str) -> Result<String> {
        if self.node.is_none() {
            return Err(Error::Other(
                "pod_endpoint needs a testbed started with TestbedOptions { node: true, .. }".into(),
            ));
        }
        self.with_cluster(cluster, |c| Ok(format!("https://{NODE_IP}:{}", c.port())))
    }

    /// PEM of the CA a cluster's API server certificate chains to (for a KubeFedCluster `caBundle`).
    pub fn ca_pem(&self, cluster: &str) -> Result<String> {
        self.with_cluster(cluster, |c| Ok(c.ca_pem.clone()))
    }

    /// Bearer token of a test user (same on every cluster): `admin`, `alice`, `bob`, `carol`.
    pub fn token(&self, user: &str) -> String {
        token(user)
    }

    /// A client for `cluster` as admin.
    pub async fn client(&self, cluster: &str) -> Result<kube::Client> {
        self.client_as(cluster, "admin").await
    }

    /// A client for `cluster` as test user `user`. Make a new one per test: a client belongs to the runtime
    /// that made it.
    pub async fn client_as(&self, cluster: &str, user: &str) -> Result<kube::Client> {
        let context = context_name(cluster, user);
        let err = |message: String| Error::Client {
            context: context.clone(),
            message,
        };
        let kc = Kubeconfig::read_from(&self.kubeconfig).map_err(|e| err(e.to_string()))?;
        let opts = KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        };
        let cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .map_err(|e| err(e.to_string()))?;
        kube::Client::try_from(cfg).map_err(|e| err(e.to_string()))
    }

    /// Stops a cluster's API server (etcd keeps its data), to simulate an outage.
    pub fn stop_apiserver(&self, cluster: &str) -> Result<()> {
        self.with_cluster(cluster, |c| {
            c.stop_apiserver();
            Ok(())
        })
    }

    /// Restarts a stopped or killed API server on the same port and waits until it is ready.
    pub fn start_apiserver(&self, cluster: &str) -> Result<()> {
        self.with_cluster(cluster, |c| {
            c.start_apiserver()?;
            std::thread::scope(|s| {
                s.spawn(|| c.wait_ready(Duration::from_secs(180)))
                    .join()
                    .map_err(|_| Error::Other("readiness thread panicked".into()))?
            })
        })
    }

    /// Freezes a cluster's API server (SIGSTOP), to simulate a partition: connections are accepted but
    /// never answered. [`Testbed::resume_apiserver`] undoes it; a frozen server is resumed before the
    /// testbed stops it.
    pub fn freeze_apiserver(&self, cluster: &str) -> Result<()> {
        self.with_cluster(cluster, Cluster::freeze_apiserver)
    }

    /// Resumes a frozen API server (SIGCONT).
    pub fn resume_apiserver(&self, cluster: &str) -> Result<()> {
        self.with_cluster(cluster, Cluster::resume_apiserver)
    }

    /// Kills a cluster's API server with SIGKILL, like a crash (etcd keeps its data). Restart it with
    /// [`Testbed::start_apiserver`] (same port, same data).
    pub fn kill_apiserver(&self, cluster: &str) -> Result<()> {
        self.with_cluster(cluster, Cluster::kill_apiserver)
    }

    /// Kills a cluster's API server and starts it again on the same port and data; waits until ready.
    pub fn restart_apiserver(&self, cluster: &str) -> Result<()> {
        self.kill_apiserver(cluster)?;
        self.start_apiserver(cluster)
    }

    /// Resident memory of each cluster's processes (etcd + apiserver + controller-manager), in bytes.
    pub fn memory_per_cluster(&self) -> Vec<(String, u64)> {
        self.lock()
            .iter()
            .map(|c| (c.name.clone(), c.memory_bytes()))
            .collect()
    }

    /// Runs the testbed's kubectl with its kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Result<Output> {
        Command::new(self.bins.path("kubectl"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .map_err(io_err("running kubectl"))
    }

    /// A fresh namespace name for one test: `<prefix>-<n>`, unique within this process.
    pub fn namespace_name(&self, prefix: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "{prefix}-{}-{}",
            std::process::id() % 10000,
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Creates a fresh namespace on each of `clusters` and returns its name.
    pub async fn namespace(&self, prefix: &str, clusters: &[&str]) -> Result<String> {
        let name = self.namespace_name(prefix);
        for c in clusters {
            let api: Api<Namespace> = Api::all(self.client(c).await?);
            let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
                .map_err(|e| Error::Other(e.to_string()))?;
            api.create(&PostParams::default(), &ns)
                .await
                .map_err(|e| Error::Other(format!("creating namespace {name} on {c}: {e}")))?;
        }
        Ok(name)
    }
}

/// Server-side applies CRDs and waits until each is Established.
pub async fn install_crds(client: &kube::Client, crds: &[CustomResourceDefinition]) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply("kubefed-testbed").force();
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &pp, &Patch::Apply(crd))
            .await
            .map_err(|e| Error::Other(format!("applying CRD {name}: {e}")))?;
    }
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let cond = kube::runtime::conditions::is_crd_established();
        tokio::time::timeout(
            Duration::from_secs(30),
            kube::runtime::wait::await_condition(api.clone(), &name, cond),
        )
        .await
        .map_err(|_| Error::Other(format!("CRD {name} not Established after 30s")))?
        .map_err(|e| Error::Other(format!("waiting for CRD {name}: {e}")))?;
    }
    Ok(())
}

/// Deletes a namespace without waiting (tests call it at their end; failures are ignored).
pub async fn delete_namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
}

fn context_name(cluster: &str, user: &str) -> String {
    if user == "admin" {
        cluster.to_string()
    } else {
        format!("{user}@{cluster}")
    }
}

fn render_kubeconfig(clusters: &[Cluster]) -> String {
    let mut s = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for c in clusters {
        s += &format!(
            "- name: {}\n  cluster:\n    server: {}\n    certificate-authority: {}\n",
            c.name,
            c.endpoint,
            c.ca_file.display()
        );
    }
    s += "users:\n";
    for u in USERS {
        s += &format!("- name: {}\n  user:\n    token: {}\n", u.name, token(u.name));
    }
    s += "contexts:\n";
    for c in clusters {
        for u in USERS {
            s += &format!(
                "- name: {}\n  context:\n    cluster: {}\n    user: {}\n",
                context_name(&c.name, u.name),
                c.name,
                u.name
            );
        }
    }
    s += &format!("current-context: {HOST}\n");
    s
}

/// Removes the testbed directory once this process is gone (after the watchdogs stopped their processes),
/// unless `KUBEFED_TESTBED_KEEP=1` asks to keep logs and data for debugging. Like the watchdogs, it waits for
/// its stdin (a pipe from us) to close.
struct Cleanup {
    _child: std::process::Child,
    _stdin: Option<std::process::ChildStdin>,
}

fn cleanup_process(dir: &Path) -> Result<Option<Cleanup>> {
    if std::env::var("KUBEFED_TESTBED_KEEP").is_ok_and(|v| v == "1") {
        return Ok(None);
    }
    let script = r#"while read -r _; do :; done; sleep 7; rm -rf -- "$1""#;
    let mut child = Command::new("bash")
        .args(["-c", script, "cleanup"])
        .arg(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(io_err("starting the testbed's cleanup process"))?;
    let stdin = child.stdin.take();
    Ok(Some(Cleanup {
        _child: child,
        _stdin: stdin,
    }))
}
