//! What every controller of the process shares: the host client, settings, the cluster registry, the
//! KubeFedConfig, the FederatedNamespace index, the Event sink and the metrics.

use std::sync::Arc;

use crate::cluster::{ClusterRegistry, Stalls};
use crate::config::Settings;
use crate::events::EventSink;
use crate::kubefedconfig::ConfigReceiver;
use crate::metrics::Metrics;
use crate::namespaces::NamespaceIndex;

/// Shared by every controller; cheap to clone behind an `Arc`.
pub struct Context {
    /// Client of the host cluster.
    pub client: kube::Client,
    /// Process settings.
    pub settings: Settings,
    /// Member clusters.
    pub clusters: ClusterRegistry,
    /// Member clusters that stopped answering.
    pub stalls: Stalls,
    /// Settings from the KubeFedConfig.
    pub config: ConfigReceiver,
    /// FederatedNamespaces.
    pub namespaces: NamespaceIndex,
    /// Where Events go.
    pub events: EventSink,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}
