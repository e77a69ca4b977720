//! The host cluster connection: which kubeconfig and context are used (kubectl's rules: `--kubeconfig`,
//! else `$KUBECONFIG` — a list of files, merged — else `~/.kube/config`; `--context`, else the current
//! context), the request timeout, and how API errors are worded for a user.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::cli::GlobalArgs;

/// How to reach the host cluster.
#[derive(Clone, Debug)]
pub struct Connection {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Per-request timeout; `None` for no limit.
    pub timeout: Option<Duration>,
}

/// A connected host: the client and what the kubeconfig said about it.
#[derive(Clone)]
pub struct Host {
    pub client: kube::Client,
    /// The context used, for messages.
    pub context: String,
    /// The API server URL, for messages.
    pub url: String,
}

impl Connection {
    /// From the global flags.
    pub fn from_args(args: &GlobalArgs) -> Self {
        Self {
            kubeconfig: args.kubeconfig.clone(),
            context: args.context.clone(),
            timeout: (!args.request_timeout.is_zero()).then_some(args.request_timeout),
        }
    }

    /// The kubeconfig, or `None` when there is none at all (no flag, no `$KUBECONFIG`, no
    /// `~/.kube/config`). A kubeconfig that exists but cannot be read is an error.
    pub fn kubeconfig(&self) -> anyhow::Result<Option<Kubeconfig>> {
        match &self.kubeconfig {
            Some(path) => Kubeconfig::read_from(path)
                .map(Some)
                .with_context(|| format!("while reading the kubeconfig {}", path.display())),
            None => {
                // kubectl's rules: the files of $KUBECONFIG that exist, merged (first value wins); only when
                // $KUBECONFIG is unset or empty, ~/.kube/config.
                let paths: Vec<PathBuf> = match std::env::var_os("KUBECONFIG") {
                    Some(list) if !list.is_empty() => std::env::split_paths(&list)
                        .filter(|p| !p.as_os_str().is_empty() && p.is_file())
                        .collect(),
                    _ => home_kubeconfig().filter(|p| p.is_file()).into_iter().collect(),
                };
                let mut merged: Option<Kubeconfig> = None;
                for path in paths {
                    let kc = Kubeconfig::read_from(&path)
                        .with_context(|| format!("while reading the kubeconfig {}", path.display()))?;
                    merged = Some(match merged {
                        None => kc,
                        Some(m) => m
                            .merge(kc)
                            .with_context(|| format!("while merging the kubeconfig {}", path.display()))?,
                    });
                }
                Ok(merged)
            }
        }
    }

    /// The namespace the kubeconfig context sets explicitly, if any. Never fails: no kubeconfig, no namespace.
    pub fn context_namespace(&self) -> Option<String> {
        let kc = self.kubeconfig().ok().flatten()?;
        let name = self.context.clone().or_else(|| kc.current_context.clone())?;
        kc.contexts
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.context.as_ref())
            .and_then(|c| c.namespace.clone())
            .filter(|ns| !ns.is_empty())
    }

    /// Connects to the host. `connect_timeout` bounds the TCP/TLS handshake (a short one lets optional
    /// discovery give up quickly on an unreachable cluster). Sends no request.
    pub async fn connect(&self, connect_timeout: Option<Duration>) -> anyhow::Result<Host> {
        let kc = self.kubeconfig()?.context(
            "no kubeconfig found: pass --kubeconfig, set $KUBECONFIG, or create ~/.kube/config to reach the host cluster",
        )?;
        let context = self
            .context
            .clone()
            .or_else(|| kc.current_context.clone())
            .unwrap_or_default();
        let opts = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .with_context(|| format!("while loading context {context:?} from the kubeconfig"))?;
        config.read_timeout = self.timeout;
        config.write_timeout = self.timeout;
        config.connect_timeout = connect_timeout.or(self.timeout);
        let url = config.cluster_url.to_string();
        let client = kube::Client::try_from(config)
            .with_context(|| format!("while creating a client for context {context:?} ({url})"))?;
        Ok(Host { client, context, url })
    }
}

impl Host {
    /// `while <doing> on the host (context "host", https://…)`, for `.context()`.
    pub fn doing(&self, what: impl std::fmt::Display) -> String {
        format!(
            "while {what} on the host cluster (context {:?}, {})",
            self.context, self.url
        )
    }

    /// `while <doing> in the cluster of context "member-1" (https://…)`, for any cluster.
    pub fn doing_in(&self, what: impl std::fmt::Display) -> String {
        format!(
            "while {what} in the cluster of context {:?} ({})",
            self.context, self.url
        )
    }
}

fn home_kubeconfig() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kube").join("config"))
}

/// The HTTP status of an API error (`404`, `409`, …), if the error is one.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Whether the error is the API server's "not found".
pub fn is_not_found(e: &kube::Error) -> bool {
    status_code(e) == Some(404)
}

/// A one-line message for an API error: the server's own message when it sent one (that is what kubectl
/// prints), else the error and its causes.
pub fn message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                let s_text = s.to_string();
                if !text.contains(&s_text) {
                    text.push_str(": ");
                    text.push_str(&s_text);
                }
                source = s.source();
            }
            text
        }
    }
}

/// Wraps a kube error into an anyhow error with the server's message.
pub fn api_error(e: kube::Error) -> anyhow::Error {
    anyhow::anyhow!(message(&e))
}

impl Connection {
    /// The same kubeconfig and timeout, another context.
    pub fn with_context(&self, context: &str) -> Self {
        Self {
            context: Some(context.to_string()),
            ..self.clone()
        }
    }
}

/// Fails with the contexts the kubeconfig has when `name` is not one of them (`flag` names where it came
/// from, for the message).
pub fn check_context(kc: &Kubeconfig, name: &str, flag: &str) -> anyhow::Result<()> {
    if kc.contexts.iter().any(|c| c.name == name) {
        return Ok(());
    }
    let mut known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
    known.sort_unstable();
    anyhow::bail!(
        "context {name:?} ({flag}) is not in the kubeconfig; its contexts are: {} (see `kubectl config get-contexts`)",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )
}

/// Where a kubeconfig context's cluster is: its server URL, its CA bundle (PEM), and whether TLS
/// verification is switched off for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterEndpoint {
    pub server: String,
    pub ca_pem: Option<Vec<u8>>,
    pub insecure: bool,
}

/// The server and CA of `context`'s cluster in `kc` (`certificate-authority-data`, else the
/// `certificate-authority` file).
pub fn cluster_endpoint(kc: &Kubeconfig, context: &str) -> anyhow::Result<ClusterEndpoint> {
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .with_context(|| format!("context {context:?} has no cluster in the kubeconfig"))?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref())
        .with_context(|| {
            format!(
                "context {context:?} names cluster {:?}, which is not in the kubeconfig",
                ctx.cluster
            )
        })?;
    let server = cluster
        .server
        .clone()
        .filter(|s| !s.is_empty())
        .with_context(|| {
            format!(
                "cluster {:?} of context {context:?} has no server URL",
                ctx.cluster
            )
        })?;
    let ca_pem = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) if !data.is_empty() => {
            // ByteString reads base64, as the kubeconfig stores it.
            let bytes: k8s_openapi::ByteString =
                serde_json::from_value(serde_json::Value::String(data.clone())).map_err(|e| {
                    anyhow::anyhow!(
                        "certificate-authority-data of cluster {:?} is not base64: {e}",
                        ctx.cluster
                    )
                })?;
            Some(bytes.0)
        }
        (_, Some(path)) if !path.is_empty() => Some(std::fs::read(path).with_context(|| {
            format!(
                "while reading certificate-authority {path} of cluster {:?}",
                ctx.cluster
            )
        })?),
        _ => None,
    };
    Ok(ClusterEndpoint {
        server,
        ca_pem,
        insecure: cluster.insecure_skip_tls_verify.unwrap_or(false),
    })
}

/// Whether the error is the API server's "forbidden".
pub fn is_forbidden(e: &kube::Error) -> bool {
    status_code(e) == Some(403)
}
