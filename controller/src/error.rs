//! The controller's error type. Each variant says what was being done and carries its cause, so a log
//! line or an Event built from it tells an operator what to fix.

use std::time::Duration;

/// Everything that can go wrong in the controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the host cluster's API server failed.
    #[error("{action} on the host cluster: {source}")]
    Host {
        /// What was being done, e.g. `writing status of FederatedDeployment ns/web`.
        action: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },

    /// A call to a member cluster's API server failed.
    #[error("{action} in cluster {cluster}: {source}")]
    Member {
        /// The KubeFedCluster name.
        cluster: String,
        /// What was being done.
        action: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },

    /// A call to a member cluster took longer than the per-cluster timeout.
    #[error("{action} in cluster {cluster} timed out after {timeout:?}")]
    MemberTimeout {
        /// The KubeFedCluster name.
        cluster: String,
        /// What was being done.
        action: String,
        /// The timeout that expired.
        timeout: Duration,
    },

    /// A KubeFedCluster (or its Secret) cannot be turned into a client configuration.
    #[error("KubeFedCluster {cluster} is malformed: {reason}")]
    ClusterConfig {
        /// The KubeFedCluster name.
        cluster: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// A federated object could not be turned into member objects (bad template, overrides, placement).
    #[error("{0}")]
    Federated(String),

    /// A value could not be serialized or deserialized.
    #[error("{what}: {source}")]
    Json {
        /// What was being (de)serialized.
        what: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },

    /// The host kubeconfig or in-cluster configuration could not be loaded.
    #[error("loading the host cluster's client configuration: {0}")]
    HostConfig(String),

    /// The metrics/health HTTP server could not start.
    #[error("serving metrics on {addr}: {source}")]
    MetricsServer {
        /// The address given with `--metrics-addr`.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// This replica lost the leader Lease and stopped acting.
    #[error("lost leadership of Lease {namespace}/{name}: {reason}")]
    LostLeadership {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// Why the Lease could not be renewed.
        reason: String,
    },

    /// A configuration value given on the command line is invalid.
    #[error("invalid setting {setting}: {reason}")]
    InvalidSetting {
        /// The flag, e.g. `--member-qps`.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// Wraps a host API error with what was being done.
    pub(crate) fn host(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let action = action.into();
        move |source| Error::Host { action, source }
    }

    /// Wraps a serde error with what was being (de)serialized.
    pub(crate) fn json(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> Error {
        let what = what.into();
        move |source| Error::Json { what, source }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
