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
