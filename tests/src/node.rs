//! A real worker node for the testbed's host cluster: containerd + runc + CNI bridge, kubelet and
//! kube-scheduler, so pods (Helm-installed webhook and controller, test pods) actually run.
//!
//! Started by `TestbedOptions { node: true, .. }`; see docs/testbed.md ("A worker node") for what it changes
//! on the machine. In short, and all of it undone at the end:
//! - a bridge [`BRIDGE`] with the node IP [`NODE_IP`]/24 (pods get addresses of [`POD_SUBNET`]) and the
//!   `kubernetes` Service IP [`KUBERNETES_SERVICE_IP`]/32;
//! - `ip route add blackhole` [`SERVICE_CIDR`] before any Service exists: there is no kube-proxy, and a
//!   ClusterIP must never be dialled off the machine;
//! - TCP relays (threads of this process) from `10.0.0.1:443` to the host apiserver and from
//!   `NODE_IP:<port>` to every testbed apiserver's `127.0.0.1:<port>`;
//! - cgroup directories `kubefed-node` in each cgroup hierarchy, mounts and files under [`RUN_DIR`] and
//!   [`DATA_DIR`], containerd shim sockets in `/run/containerd/s`.
//!
//! Sysctls are never written (`ip_forward` stays as it is): the CNI bridge runs with `isGateway: false`, and
//! kubelet runs with `protectKernelDefaults` in a mount namespace of its own where the `/proc/sys` files it
//! checks show the values it wants, and where `iptables` is `/bin/false` (it would add chains to the host).
//!
//! Teardown runs on drop and, after a crash or SIGKILL of this process, in a cleanup process whose stdin is
//! a pipe from us (like [`crate::process`]). One node per machine: a stale one from a crashed run is cleaned
//! at start; a live one (another test process) is an error.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::bins::Binaries;
use crate::images;
use crate::process::Process;
use crate::{Error, Result, io_err};

/// The bridge pods attach to.
pub const BRIDGE: &str = "kubefed0";
/// The node's IP on [`BRIDGE`]; also the node name and the address pods reach testbed apiservers on.
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// Pod addresses (host-local IPAM hands out .10–.250).
pub const POD_SUBNET: &str = "10.77.0.0/24";
/// The testbed apiservers' `--service-cluster-ip-range`.
pub const SERVICE_CIDR: &str = "10.0.0.0/24";
/// First IP of [`SERVICE_CIDR`]: the `kubernetes` Service, which in-cluster clients dial.
pub const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Sockets, containerd state, netns mounts, pod IPAM (removed at teardown).
pub const RUN_DIR: &str = "/run/kubefed-node";
/// containerd's content store and snapshots, kubelet's root dir, pod logs (removed at teardown).
pub const DATA_DIR: &str = "/var/lib/kubefed-node";
/// containerd's socket (`ctr -a` it, or `hack/images.sh load`).
pub const CONTAINERD_SOCKET: &str = "/run/kubefed-node/containerd.sock";
/// Name of the cgroup directory made in each hierarchy (kubelet's `cgroupRoot`).
const CGROUP_ROOT: &str = "kubefed-node";

/// Teardown, idempotent and best effort. Paths come from the environment, never the command line: it finds
/// node processes by the paths in their command lines and must not match itself. `$1` = `watch` (wait for
/// stdin to close; a line `done` means the owner already tore down) or `now`.
const TEARDOWN: &str = r#"
trap '' INT TERM HUP
if [ "$1" = watch ]; then
  while read -r line; do [ "$line" = done ] && exit 0; done
fi
node_pids() {
  ps -eo pid=,comm=,args= | awk -v r="$KF_RUN/" -v d="$KF_DATA/" \
    '$2 ~ /^(kubelet|kube-scheduler|containerd|containerd-shim.*|unshare|sh)$/ && (index($0, r) || index($0, d)) {print $1}'
}
pids=$(node_pids)
[ -n "$pids" ] && kill -TERM $pids 2>/dev/null
for _ in $(seq 30); do [ -z "$(node_pids)" ] && break; sleep 0.1; done
pids=$(node_pids); [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
# Containers and pause processes live in our cgroups.
for _ in $(seq 20); do
  left=0
  for d in /sys/fs/cgroup/*/"$KF_CGROUP" /sys/fs/cgroup/"$KF_CGROUP"; do
    [ -d "$d" ] || continue
    pids=$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
    [ -n "$pids" ] && { kill -KILL $pids 2>/dev/null; left=1; }
  done
  [ "$left" = 0 ] && break
  sleep 0.1
done
# Mounts (rootfs overlays, netns, shm, kubelet volumes, the shared kubelet dir), deepest first.
for _ in 1 2 3; do
  awk '{print $5}' /proc/self/mountinfo | grep -E "^($KF_RUN|$KF_DATA)(/|$)" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
done
for d in /sys/fs/cgroup/*/"$KF_CGROUP" /sys/fs/cgroup/"$KF_CGROUP"; do
  [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
done
ip link del "$KF_BRIDGE" 2>/dev/null
ip route del blackhole "$KF_SERVICE_CIDR" 2>/dev/null
# containerd 1.6 keeps shim sockets in /run/containerd/s whatever its state dir: remove those nobody listens on.
if [ -d /run/containerd/s ]; then
  listening=$(ss -xlH 2>/dev/null | awk '{print $5}')
  for s in /run/containerd/s/*; do
    [ -S "$s" ] && ! grep -qxF "$s" <<<"$listening" && rm -f "$s"
  done
  rmdir /run/containerd/s /run/containerd 2>/dev/null
fi
rm -rf --one-file-system "$KF_RUN" "$KF_DATA" 2>/dev/null
exit 0
"#;

/// The `/proc/sys` values kubelet checks under `protectKernelDefaults` (shown to it only, in its own mount
/// namespace; the machine's values are untouched).
const KUBELET_SYSCTLS: &[(&str, &str)] = &[
    ("vm/overcommit_memory", "1"),
    ("vm/panic_on_oom", "0"),
    ("kernel/panic", "10"),
    ("kernel/panic_on_oops", "1"),
    ("kernel/keys/root_maxkeys", "1000000"),
    ("kernel/keys/root_maxbytes", "25000000"),
];

/// Runs kubelet (`$@`) after making `/proc` private in its new mount namespace and binding the wanted sysctl
/// values and `/bin/false` (for iptables) over the real files there.
const KUBELET_NS: &str = r#"
set -e
mount --make-rprivate /proc
for f in "$KF_SYSCTL_DIR"/*; do
  mount --bind "$f" "/proc/sys/$(basename "$f" | tr . /)"
done
for b in iptables ip6tables iptables-save ip6tables-save iptables-restore ip6tables-restore; do
  p=$(command -v "$b" 2>/dev/null) || continue
  mount --bind /bin/false "$(readlink -f "$p")"
done
exec "$@"
"#;

/// A running node (see the module docs). Drop tears it down.
pub struct Node {
    dir: PathBuf,
    pause_image: String,
    relays: Vec<Relay>,
    kubelet: Option<Process>,
    scheduler: Option<Process>,
    containerd: Option<Process>,
    cleanup: Option<CleanupWatch>,
}

/// What the node connects to, known once the clusters are started.
pub(crate) struct NodeTargets {
    /// The host apiserver's loopback port.
    pub host_port: u16,
    /// Loopback ports of every testbed apiserver (host and members): each is relayed from `NODE_IP:<port>`.
    pub all_ports: Vec<u16>,
    /// A kubeconfig for the host as admin.
    pub host_kubeconfig: PathBuf,
    /// The kubectl binary (to wait for the node and remove its taint).
    pub kubectl: PathBuf,
}

impl Node {
    /// Why this machine cannot run a node, if it cannot: `Err(Error::NodeUnavailable)`.
    pub fn check_machine(bins: &Binaries) -> Result<()> {
        let unavailable = |why: String| Err(Error::NodeUnavailable(why));
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or("?");
        if uid != "0" {
            return unavailable(format!(
                "not running as root (uid {uid}); a node creates a bridge, mounts and cgroups"
            ));
        }
        if !Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
            && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
        {
            return unavailable("no cgroup memory hierarchy under /sys/fs/cgroup".into());
        }
        for (cmd, pkg) in [
            ("containerd", "containerd"),
            ("ctr", "containerd"),
            ("containerd-shim-runc-v2", "containerd"),
            ("runc", "runc"),
            ("ip", "iproute2"),
            ("ss", "iproute2"),
            ("ps", "procps"),
            ("unshare", "util-linux"),
            ("mount", "mount"),
            ("gcc", "gcc"),
        ] {
            if which(cmd).is_none() {
                return unavailable(format!(
                    "{cmd} is missing: apt-get install {pkg} (hack/ensure-tools.sh does it when run as root)"
                ));
            }
        }
        if !Path::new("/usr/lib/cni/bridge").exists() {
            return unavailable(
                "CNI plugins missing in /usr/lib/cni: apt-get install containernetworking-plugins".into(),
            );
        }
        for b in ["kubelet", "kube-scheduler"] {
            if !bins.path(b).is_file() {
                return Err(Error::Binaries(format!(
                    "{} is missing; run tests/testbed/build-bins.sh",
                    bins.path(b).display()
                )));
            }
        }
        Ok(())
    }

    /// Phase 1, before any apiserver starts: claims the machine's one node slot (cleaning a stale node of a
    /// crashed run), starts the cleanup watch, makes the bridge, addresses and the Service-CIDR blackhole.
    pub(crate) fn prepare(dir: &Path, bins: &Binaries) -> Result<Self> {
        Self::check_machine(bins)?;
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        claim()?;
        let cleanup = CleanupWatch::start()?;
        let node = Self {
            dir: dir.to_path_buf(),
            pause_image: String::new(),
            relays: Vec::new(),
            kubelet: None,
            scheduler: None,
            containerd: None,
            cleanup: Some(cleanup),
        };
        let node_cidr = format!("{NODE_IP}/24");
        let svc_ip = format!("{KUBERNETES_SERVICE_IP}/32");
        ip(&["link", "add", BRIDGE, "type", "bridge"])?;
        ip(&["addr", "add", &node_cidr, "dev", BRIDGE])?;
        ip(&["link", "set", BRIDGE, "up"])?;
        ip(&["route", "add", "blackhole", SERVICE_CIDR])?;
        ip(&["addr", "add", &svc_ip, "dev", BRIDGE])?;
        Ok(node)
    }

    /// Phase 2, once the apiservers are ready: relays, cgroups, containerd, the pause image, kubelet,
    /// kube-scheduler; waits until the node is Ready and removes its not-ready taint.
    pub(crate) fn start(&mut self, bins: &Binaries, t: &NodeTargets, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        self.relays.push(Relay::start(
            SocketAddr::from((KUBERNETES_SERVICE_IP, 443)),
            t.host_port,
        )?);
        for &port in &t.all_ports {
            self.relays
                .push(Relay::start(SocketAddr::from((NODE_IP, port)), port)?);
        }
        let run = Path::new(RUN_DIR);
        let data = Path::new(DATA_DIR);
        for d in [
            run.join("sysctl"),
            run.join("cni-conf"),
            data.join("kubelet"),
            data.join("pod-logs"),
        ] {
            std::fs::create_dir_all(&d).map_err(io_err(format!("creating {}", d.display())))?;
        }
        make_cgroups()?;
        let pause = images::build("pause")?;
        let pause = pause
            .first()
            .ok_or_else(|| Error::Other("hack/images.sh built no pause image".into()))?;
        self.pause_image = images::normalize(&pause.reference);
        write(
            &data.join("containerd.toml"),
            &containerd_config(&self.pause_image),
        )?;
        write(&run.join("cni-conf/10-kubefed.conflist"), &cni_config())?;
        self.containerd = Some(Process::spawn(
            "node/containerd",
            Path::new("containerd"),
            &[
                "--config".into(),
                data.join("containerd.toml").display().to_string(),
            ],
            &self.dir.join("containerd.log"),
        )?);
        self.wait_containerd(Duration::from_secs(30))?;
        images::load(pause)?;

        // kubelet's root dir must be a shared mount so volume mounts made in its namespace reach containerd.
        let kdir = data.join("kubelet");
        let kdir_s = kdir.display().to_string();
        run_cmd("mount", &["--bind", &kdir_s, &kdir_s])?;
        run_cmd("mount", &["--make-shared", &kdir_s])?;
        for (key, value) in KUBELET_SYSCTLS {
            write(
                &run.join("sysctl").join(key.replace('/', ".")),
                &format!("{value}\n"),
            )?;
        }
        write(&data.join("resolv.conf"), "")?;
        write(&data.join("kubelet.yaml"), &kubelet_config())?;
        let kubeconfig = data.join("host.kubeconfig");
        std::fs::copy(&t.host_kubeconfig, &kubeconfig).map_err(io_err(format!(
            "copying the kubeconfig to {}",
            kubeconfig.display()
        )))?;
        let mut args: Vec<String> = vec![
            "--mount".into(),
            "--propagation".into(),
            "unchanged".into(),
            "--".into(),
            "/bin/sh".into(),
            "-c".into(),
            KUBELET_NS.into(),
            "kubelet-ns".into(),
            bins.path("kubelet").display().to_string(),
        ];
        args.extend([
            format!("--config={}", data.join("kubelet.yaml").display()),
            format!("--kubeconfig={}", kubeconfig.display()),
            format!("--root-dir={kdir_s}"),
            format!("--cert-dir={}", data.join("kubelet-pki").display()),
            format!("--hostname-override={NODE_IP}"),
            format!("--node-ip={NODE_IP}"),
            "--v=1".into(),
        ]);
        self.kubelet = Some(spawn_env(
            "node/kubelet",
            Path::new("unshare"),
            &args,
            &self.dir.join("kubelet.log"),
            &[("KF_SYSCTL_DIR", run.join("sysctl").display().to_string())],
        )?);
        self.scheduler = Some(Process::spawn(
            "node/kube-scheduler",
            &bins.path("kube-scheduler"),
            &[
                format!("--kubeconfig={}", kubeconfig.display()),
                "--leader-elect=false".into(),
                "--secure-port=0".into(),
                "--v=1".into(),
            ],
            &self.dir.join("kube-scheduler.log"),
        )?);
        self.wait_node_ready(t, timeout.saturating_sub(started.elapsed()))?;
        Ok(())
    }

    /// The node's name (its IP): for `nodeName`, `kubectl get node`, logs.
    pub fn name(&self) -> String {
        NODE_IP.to_string()
    }

    /// The sandbox image, as containerd names it.
    pub fn pause_image(&self) -> &str {
        &self.pause_image
    }

    /// Where containerd, kubelet and kube-scheduler log.
    pub fn log_dir(&self) -> &Path {
        &self.dir
    }

    fn wait_containerd(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Some(p) = self.containerd.as_mut() {
                p.check_alive()?;
            }
            let ok = Command::new("ctr")
                .args(["-a", CONTAINERD_SOCKET, "version"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(self.not_ready("node/containerd", "containerd.log", timeout));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_node_ready(&mut self, t: &NodeTargets, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let kubectl = |args: &[&str]| {
            Command::new(&t.kubectl)
                .arg("--kubeconfig")
                .arg(&t.host_kubeconfig)
                .args(args)
                .output()
                .map_err(io_err("running kubectl"))
        };
        let name = self.name();
        let jsonpath = r#"-o=jsonpath={.status.conditions[?(@.type=="Ready")].status}"#;
        loop {
            for p in [&mut self.containerd, &mut self.kubelet, &mut self.scheduler]
                .into_iter()
                .flatten()
            {
                p.check_alive()?;
            }
            let out = kubectl(&["get", "node", &name, jsonpath])?;
            if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "True" {
                break;
            }
            if start.elapsed() > timeout {
                return Err(self.not_ready("node/kubelet", "kubelet.log", timeout));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        // The testbed's kube-controller-manager runs without the node-lifecycle controller, which would lift
        // the not-ready taint kubelet registers with.
        let out = kubectl(&["taint", "node", &name, "node.kubernetes.io/not-ready-"])?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && !stderr.contains("not found") {
            return Err(Error::Other(format!(
                "removing the not-ready taint of node {name}: {stderr}"
            )));
        }
        Ok(())
    }

    fn not_ready(&self, process: &str, log: &str, timeout: Duration) -> Error {
        let log = self.dir.join(log);
        Error::NotReady {
            process: process.into(),
            seconds: timeout.as_secs(),
            tail: crate::process::tail(&log, 30),
            log: log.display().to_string(),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // kubelet first (it would restart containers), then the rest; the cleanup process then removes
        // containers, mounts, cgroups, the bridge and the route, and we wait for it.
        self.kubelet.take();
        self.scheduler.take();
        self.containerd.take();
        self.relays.clear();
        if let Some(c) = self.cleanup.take() {
            c.finish();
        }
    }
}

/// The teardown process: it runs [`TEARDOWN`] when its stdin closes.
struct CleanupWatch {
    child: Child,
    stdin: Option<ChildStdin>,
}

fn teardown_command(mode: &str) -> Command {
    let mut c = Command::new("bash");
    c.args(["-c", TEARDOWN, "kubefed-node-cleanup", mode])
        .env("KF_RUN", RUN_DIR)
        .env("KF_DATA", DATA_DIR)
        .env("KF_CGROUP", CGROUP_ROOT)
        .env("KF_BRIDGE", BRIDGE)
        .env("KF_SERVICE_CIDR", SERVICE_CIDR)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

impl CleanupWatch {
    fn start() -> Result<Self> {
        let mut child = teardown_command("watch")
            .stdin(Stdio::piped())
            .spawn()
            .map_err(io_err("starting the node's cleanup process"))?;
        let stdin = child.stdin.take();
        Ok(Self { child, stdin })
    }

    /// Closes the pipe (the process tears down) and waits for it.
    fn finish(mut self) {
        self.stdin.take();
        let _ = self.child.wait();
    }
}

/// Tears down whatever a node left (idempotent); used for a stale node of a crashed run.
pub fn teardown_now() -> Result<()> {
    let status = teardown_command("now")
        .stdin(Stdio::null())
        .status()
        .map_err(io_err("running the node teardown"))?;
    if !status.success() {
        return Err(Error::Other(format!("node teardown failed ({status})")));
    }
    Ok(())
}

/// Takes the machine's single node slot: `RUN_DIR/owner` holds the owning process id.
fn claim() -> Result<()> {
    let owner = Path::new(RUN_DIR).join("owner");
    for attempt in 0..2 {
        std::fs::create_dir_all(RUN_DIR).map_err(io_err(format!("creating {RUN_DIR}")))?;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&owner)
        {
            Ok(mut f) => {
                // A node left without an owner file (crash while tearing down) is stale too.
                let leftovers = Path::new(&format!("/sys/class/net/{BRIDGE}")).exists();
                writeln!(f, "{}", std::process::id())
                    .map_err(io_err(format!("writing {}", owner.display())))?;
                if leftovers {
                    eprintln!("[testbed node] removing a stale node (bridge {BRIDGE} exists)");
                    let _ = std::fs::remove_file(&owner);
                    teardown_now()?;
                    continue;
                }
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt == 0 => {
                let pid = std::fs::read_to_string(&owner).unwrap_or_default();
                let pid = pid.trim();
                if !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists() {
                    return Err(Error::Other(format!(
                        "a testbed node is already running on this machine (process {pid}); there can be one \
                         node per machine: stop that process, or if it is not a testbed, remove {}",
                        owner.display()
                    )));
                }
                eprintln!("[testbed node] removing a stale node of a previous run (process {pid} is gone)");
                teardown_now()?;
            }
            Err(e) => return Err(io_err(format!("creating {}", owner.display()))(e)),
        }
    }
    Err(Error::Other(format!(
        "could not claim the node slot {}: a stale node came back after cleaning it",
        owner.display()
    )))
}

/// Creates `kubefed-node` in every mounted cgroup hierarchy (kubelet requires its cgroupRoot to exist).
fn make_cgroups() -> Result<()> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(io_err("reading mountinfo"))?;
    for line in mountinfo.lines() {
        let mut halves = line.splitn(2, " - ");
        let (Some(left), Some(right)) = (halves.next(), halves.next()) else {
            continue;
        };
        let fstype = right.split_whitespace().next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let Some(mountpoint) = left.split_whitespace().nth(4) else {
            continue;
        };
        let dir = Path::new(mountpoint).join(CGROUP_ROOT);
        std::fs::create_dir_all(&dir).map_err(io_err(format!("creating cgroup {}", dir.display())))?;
        // A new cpuset cgroup starts with no CPUs and no memory nodes: inherit the parent's.
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let parent = Path::new(mountpoint).join(f);
            if let Ok(v) = std::fs::read_to_string(&parent) {
                let _ = std::fs::write(dir.join(f), v.trim());
            }
        }
    }
    Ok(())
}

fn containerd_config(pause_image: &str) -> String {
    format!(
        r#"version = 2
root = "{DATA_DIR}/containerd"
state = "{RUN_DIR}/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{CONTAINERD_SOCKET}"

[ttrpc]
  address = "{RUN_DIR}/containerd-ttrpc.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "{DATA_DIR}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause_image}"
  # The machine lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj below its own.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{RUN_DIR}/cni-conf"
    max_conf_num = 1
"#
    )
}

fn cni_config() -> String {
    // isGateway false: the gateway mode turns on net.ipv4.ip_forward machine-wide. We give the bridge its IP,
    // and pods a /32 route to the kubernetes Service IP through it; no default route, so nothing leaves.
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "kubefed",
        "plugins": [{
            "type": "bridge",
            "bridge": BRIDGE,
            "isGateway": false,
            "ipMasq": false,
            "hairpinMode": false,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": POD_SUBNET, "rangeStart": "10.77.0.10", "rangeEnd": "10.77.0.250", "gateway": NODE_IP.to_string()}]],
                "routes": [{"dst": format!("{KUBERNETES_SERVICE_IP}/32"), "gw": NODE_IP.to_string()}],
                "dataDir": format!("{RUN_DIR}/cni-ipam")
            }
        }, {"type": "loopback"}]
    })
    .to_string()
}

fn kubelet_config() -> String {
    format!(
        r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {NODE_IP}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
# The apiserver reaches kubelet (logs, exec, port-forward) on the bridge only; the testbed has no client
# certificates for it, so kubelet's API is open on that bridge.
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://{CONTAINERD_SOCKET}
cgroupDriver: cgroupfs
cgroupRoot: /{CGROUP_ROOT}
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
protectKernelDefaults: true
podLogsDir: {DATA_DIR}/pod-logs
resolvConf: {DATA_DIR}/resolv.conf
clusterDomain: cluster.local
# Images are loaded by hand and cannot be pulled again: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
serializeImagePulls: false
"#
    )
}

/// TCP relay from `listen` to `127.0.0.1:port`, on threads of this process (they end with it).
struct Relay {
    stop: Arc<AtomicBool>,
}

impl Relay {
    fn start(listen: SocketAddr, port: u16) -> Result<Self> {
        let listener = TcpListener::bind(listen).map_err(io_err(format!("relay: binding {listen}")))?;
        listener
            .set_nonblocking(true)
            .map_err(io_err(format!("relay: {listen}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name(format!("relay-{listen}"))
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((inbound, _)) => {
                            let _ = std::thread::Builder::new()
                                .name(format!("relay-conn-{port}"))
                                .spawn(move || pipe(inbound, port));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
            .map_err(io_err("starting a relay thread"))?;
        Ok(Self { stop })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Copies both ways between a relayed connection and `127.0.0.1:port` until either side closes.
fn pipe(inbound: TcpStream, port: u16) {
    let _ = inbound.set_nonblocking(false);
    let Ok(outbound) =
        TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(5))
    else {
        return;
    };
    let (Ok(mut in_r), Ok(mut out_w)) = (inbound.try_clone(), outbound.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut in_r, &mut out_w);
        let _ = out_w.shutdown(std::net::Shutdown::Write);
    });
    let (mut out_r, mut in_w) = (outbound, inbound);
    let _ = std::io::copy(&mut out_r, &mut in_w);
    let _ = in_w.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(io_err(format!("writing {}", path.display())))
}

fn ip(args: &[&str]) -> Result<()> {
    run_cmd("ip", args)
}

fn run_cmd(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(io_err(format!("running {program}")))?;
    if !out.status.success() {
        return Err(Error::Other(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

/// [`Process::spawn`] with extra environment variables.
fn spawn_env(
    name: &str,
    program: &Path,
    args: &[String],
    log: &Path,
    env: &[(&str, String)],
) -> Result<Process> {
    Process::spawn_with_env(name, program, args, log, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bridge_exists() -> bool {
        Path::new(&format!("/sys/class/net/{BRIDGE}")).exists()
    }

    fn blackhole_exists() -> bool {
        Command::new("ip")
            .args(["route", "show", "type", "blackhole"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(SERVICE_CIDR))
    }

    /// Root only (`cargo test -p kubefed-tests --lib -- --ignored node::`): the network phase comes up and
    /// dropping the node removes it without touching ip_forward. With `KUBEFED_NODE_HOLD=<secs>` it waits
    /// that long first, for a manual `kill -9` check of the crash cleanup.
    #[test]
    #[ignore = "needs root; changes the machine's network while it runs"]
    fn network_phase_is_undone_on_drop() {
        let forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
        let fake = tempfile::tempdir().expect("temp dir");
        for b in ["kubelet", "kube-scheduler"] {
            std::fs::write(fake.path().join(b), "").expect("fake binary");
        }
        let bins = Binaries {
            dir: fake.path().to_path_buf(),
        };
        let node = Node::prepare(&fake.path().join("node"), &bins).expect("prepare");
        assert!(bridge_exists() && blackhole_exists(), "bridge or route missing");
        let relay = Relay::start(SocketAddr::from((NODE_IP, 0)), 1);
        assert!(relay.is_ok(), "cannot bind on the node IP: {:?}", relay.err());
        if let Some(secs) = std::env::var("KUBEFED_NODE_HOLD")
            .ok()
            .and_then(|s| s.parse().ok())
        {
            eprintln!("holding the node for {secs}s (pid {})", std::process::id());
            std::thread::sleep(Duration::from_secs(secs));
        }
        drop(node);
        assert!(!bridge_exists(), "bridge {BRIDGE} left behind");
        assert!(!blackhole_exists(), "blackhole route left behind");
        assert!(!Path::new(RUN_DIR).exists(), "{RUN_DIR} left behind");
        let after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
        assert_eq!(forward, after, "ip_forward changed");
    }
}
