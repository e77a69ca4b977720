//! Command-line configuration of `kubefed-webhook`, with defaults that work in the chart unchanged.
//!
//! Every flag has an environment variable (`KUBEFED_WEBHOOK_*`) so the chart can set them either way.
//! Durations read like `500ms`, `10s`, `5m`, `1h`, `365d`; sizes like `6291456`, `6Mi`, `512Ki`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::error::{Error, Result};

const ABOUT: &str =
    "kubefed-rs admission webhook: validates and defaults federated objects at the host API server";

const LONG_ABOUT: &str = "\
kubefed-rs admission webhook: validates and defaults federated objects at the host API server.

Serves AdmissionReview v1 over HTTPS (HTTP/1.1 and HTTP/2):
  POST /mutate     defaulting (JSON patch)        POST /validate   policy and schema checks
  GET  /healthz    process is up                  GET  /readyz     TLS loaded and caches synced
  GET  /metrics    Prometheus/OpenMetrics text
With --probe-listen, /healthz, /readyz and /metrics are also served over plain HTTP on that address; with
--client-ca, --listen accepts only clients (the API server) presenting a certificate signed by that CA.

TLS needs nothing else installed: in the default `self-managed` mode the webhook makes a CA and a
serving certificate, keeps them in a Secret, writes the CA into the caBundle of its own
Mutating/ValidatingWebhookConfigurations, renews them before they expire and reloads them without a
restart. With `--tls-mode files` it serves tls.crt/tls.key from a directory (a cert-manager Secret
mounted as a volume, or your own files) and reloads them when they change.

Examples:
  # In a pod (in-cluster credentials, namespace from the downward API):
  kubefed-webhook --namespace \"$POD_NAMESPACE\"

  # On a laptop against a test API server that calls https://127.0.0.1:8443:
  kubefed-webhook --kubeconfig ~/.kube/config --listen 127.0.0.1:8443 --extra-ip 127.0.0.1

  # With cert-manager (its cainjector fills the caBundle):
  kubefed-webhook --tls-mode files --tls-dir /etc/kubefed-webhook/tls

Decisions: every Federated* object, KubeFedCluster, FederatedTypeConfig, KubeFedConfig,
ReplicaSchedulingPreference and FederationPolicy is validated; placing an object on a cluster needs verb
`propagate` on that KubeFedCluster (checked with a SubjectAccessReview, cached). See docs/policy.md.";

/// Where the serving certificate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TlsMode {
    /// Make a CA and serving certificate, keep them in a Secret, patch the webhook configurations' caBundle,
    /// renew and reload automatically.
    SelfManaged,
    /// Serve tls.crt and tls.key from --tls-dir and reload them when they change (cert-manager, your own).
    #[value(alias = "cert-manager")]
    Files,
}

/// `kubefed-webhook` command-line arguments.
#[derive(Clone, Debug, Parser)]
#[command(name = "kubefed-webhook", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Args {
    /// Address and port to serve HTTPS on.
    #[arg(
        long,
        env = "KUBEFED_WEBHOOK_LISTEN",
        default_value = "0.0.0.0:8443",
        value_name = "ADDR:PORT"
    )]
    pub listen: SocketAddr,

    /// Where the serving certificate comes from.
    #[arg(long, env = "KUBEFED_WEBHOOK_TLS_MODE", value_enum, default_value_t = TlsMode::SelfManaged)]
    pub tls_mode: TlsMode,

    /// Directory holding tls.crt and tls.key (files mode).
    #[arg(
        long,
        env = "KUBEFED_WEBHOOK_TLS_DIR",
        default_value = "/etc/kubefed-webhook/tls",
        value_name = "DIR"
    )]
    pub tls_dir: PathBuf,

    /// How often to check the files in --tls-dir for a new certificate (files mode).
    #[arg(long, env = "KUBEFED_WEBHOOK_TLS_POLL_INTERVAL", default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub tls_poll_interval: Duration,

    /// Namespace of the webhook's Service and TLS Secret (self-managed mode).
    #[arg(short = 'n', long, env = "POD_NAMESPACE", default_value = "kubefed-system")]
    pub namespace: String,

    /// Name of the Service the API server calls; the certificate covers <svc>, <svc>.<ns>, <svc>.<ns>.svc and
    /// <svc>.<ns>.svc.cluster.local.
    #[arg(long, env = "KUBEFED_WEBHOOK_SERVICE_NAME", default_value = "kubefed-webhook")]
    pub service_name: String,

    /// Secret that keeps ca.crt, ca.key, tls.crt and tls.key (self-managed mode).
    #[arg(
        long,
        env = "KUBEFED_WEBHOOK_SECRET_NAME",
        default_value = "kubefed-webhook-tls"
    )]
    pub secret_name: String,

    /// Name of the MutatingWebhookConfiguration and ValidatingWebhookConfiguration whose caBundle is kept
    /// current (self-managed mode). A configuration that does not exist is skipped.
    #[arg(long, env = "KUBEFED_WEBHOOK_CONFIG_NAME", default_value = "kubefed-webhook")]
    pub webhook_config_name: String,

    /// Name of the MutatingWebhookConfiguration, when it differs from --webhook-config-name.
    #[arg(long, env = "KUBEFED_WEBHOOK_MUTATING_CONFIG_NAME")]
    pub mutating_config_name: Option<String>,

    /// Name of the ValidatingWebhookConfiguration, when it differs from --webhook-config-name.
    #[arg(long, env = "KUBEFED_WEBHOOK_VALIDATING_CONFIG_NAME")]
    pub validating_config_name: Option<String>,

    /// Extra IP address for the serving certificate (repeatable), e.g. 127.0.0.1 for a webhook registered by URL.
    #[arg(
        long = "extra-ip",
        env = "KUBEFED_WEBHOOK_EXTRA_IPS",
        value_delimiter = ',',
        value_name = "IP"
    )]
    pub extra_ips: Vec<IpAddr>,

    /// Extra DNS name for the serving certificate (repeatable).
    #[arg(
        long = "extra-dns-name",
        env = "KUBEFED_WEBHOOK_EXTRA_DNS_NAMES",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub extra_dns_names: Vec<String>,

    /// Lifetime of a serving certificate; it is renewed after 2/3 of it.
    #[arg(long, env = "KUBEFED_WEBHOOK_CERT_VALIDITY", default_value = "365d", value_parser = parse_duration, value_name = "DURATION")]
    pub cert_validity: Duration,

    /// Lifetime of the CA; it is rotated after 2/3 of it, the old CA staying in caBundle until it expires.
    #[arg(long, env = "KUBEFED_WEBHOOK_CA_VALIDITY", default_value = "3650d", value_parser = parse_duration, value_name = "DURATION")]
    pub ca_validity: Duration,

    /// Longest wait between two checks of the TLS Secret and the webhook configurations' caBundle.
    #[arg(long, env = "KUBEFED_WEBHOOK_RESYNC_INTERVAL", default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    pub resync_interval: Duration,

    /// Largest request body accepted; larger ones get 413. An UPDATE review carries two objects of up to
    /// ~3 MiB (the API server's limit) each.
    #[arg(long, env = "KUBEFED_WEBHOOK_MAX_BODY_BYTES", default_value = "6Mi", value_parser = parse_size, value_name = "BYTES")]
    pub max_body_bytes: usize,

    /// Time to receive a request body and decide; past it the answer is 408 (slow body) or 503 (slow decision).
    /// Keep it below the webhook configuration's timeoutSeconds (10s by default).
    #[arg(long, env = "KUBEFED_WEBHOOK_REQUEST_TIMEOUT", default_value = "9s", value_parser = parse_duration, value_name = "DURATION")]
    pub request_timeout: Duration,

    /// Time allowed for a client to finish the TLS handshake.
    #[arg(long, env = "KUBEFED_WEBHOOK_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub handshake_timeout: Duration,

    /// After SIGTERM, keep serving (while /readyz reports not ready) this long before closing the listener,
    /// so endpoints drop the pod first. ~5s suits a Deployment; 0 for local runs.
    #[arg(long, env = "KUBEFED_WEBHOOK_SHUTDOWN_DELAY", default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_delay: Duration,

    /// After the listener closes, how long in-flight requests may take to finish.
    #[arg(long, env = "KUBEFED_WEBHOOK_SHUTDOWN_GRACE", default_value = "20s", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_grace: Duration,

    /// Kubeconfig file; without it KUBECONFIG, ~/.kube/config or the in-cluster service account is used.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Log format; the level comes from RUST_LOG (default info).
    #[arg(long, env = "KUBEFED_WEBHOOK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Namespace kubefed runs in: where KubeFedClusters and FederatedTypeConfigs are read from and where the
    /// `propagate` permission on a KubeFedCluster is checked.
    #[arg(
        long,
        env = "KUBEFED_WEBHOOK_KUBEFED_NAMESPACE",
        default_value = "kube-federation-system",
        value_name = "NAMESPACE"
    )]
    pub kubefed_namespace: String,

    /// What a federated object whose namespace is not federated to all its clusters gets, unless a selecting
    /// FederationPolicy sets spec.namespaceConsistency.
    #[arg(long, env = "KUBEFED_WEBHOOK_NAMESPACE_CONSISTENCY", value_enum, default_value_t = Consistency::Deny)]
    pub namespace_consistency: Consistency,

    /// How long an allowed `propagate` SubjectAccessReview is cached (per user and cluster).
    #[arg(long, env = "KUBEFED_WEBHOOK_RBAC_ALLOWED_TTL", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub rbac_allowed_ttl: Duration,

    /// How long a denied `propagate` SubjectAccessReview is cached (per user and cluster).
    #[arg(long, env = "KUBEFED_WEBHOOK_RBAC_DENIED_TTL", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub rbac_denied_ttl: Duration,

    /// Time one `propagate` SubjectAccessReview may take before the request is denied as unverifiable.
    #[arg(long, env = "KUBEFED_WEBHOOK_RBAC_TIMEOUT", default_value = "3s", value_parser = parse_duration, value_name = "DURATION")]
    pub rbac_timeout: Duration,

    /// Shortest time between two status writes of one FederationPolicy recording Audit violations.
    #[arg(long, env = "KUBEFED_WEBHOOK_AUDIT_INTERVAL", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub audit_interval: Duration,

    /// PEM bundle of the CA(s) that sign the API server's client certificate. When set, every connection to
    /// --listen must present a certificate from it (the API server's admission kubeconfig); others fail the
    /// TLS handshake. Reloaded when the file changes. Needs --probe-listen for probes and metrics.
    #[arg(long, env = "KUBEFED_WEBHOOK_CLIENT_CA", value_name = "FILE")]
    pub client_ca: Option<PathBuf>,

    /// With --client-ca: accept only client certificates whose Common Name or a DNS SAN is one of these
    /// (comma-separated or repeated). Empty: any certificate the CA signed.
    #[arg(
        long,
        env = "KUBEFED_WEBHOOK_CLIENT_ALLOWED_NAMES",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub client_allowed_names: Vec<String>,

    /// Address for plain-HTTP /healthz, /readyz and /metrics (never /mutate or /validate), for kubelet
    /// probes and Prometheus, which present no client certificate. Unset: they are served on --listen only.
    #[arg(long, env = "KUBEFED_WEBHOOK_PROBE_LISTEN", value_name = "ADDR:PORT")]
    pub probe_listen: Option<SocketAddr>,

    /// Close a connection with no request in flight and none started for this long (also one that
    /// completed the TLS handshake and never sent a request).
    #[arg(long, env = "KUBEFED_WEBHOOK_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub idle_timeout: Duration,

    /// Time allowed for an HTTP/1 request's headers to arrive; slower clients are disconnected.
    #[arg(long, env = "KUBEFED_WEBHOOK_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub header_timeout: Duration,

    /// Most connections open at once on each listener; past it new connections are closed at accept and
    /// counted in kubefed_webhook_connections_rejected_total.
    #[arg(
        long,
        env = "KUBEFED_WEBHOOK_MAX_CONNECTIONS",
        default_value = "1024",
        value_name = "N"
    )]
    pub max_connections: usize,

    /// Native equivalence: a federated object also needs the user's own rights to create/update its target
    /// kind on the host, and Kubernetes' RBAC escalation rules (bind, escalate) for RBAC kinds. Turn off
    /// only if federation is meant to grant more than RBAC does.
    #[arg(long, env = "KUBEFED_WEBHOOK_NATIVE_EQUIVALENCE", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub native_equivalence: bool,
}

/// `--namespace-consistency`: the default enforcement of namespace consistency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Consistency {
    /// Refuse the object, naming the clusters the namespace is not federated to.
    Deny,
    /// Admit it with a warning.
    Warn,
}

impl Consistency {
    /// As a policy enforcement.
    pub fn enforcement(self) -> kubefed_core::api::Enforcement {
        match self {
            Consistency::Deny => kubefed_core::api::Enforcement::Deny,
            Consistency::Warn => kubefed_core::api::Enforcement::Warn,
        }
    }
}

/// How log lines are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

impl Args {
    /// Checks values that clap cannot check on its own.
    pub fn validate(&self) -> Result<()> {
        if self.max_body_bytes < 1024 {
            return Err(Error::Config(format!(
                "--max-body-bytes {} is too small for any AdmissionReview (use at least 1Ki; default 6Mi)",
                self.max_body_bytes
            )));
        }
        if self.rbac_timeout.is_zero() || self.audit_interval.is_zero() {
            return Err(Error::Config(
                "--rbac-timeout and --audit-interval must be above 0".into(),
            ));
        }
        if self.rbac_timeout >= self.request_timeout {
            return Err(Error::Config(format!(
                "--rbac-timeout ({:?}) must be shorter than --request-timeout ({:?})",
                self.rbac_timeout, self.request_timeout
            )));
        }
        if self.kubefed_namespace.is_empty() {
            return Err(Error::Config("--kubefed-namespace must not be empty".into()));
        }
        if self.request_timeout.is_zero() || self.handshake_timeout.is_zero() {
            return Err(Error::Config(
                "--request-timeout and --handshake-timeout must be above 0".into(),
            ));
        }
        if self.idle_timeout.is_zero() || self.header_timeout.is_zero() {
            return Err(Error::Config(
                "--idle-timeout and --header-timeout must be above 0".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(Error::Config(
                "--max-connections must be at least 1 (default 1024)".into(),
            ));
        }
        if self.client_ca.is_none() && !self.client_allowed_names.is_empty() {
            return Err(Error::Config(
                "--client-allowed-names needs --client-ca (the CA that signs those client certificates)"
                    .into(),
            ));
        }
        if self.client_ca.is_some() && self.probe_listen.is_none() {
            return Err(Error::Config(
                "with --client-ca every connection to --listen must present a client certificate, which kubelet \
                 probes and Prometheus do not; set --probe-listen (e.g. 0.0.0.0:8080) to serve /healthz, /readyz \
                 and /metrics there"
                    .into(),
            ));
        }
        if self.probe_listen == Some(self.listen) {
            return Err(Error::Config(format!(
                "--probe-listen must differ from --listen ({})",
                self.listen
            )));
        }
        if self.tls_mode == TlsMode::SelfManaged {
            if self.cert_validity >= self.ca_validity {
                return Err(Error::Config(format!(
                    "--cert-validity ({:?}) must be shorter than --ca-validity ({:?})",
                    self.cert_validity, self.ca_validity
                )));
            }
            if self.cert_validity < Duration::from_secs(60) {
                return Err(Error::Config("--cert-validity must be at least 60s".into()));
            }
            for (flag, value) in [
                ("--namespace", &self.namespace),
                ("--service-name", &self.service_name),
                ("--secret-name", &self.secret_name),
                ("--webhook-config-name", &self.webhook_config_name),
            ] {
                if value.is_empty() {
                    return Err(Error::Config(format!("{flag} must not be empty")));
                }
            }
        }
        Ok(())
    }

    /// The DNS names the serving certificate must cover: the Service's four forms, then `--extra-dns-name`s.
    pub fn dns_names(&self) -> Vec<String> {
        let (svc, ns) = (&self.service_name, &self.namespace);
        let mut names = vec![
            svc.clone(),
            format!("{svc}.{ns}"),
            format!("{svc}.{ns}.svc"),
            format!("{svc}.{ns}.svc.cluster.local"),
        ];
        for extra in &self.extra_dns_names {
            if !names.contains(extra) {
                names.push(extra.clone());
            }
        }
        names
    }

    /// The MutatingWebhookConfiguration to keep the caBundle of.
    pub fn mutating_config(&self) -> &str {
        self.mutating_config_name
            .as_deref()
            .unwrap_or(&self.webhook_config_name)
    }

    /// The ValidatingWebhookConfiguration to keep the caBundle of.
    pub fn validating_config(&self) -> &str {
        self.validating_config_name
            .as_deref()
            .unwrap_or(&self.webhook_config_name)
    }
}

/// Parses `500ms`, `10s`, `5m`, `1h`, `365d` (or a bare number of seconds).
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 10s, 5m, 1h, 365d"))?;
    let unit_secs = match unit {
        "ms" => return Ok(Duration::from_millis(value)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit {unit:?} in {text:?}; use ms, s, m, h or d")),
    };
    value
        .checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// Parses a byte size: `6291456`, `512Ki`, `6Mi`, `1Gi`.
pub fn parse_size(text: &str) -> std::result::Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: usize = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 6291456, 512Ki or 6Mi"))?;
    let factor: usize = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => return Err(format!("unknown unit {unit:?} in {text:?}; use Ki, Mi or Gi")),
    };
    value
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_validate_and_cover_service_names() {
        let args = Args::try_parse_from(["kubefed-webhook", "--extra-ip", "127.0.0.1", "--extra-ip", "::1"])
            .expect("parse");
        args.validate().expect("valid");
        assert_eq!(args.max_body_bytes, 6 << 20);
        assert_eq!(args.tls_mode, TlsMode::SelfManaged);
        assert_eq!(
            args.dns_names(),
            [
                "kubefed-webhook",
                "kubefed-webhook.kubefed-system",
                "kubefed-webhook.kubefed-system.svc",
                "kubefed-webhook.kubefed-system.svc.cluster.local"
            ]
        );
        assert_eq!(args.extra_ips.len(), 2);
        assert_eq!(args.mutating_config(), "kubefed-webhook");
        assert_eq!(args.kubefed_namespace, "kube-federation-system");
        assert_eq!(args.namespace_consistency, Consistency::Deny);
        assert_eq!(
            (args.rbac_allowed_ttl, args.rbac_denied_ttl),
            (Duration::from_secs(30), Duration::from_secs(10))
        );
        assert_eq!(
            (args.idle_timeout, args.header_timeout, args.max_connections),
            (Duration::from_secs(60), Duration::from_secs(10), 1024)
        );
        assert_eq!((&args.client_ca, args.probe_listen), (&None, None));
    }

    #[test]
    fn client_auth_flags() {
        let args = Args::try_parse_from([
            "kubefed-webhook",
            "--client-ca",
            "/etc/kubefed-webhook/client-ca/ca.crt",
            "--client-allowed-names",
            "kube-apiserver,apiserver-2",
            "--probe-listen",
            "0.0.0.0:8080",
        ])
        .expect("parse");
        args.validate().expect("valid");
        assert_eq!(args.client_allowed_names, ["kube-apiserver", "apiserver-2"]);
    }

    #[test]
    fn cert_manager_is_an_alias_of_files() {
        let args = Args::try_parse_from(["kubefed-webhook", "--tls-mode", "cert-manager"]).expect("parse");
        assert_eq!(args.tls_mode, TlsMode::Files);
    }

    #[test]
    fn rejects_inconsistent_values() {
        for (name, argv) in [
            (
                "leaf outlives CA",
                vec!["--cert-validity", "30d", "--ca-validity", "30d"],
            ),
            ("tiny body limit", vec!["--max-body-bytes", "10"]),
            ("zero timeout", vec!["--request-timeout", "0s"]),
            ("rbac timeout above request timeout", vec!["--rbac-timeout", "9s"]),
            ("zero audit interval", vec!["--audit-interval", "0s"]),
            ("zero idle timeout", vec!["--idle-timeout", "0s"]),
            ("zero header timeout", vec!["--header-timeout", "0s"]),
            ("no connections", vec!["--max-connections", "0"]),
            ("client CA without probe listener", vec!["--client-ca", "/ca.crt"]),
            (
                "allowed names without client CA",
                vec!["--client-allowed-names", "kube-apiserver"],
            ),
            (
                "probe listener on the webhook port",
                vec!["--listen", "0.0.0.0:8443", "--probe-listen", "0.0.0.0:8443"],
            ),
        ] {
            let args = Args::try_parse_from(std::iter::once("kubefed-webhook").chain(argv)).expect(name);
            assert!(args.validate().is_err(), "{name}");
        }
    }

    #[test]
    fn parses_durations_and_sizes() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("365d"), Ok(Duration::from_secs(365 * 86_400)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_size("6Mi"), Ok(6 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("6MB").is_err());
    }
}
