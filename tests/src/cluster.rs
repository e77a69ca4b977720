//! One cluster's control plane: etcd, kube-apiserver and (optionally) kube-controller-manager, each a
//! supervised process on free loopback ports, with its own CA, serving certificate and token users.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kubefed_core::pki::{CertificateAuthority, generate_key_pair_pem};

use crate::bins::Binaries;
use crate::process::{Process, free_port, tail};
use crate::{Error, Result, io_err};

/// A token-authenticated user of every testbed cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: &'static str,
    pub groups: &'static [&'static str],
}

/// The users every testbed cluster knows: `admin` is in `system:masters`; the others start with no rights,
/// for RBAC tests (bind them roles as a test needs).
pub const USERS: &[User] = &[
    User {
        name: "admin",
        groups: &["system:masters"],
    },
    User {
        name: "alice",
        groups: &["devs"],
    },
    User {
        name: "bob",
        groups: &["devs"],
    },
    User {
        name: "carol",
        groups: &["ops"],
    },
];

/// The bearer token of `user` (tokens are local to the testbed and listen on loopback only).
pub fn token(user: &str) -> String {
    format!("kubefed-testbed-{user}-token")
}

/// How to start a cluster.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Run kube-controller-manager (namespace deletion, garbage collection, service-account tokens).
    pub controller_manager: bool,
    /// Extra kube-apiserver flags, appended last (e.g. `--admission-control-config-file=…`; files they
    /// name are the caller's to write before the start).
    pub extra_apiserver_args: Vec<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            controller_manager: true,
            extra_apiserver_args: Vec::new(),
        }
    }
}

/// A running cluster.
pub struct Cluster {
    pub name: String,
    pub dir: PathBuf,
    /// `https://127.0.0.1:PORT` of the API server.
    pub endpoint: String,
    /// PEM of the CA that signed the API server's serving certificate.
    pub ca_pem: String,
    pub ca_file: PathBuf,
    apiserver_port: u16,
    etcd_port: u16,
    bins: Binaries,
    etcd: Option<Process>,
    apiserver: Option<Process>,
    controller_manager: Option<Process>,
    opts: ClusterOptions,
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(io_err(format!("writing {}", path.display())))
}

impl Cluster {
    /// Prepares the cluster's files and starts its processes; does not wait for readiness
    /// (see [`Cluster::wait_ready`]) so that several clusters boot in parallel.
    pub fn start(name: &str, base: &Path, bins: &Binaries, opts: ClusterOptions) -> Result<Self> {
        let dir = base.join(name);
        std::fs::create_dir_all(dir.join("etcd")).map_err(io_err(format!("creating {}", dir.display())))?;
        let ca = CertificateAuthority::generate(&format!("kubefed-testbed-{name}-ca"), YEAR)?;
        let serving = ca.issue_serving(
            &[
                "localhost".into(),
                "kubernetes".into(),
                "kubernetes.default".into(),
                "kubernetes.default.svc".into(),
            ],
            // 10.0.0.1: the kubernetes Service (in-cluster clients); the node IP: pods on the testbed's node
            // reach every apiserver there (see node.rs).
            &[
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from(crate::node::KUBERNETES_SERVICE_IP),
                IpAddr::from(crate::node::NODE_IP),
            ],
            YEAR,
        )?;
        let ca_file = dir.join("ca.crt");
        write(&ca_file, &ca.cert_pem)?;
        write(&dir.join("apiserver.crt"), &serving.cert_pem)?;
        write(&dir.join("apiserver.key"), &serving.key_pem)?;
        let (sa_private, sa_public) = generate_key_pair_pem()?;
        write(&dir.join("sa.key"), &sa_private)?;
        write(&dir.join("sa.pub"), &sa_public)?;
        let tokens: String = USERS
            .iter()
            .map(|u| {
                format!(
                    "{},{},uid-{},\"{}\"\n",
                    token(u.name),
                    u.name,
                    u.name,
                    u.groups.join(",")
                )
            })
            .collect();
        write(&dir.join("tokens.csv"), &tokens)?;
        let apiserver_port = free_port()?;
        let etcd_port = free_port()?;
        let endpoint = format!("https://127.0.0.1:{apiserver_port}");
        write(
            &dir.join("kcm.kubeconfig"),
            &single_kubeconfig(&endpoint, &ca_file, &token("admin")),
        )?;
        let mut c = Self {
            name: name.to_string(),
            dir,
            endpoint,
            ca_pem: ca.cert_pem.clone(),
            ca_file,
            apiserver_port,
            etcd_port,
            bins: bins.clone(),
            etcd: None,
            apiserver: None,
            controller_manager: None,
            opts,
        };
        c.start_etcd()?;
        c.start_apiserver()?;
        if c.opts.controller_manager {
            c.start_controller_manager()?;
        }
        Ok(c)
    }

    fn start_etcd(&mut self) -> Result<()> {
        let peer = free_port()?;
        let client = format!("http://127.0.0.1:{}", self.etcd_port);
        let peer_url = format!("http://127.0.0.1:{peer}");
        let args = vec![
            "--name=default".into(),
            format!("--data-dir={}", self.dir.join("etcd").display()),
            format!("--listen-client-urls={client}"),
            format!("--advertise-client-urls={client}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            // Test data is disposable: skip fsync, which dominates etcd latency on shared disks.
            "--unsafe-no-fsync=true".into(),
            "--log-level=warn".into(),
            "--quota-backend-bytes=4294967296".into(),
        ];
        let log = self.dir.join("etcd.log");
        self.etcd = Some(Process::spawn(
            &format!("{}/etcd", self.name),
            &self.bins.path("etcd"),
            &args,
            &log,
        )?);
        Ok(())
    }

    fn apiserver_args(&self) -> Vec<String> {
        let d = &self.dir;
        let mut args = vec![
            format!("--etcd-servers=http://127.0.0.1:{}", self.etcd_port),
            format!("--secure-port={}", self.apiserver_port),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--cert-dir={}", d.join("certs").display()),
            format!("--tls-cert-file={}", d.join("apiserver.crt").display()),
            format!("--tls-private-key-file={}", d.join("apiserver.key").display()),
            format!("--client-ca-file={}", self.ca_file.display()),
            format!("--token-auth-file={}", d.join("tokens.csv").display()),
            "--authorization-mode=RBAC".into(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", d.join("sa.pub").display()),
            format!(
                "--service-account-signing-key-file={}",
                d.join("sa.key").display()
            ),
            format!("--service-cluster-ip-range={}", crate::node::SERVICE_CIDR),
            // Webhooks and APIServices are called on their endpoints' IPs, never a ClusterIP: there is no
            // kube-proxy, and a ClusterIP would follow the default route off the machine.
            "--enable-aggregator-routing=true".into(),
            "--allow-privileged=true".into(),
            // Saves CPU on a 2-core machine; fairness between tenants is not what these tests are about.
            "--enable-priority-and-fairness=false".into(),
            "--endpoint-reconciler-type=none".into(),
            // `KUBEFED_TESTBED_PROFILING=1` serves /debug/pprof, to see where an API server's CPU goes.
            format!(
                "--profiling={}",
                std::env::var_os("KUBEFED_TESTBED_PROFILING").is_some_and(|v| v == "1")
            ),
            "--v=1".into(),
        ];
        args.extend(self.opts.extra_apiserver_args.iter().cloned());
        args
    }

    /// Starts (or restarts) the API server on its original port, with the same etcd data. An API server
    /// that died on its own (killed, crashed) is reaped and replaced.
    pub fn start_apiserver(&mut self) -> Result<()> {
        if let Some(p) = self.apiserver.as_mut() {
            if p.check_alive().is_ok() {
                return Ok(());
            }
            self.apiserver.take();
        }
        let log = self.dir.join("kube-apiserver.log");
        let p = Process::spawn(
            &format!("{}/kube-apiserver", self.name),
            &self.bins.path("kube-apiserver"),
            &self.apiserver_args(),
            &log,
        )?;
        self.apiserver = Some(p);
        Ok(())
    }

    /// The API server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.apiserver_port
    }

    /// Stops the API server (etcd keeps the data), e.g. to test a member outage.
    pub fn stop_apiserver(&mut self) {
        if let Some(mut p) = self.apiserver.take() {
            p.stop();
        }
    }

    /// Freezes the API server with SIGSTOP: its port still accepts connections but nothing answers, like
    /// a partitioned or hung server. [`Cluster::resume_apiserver`] undoes it.
    pub fn freeze_apiserver(&mut self) -> Result<()> {
        self.running_apiserver()?.signal("STOP")
    }

    /// Resumes a frozen API server (SIGCONT).
    pub fn resume_apiserver(&mut self) -> Result<()> {
        self.running_apiserver()?.signal("CONT")
    }

    /// Kills the API server with SIGKILL (etcd keeps the data) and reaps it; [`Cluster::start_apiserver`]
    /// starts it again on the same port.
    pub fn kill_apiserver(&mut self) -> Result<()> {
        let mut p = self
            .apiserver
            .take()
            .ok_or_else(|| Error::Other(format!("{}: the API server is not running", self.name)))?;
        p.kill()
    }

    fn running_apiserver(&mut self) -> Result<&mut Process> {
        self.apiserver
            .as_mut()
            .ok_or_else(|| Error::Other(format!("{}: the API server is not running", self.name)))
    }

    fn start_controller_manager(&mut self) -> Result<()> {
        let d = &self.dir;
        let args = vec![
            format!("--kubeconfig={}", d.join("kcm.kubeconfig").display()),
            format!(
                "--service-account-private-key-file={}",
                d.join("sa.key").display()
            ),
            format!("--root-ca-file={}", self.ca_file.display()),
            "--leader-elect=false".into(),
            "--secure-port=0".into(),
            "--use-service-account-credentials=false".into(),
            "--controllers=*,-nodeipam,-nodelifecycle,-service,-route,-persistentvolume-binder,-attachdetach"
                .into(),
            "--concurrent-gc-syncs=5".into(),
            "--v=1".into(),
        ];
        let log = d.join("kube-controller-manager.log");
        self.controller_manager = Some(Process::spawn(
            &format!("{}/kube-controller-manager", self.name),
            &self.bins.path("kube-controller-manager"),
            &args,
            &log,
        )?);
        Ok(())
    }

    /// Waits until the API server's `/readyz` answers `ok`, failing early when a process died.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let url = format!("{}/readyz", self.endpoint);
        let token = token("admin");
        loop {
            if let Some(p) = self.etcd.as_mut() {
                p.check_alive()?;
            }
            if let Some(p) = self.apiserver.as_mut() {
                p.check_alive()?;
            }
            if probe(&url, &self.ca_file, &token) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                let log = self.dir.join("kube-apiserver.log");
                return Err(Error::NotReady {
                    process: format!("{}/kube-apiserver", self.name),
                    seconds: timeout.as_secs(),
                    log: log.display().to_string(),
                    tail: tail(&log, 30),
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Resident memory (RSS, bytes) of this cluster's processes, summed, read from /proc.
    pub fn memory_bytes(&self) -> u64 {
        let pids = [&self.etcd, &self.apiserver, &self.controller_manager]
            .into_iter()
            .flatten()
            .filter_map(|p| p.program_pid());
        pids.map(rss_bytes).sum()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Stop in dependency order: clients of etcd first.
        self.controller_manager.take();
        self.apiserver.take();
        self.etcd.take();
    }
}

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// A kubeconfig with one cluster, user and context (for kube-controller-manager).
fn single_kubeconfig(endpoint: &str, ca_file: &Path, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {endpoint}\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n",
        ca_file.display()
    )
}

/// Whether `GET url` answers `ok`. Runs on a short-lived runtime of its own so the testbed stays usable from
/// synchronous code and from any test's runtime.
fn probe(url: &str, ca_file: &Path, token: &str) -> bool {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return false;
    };
    rt.block_on(async {
        let Ok(cfg) = kube_config(url, ca_file, token) else {
            return false;
        };
        let Ok(client) = kube::Client::try_from(cfg) else {
            return false;
        };
        let req = match http::Request::get("/readyz").body(Vec::new()) {
            Ok(r) => r,
            Err(_) => return false,
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), client.request_text(req)).await,
            Ok(Ok(body)) if body.trim() == "ok"
        )
    })
}

/// A kube client config for `server` trusting the CA in `ca_file`, authenticating with `token`.
pub fn kube_config(server: &str, ca_file: &Path, token: &str) -> Result<kube::Config> {
    let base = server.trim_end_matches("/readyz");
    let uri = base.parse::<http::Uri>().map_err(|e| Error::Client {
        context: base.to_string(),
        message: e.to_string(),
    })?;
    let mut cfg = kube::Config::new(uri);
    let pem = std::fs::read(ca_file).map_err(io_err(format!("reading {}", ca_file.display())))?;
    let certs: Vec<Vec<u8>> = pem_certs_der(&pem);
    cfg.root_cert = Some(certs);
    cfg.auth_info.token = Some(token.to_string().into());
    cfg.connect_timeout = Some(Duration::from_secs(5));
    Ok(cfg)
}

fn pem_certs_der(pem: &[u8]) -> Vec<Vec<u8>> {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::pem_slice_iter(pem)
        .filter_map(|c| c.ok())
        .map(|c| c.to_vec())
        .collect()
}

fn rss_bytes(pid: u32) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
