//! Command-line configuration of `kubefed-controller` ([`Args`]) and the settings the running controller
//! uses ([`Settings`]), which tests build directly to start the controller in-process.
//!
//! Every flag has an environment variable (`KUBEFED_CONTROLLER_*`) so the chart can set them either way.
//! Durations read like Kubernetes durations: `500ms`, `10s`, `2m`.
//!
//! Settings that KubeFed kept in its `KubeFedConfig` (health-check period and thresholds, `adoptResources`)
//! are read from that object at run time (see [`crate::kubefedconfig`]); the flags here are the ones a
//! process needs before it can read anything.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;

use crate::error::{Error, Result};

const ABOUT: &str = "kubefed-rs controller: propagates federated objects to member clusters";

const LONG_ABOUT: &str = "\
kubefed-rs controller: propagates federated objects to member clusters.

Watches KubeFedClusters (probing each member's /healthz), FederatedTypeConfigs (one propagation
controller per enabled type), every enabled Federated<Kind> and ReplicaSchedulingPreferences on the host
cluster, and server-side applies each federated object's template (plus its overrides) to the member
clusters its placement selects. Status, per cluster, goes back to the federated object.

Multi-Cluster Services (--enable-mcs, on by default): a ServiceExport next to a Service in a member
becomes a ServiceImport and mirrored EndpointSlices in every member that has the namespace
(docs/service-discovery.md); --dns-domain adds external-dns DNSEndpoints for federated Services.

Serves GET /metrics (Prometheus/OpenMetrics text) and GET /healthz on --metrics-addr.

Examples:
  # In a pod (in-cluster credentials), two replicas with leader election:
  kubefed-controller --leader-elect

  # On a laptop against a test host cluster:
  kubefed-controller --kubeconfig /tmp/kubefed.kubeconfig --context host --metrics-addr 127.0.0.1:9090";

/// The log filter when `RUST_LOG` is not set. kube-client logs every failed request at ERROR under
/// `kube_client::client::builder` ("failed with error client error (Connect)") and every watch cut short
/// at WARN under `kube_client::client` ("eof in poll"), naming neither the cluster nor the operation, once
/// per request or watch — dozens of lines per minute for one unreachable member. Those are off; the
/// controller logs its own line instead, naming the cluster, once per change of state (a cluster becoming
/// not ready or ready again, a write failing for good; watches of the host name what they watch), and
/// keeps failures on the objects' status and in Events.
pub const DEFAULT_LOG_FILTER: &str = "info,kube_client::client=error,kube_client::client::builder=off";

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `kubefed-controller` command-line arguments.
#[derive(Clone, Debug, Parser)]
#[command(name = "kubefed-controller", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Args {
    /// Kubeconfig of the host cluster; without it, $KUBECONFIG, ~/.kube/config, then in-cluster credentials.
    #[arg(long, env = "KUBEFED_CONTROLLER_KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use (default: the current context).
    #[arg(long, env = "KUBEFED_CONTROLLER_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,

    /// The KubeFed system namespace: KubeFedClusters, FederatedTypeConfigs, the KubeFedConfig and the
    /// leader Lease live here.
    #[arg(short = 'n', long, env = "KUBEFED_CONTROLLER_NAMESPACE", default_value = DEFAULT_SYSTEM_NAMESPACE)]
    pub namespace: String,

    /// Federated objects reconciled at once, per federated type.
    #[arg(long, env = "KUBEFED_CONTROLLER_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,

    /// Sustained requests per second to each member cluster.
    #[arg(long, env = "KUBEFED_CONTROLLER_MEMBER_QPS", default_value_t = 500.0)]
    pub member_qps: f64,

    /// Requests to each member cluster allowed in a burst above --member-qps.
    #[arg(long, env = "KUBEFED_CONTROLLER_MEMBER_BURST", default_value_t = 1000)]
    pub member_burst: u32,

    /// How long one request to a member cluster may take before it counts as timed out.
    #[arg(long, env = "KUBEFED_CONTROLLER_MEMBER_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub member_timeout: Duration,

    /// How long deleting a federated object waits for unreachable member clusters before it finishes
    /// anyway (and reports in an Event what was left behind).
    #[arg(long, env = "KUBEFED_CONTROLLER_DELETION_TIMEOUT", default_value = "2m", value_parser = parse_duration, value_name = "DURATION")]
    pub deletion_timeout: Duration,

    /// Address to serve /metrics and /healthz on; `off` disables the server.
    #[arg(long, env = "KUBEFED_CONTROLLER_METRICS_ADDR", default_value = "0.0.0.0:8080", value_parser = parse_metrics_addr, value_name = "ADDR:PORT|off")]
    pub metrics_addr: MetricsAddr,

    /// Run controllers only while holding the leader Lease, so several replicas can run.
    #[arg(long, env = "KUBEFED_CONTROLLER_LEADER_ELECT")]
    pub leader_elect: bool,

    /// Name of the leader Lease in --namespace.
    #[arg(
        long,
        env = "KUBEFED_CONTROLLER_LEADER_ELECT_LEASE",
        default_value = "kubefed-controller-manager"
    )]
    pub leader_elect_lease: String,

    /// This replica's identity in the leader Lease (default: $POD_NAME, else the host name and process id).
    #[arg(long, env = "KUBEFED_CONTROLLER_IDENTITY")]
    pub identity: Option<String>,

    /// Run the Multi-Cluster Services controller: ServiceExports in members become ServiceImports and
    /// mirrored EndpointSlices in every member (docs/service-discovery.md). `--enable-mcs=false` turns it off.
    #[arg(long, env = "KUBEFED_CONTROLLER_ENABLE_MCS", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub enable_mcs: bool,

    /// Publish DNS records for federated Services with LoadBalancer ingress as external-dns DNSEndpoints
    /// on the host: `<svc>.<ns>.DOMAIN` and `<svc>.<ns>.<cluster>.DOMAIN` (needs --enable-mcs and
    /// external-dns's DNSEndpoint CRD). Off when empty.
    #[arg(long, env = "KUBEFED_CONTROLLER_DNS_DOMAIN", value_name = "DOMAIN")]
    pub dns_domain: Option<String>,

    /// Log format.
    #[arg(long, env = "KUBEFED_CONTROLLER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Where to serve metrics, if at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsAddr {
    /// Do not serve metrics.
    Off,
    /// Serve on this address.
    On(SocketAddr),
}

fn parse_metrics_addr(s: &str) -> Result<MetricsAddr, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(MetricsAddr::Off);
    }
    s.parse()
        .map(MetricsAddr::On)
        .map_err(|e| format!("{s:?} is not ADDR:PORT or `off`: {e}"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    kubefed_core::api::parse_duration(s).map_err(|e| e.to_string())
}

/// What the running controller needs to know. [`Settings::default`] matches the flags' defaults.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The KubeFed system namespace.
    pub namespace: String,
    /// Federated objects reconciled at once, per federated type.
    pub concurrency: u16,
    /// Sustained requests per second to each member cluster.
    pub member_qps: f64,
    /// Burst of requests to each member cluster.
    pub member_burst: u32,
    /// Timeout of one request to a member cluster.
    pub member_timeout: Duration,
    /// How long deletion waits for unreachable clusters.
    pub deletion_timeout: Duration,
    /// Name reported as the Events' reporting instance and held in the leader Lease.
    pub identity: String,
    /// Whether the Multi-Cluster Services controller runs (`--enable-mcs`).
    pub mcs: bool,
    /// Domain of the DNSEndpoint records for federated Services (`--dns-domain`); `None`: no records.
    pub dns_domain: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            namespace: DEFAULT_SYSTEM_NAMESPACE.to_string(),
            concurrency: 16,
            member_qps: 500.0,
            member_burst: 1000,
            member_timeout: Duration::from_secs(10),
            deletion_timeout: Duration::from_secs(120),
            identity: default_identity(),
            mcs: true,
            dns_domain: None,
        }
    }
}

impl Settings {
    /// The settings given by `args`, checked.
    pub fn from_args(args: &Args) -> Result<Self> {
        let s = Settings {
            namespace: args.namespace.clone(),
            concurrency: args.concurrency,
            member_qps: args.member_qps,
            member_burst: args.member_burst,
            member_timeout: args.member_timeout,
            deletion_timeout: args.deletion_timeout,
            identity: args.identity.clone().unwrap_or_else(default_identity),
            mcs: args.enable_mcs,
            dns_domain: args
                .dns_domain
                .clone()
                .filter(|d| !d.trim_matches('.').is_empty()),
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks the values that would make the controller misbehave.
    pub fn validate(&self) -> Result<()> {
        if !(self.member_qps.is_finite() && self.member_qps > 0.0) {
            return Err(Error::InvalidSetting {
                setting: "--member-qps",
                reason: format!("{} must be a positive number", self.member_qps),
            });
        }
        if self.member_burst == 0 {
            return Err(Error::InvalidSetting {
                setting: "--member-burst",
                reason: "must be at least 1".into(),
            });
        }
        if self.concurrency == 0 {
            return Err(Error::InvalidSetting {
                setting: "--concurrency",
                reason: "must be at least 1".into(),
            });
        }
        if self.member_timeout.is_zero() {
            return Err(Error::InvalidSetting {
                setting: "--member-timeout",
                reason: "must be longer than 0s".into(),
            });
        }
        if self.dns_domain.is_some() && !self.mcs {
            return Err(Error::InvalidSetting {
                setting: "--dns-domain",
                reason: "needs --enable-mcs=true (the records come from the members' Services it watches)"
                    .into(),
            });
        }
        if let Some(d) = &self.dns_domain
            && kubefed_core::admission::names::dns1123_subdomain(d.trim_matches('.')).is_err()
        {
            return Err(Error::InvalidSetting {
                setting: "--dns-domain",
                reason: format!("{d:?} is not a DNS name (e.g. example.com)"),
            });
        }
        if self.namespace.is_empty() {
            return Err(Error::InvalidSetting {
                setting: "--namespace",
                reason: "must not be empty".into(),
            });
        }
        Ok(())
    }
}

/// `$POD_NAME`, else `<hostname>-<pid>`.
fn default_identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.is_empty()
    {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kubefed-controller".to_string());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_settings_default() {
        let args = Args::parse_from(["kubefed-controller"]);
        let s = Settings::from_args(&args).expect("defaults are valid");
        let d = Settings::default();
        assert_eq!(s.namespace, d.namespace);
        assert_eq!(s.concurrency, d.concurrency);
        assert_eq!((s.member_qps, s.member_burst), (d.member_qps, d.member_burst));
        assert_eq!(
            (s.member_timeout, s.deletion_timeout),
            (d.member_timeout, d.deletion_timeout)
        );
        assert_eq!(args.metrics_addr, MetricsAddr::On(([0, 0, 0, 0], 8080).into()));
        assert!(!args.leader_elect);
        assert_eq!(s.mcs, d.mcs);
        assert!(s.mcs, "MCS is on by default");
        let off = Args::parse_from(["kubefed-controller", "--enable-mcs=false"]);
        assert!(!Settings::from_args(&off).expect("valid").mcs);
        let dns = Args::parse_from(["kubefed-controller", "--dns-domain", "example.com"]);
        assert_eq!(
            Settings::from_args(&dns).expect("valid").dns_domain.as_deref(),
            Some("example.com")
        );
        let bad = Args::parse_from([
            "kubefed-controller",
            "--dns-domain",
            "example.com",
            "--enable-mcs=false",
        ]);
        assert!(Settings::from_args(&bad).is_err());
        let bad = Args::parse_from(["kubefed-controller", "--dns-domain", "not a domain"]);
        assert!(Settings::from_args(&bad).is_err());
    }

    #[test]
    fn flags_parse() {
        let args = Args::parse_from([
            "kubefed-controller",
            "--namespace",
            "fed",
            "--deletion-timeout",
            "30s",
            "--metrics-addr",
            "off",
            "--member-qps",
            "5",
            "--leader-elect",
        ]);
        assert_eq!(args.metrics_addr, MetricsAddr::Off);
        let s = Settings::from_args(&args).expect("valid");
        assert_eq!(s.namespace, "fed");
        assert_eq!(s.deletion_timeout, Duration::from_secs(30));
        assert!(args.leader_elect);
    }

    #[test]
    fn invalid_settings_name_the_flag() {
        let args = Args::parse_from(["kubefed-controller", "--member-qps", "0"]);
        let err = Settings::from_args(&args)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("--member-qps"), "{err}");
        assert!(Args::try_parse_from(["kubefed-controller", "--deletion-timeout", "ten"]).is_err());
    }
}
