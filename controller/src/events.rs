//! Kubernetes Events about federated objects and clusters, published off the reconcile path.
//!
//! Reconciles hand events to an [`EventSink`] and move on; a background task publishes them, several at
//! a time. A slow host API server therefore delays Events, never propagation,
//! and when the queue is full events are dropped (and counted in the metrics) rather than blocking.
//!
//! Events are written directly as core/v1 Events, not through kube's `Recorder`: the recorder folds
//! repeats of the same reason/action into a series but keeps the first note, which would turn "created in
//! member-2" into a second count of "created in member-1"; its cache grows with every object; and it
//! writes `events.k8s.io/v1` Events, which may not set `firstTimestamp`/`lastTimestamp` — so `kubectl get
//! events --sort-by=.lastTimestamp` could not order them. Ours carry `eventTime`, `firstTimestamp`,
//! `lastTimestamp` and a count of 1 (readable through `events.k8s.io/v1` too, as `regarding`/`note`/
//! `deprecatedLastTimestamp`). Identical Warning events (same object, reason and note) are suppressed for
//! [`REPEAT_WINDOW`], so a failure retried every few seconds does not flood the namespace, while every
//! distinct action is recorded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::events::{EventType, Reporter};
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// How long an identical Warning event is not repeated.
pub const REPEAT_WINDOW: Duration = Duration::from_secs(300);
/// Events waiting to be published before new ones are dropped.
const QUEUE: usize = 20_000;
/// Events published at once.
const PARALLEL: usize = 8;
/// Entries of the repeat-suppression memory before it is cleared.
const MEMORY_LIMIT: usize = 50_000;

/// Where a member action's note names its cluster(s), e.g. `"created Deployment ns/web in {clusters}"`.
pub const CLUSTERS: &str = "{clusters}";
/// Clusters named in one folded Event; the rest are counted.
const LISTED_CLUSTERS: usize = 10;

/// Identifies repeats of a Warning: the object's uid, the reason and the note.
type RepeatKey = (String, String, String);

/// One event to publish.
#[derive(Clone, Debug)]
pub struct PendingEvent {
    /// The object the event is about.
    pub regarding: ObjectReference,
    /// A second object involved (e.g. the KubeFedCluster a member object lives in).
    pub related: Option<ObjectReference>,
    /// `Normal` or `Warning`.
    pub type_: EventType,
    /// CamelCase reason, e.g. `CreatedInCluster`.
    pub reason: String,
    /// CamelCase action, e.g. `Create`.
    pub action: String,
    /// Human-readable message.
    pub note: String,
}

/// Queues Events for publishing. Cheap to clone.
#[derive(Clone)]
pub struct EventSink {
    tx: mpsc::Sender<PendingEvent>,
    recent: Arc<Mutex<HashMap<RepeatKey, Instant>>>,
    metrics: Arc<Metrics>,
}

impl EventSink {
    /// A sink and the future that publishes what it receives (run it as a task).
    pub fn new(
        client: kube::Client,
        reporter: Reporter,
        metrics: Arc<Metrics>,
    ) -> (EventSink, impl Future<Output = ()> + Send + 'static) {
        let (tx, rx) = mpsc::channel::<PendingEvent>(QUEUE);
        let publisher_metrics = metrics.clone();
        let publisher = async move {
            let stream =
                futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
            stream
                .for_each_concurrent(PARALLEL, |e| {
                    let metrics = publisher_metrics.clone();
                    let ns = e.regarding.namespace.clone().unwrap_or_else(|| "default".into());
                    let api: Api<Event> = Api::namespaced(client.clone(), &ns);
                    let ev = build_event(e, &reporter, Timestamp::now());
                    async move {
                        if let Err(err) = api.create(&PostParams::default(), &ev).await {
                            metrics.event_failed();
                            tracing::debug!(error = %err, reason = ?ev.reason, "publishing an Event");
                        }
                    }
                })
                .await;
        };
        let sink = EventSink {
            tx,
            recent: Arc::default(),
            metrics,
        };
        (sink, publisher)
    }

    /// Queues `event`; drops it (counting the drop) when the queue is full, and drops Warning events
    /// identical to one queued less than [`REPEAT_WINDOW`] ago.
    pub fn publish(&self, event: PendingEvent) {
        if event.type_ == EventType::Warning && self.is_repeat(&event) {
            return;
        }
        if self.tx.try_send(event).is_err() {
            self.metrics.event_dropped();
        }
    }

    /// Records `event` and says whether an identical one was queued within the window.
    fn is_repeat(&self, event: &PendingEvent) -> bool {
        let key = (
            event.regarding.uid.clone().unwrap_or_default(),
            event.reason.clone(),
            event.note.clone(),
        );
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() >= MEMORY_LIMIT {
            recent.retain(|_, at| now.duration_since(*at) < REPEAT_WINDOW);
            if recent.len() >= MEMORY_LIMIT {
                recent.clear();
            }
        }
        match recent.get(&key) {
            Some(at) if now.duration_since(*at) < REPEAT_WINDOW => true,
            _ => {
                recent.insert(key, now);
                false
            }
        }
    }
}

/// Folds member actions `(cluster, reason, note)` with the same reason and note into one Event each:
/// `(reason, note with [`CLUSTERS`] replaced by "cluster a" or "clusters a, b", the cluster when it is the
/// only one)`, in the order first seen. A change placed in ten members is then one Event, not ten.
pub fn fold_actions<'a>(
    actions: impl IntoIterator<Item = (&'a str, &'static str, &'a str)>,
) -> Vec<(&'static str, String, Option<&'a str>)> {
    let mut groups: Vec<(&'static str, &'a str, Vec<&'a str>)> = Vec::new();
    for (cluster, reason, note) in actions {
        match groups.iter_mut().find(|(r, n, _)| *r == reason && *n == note) {
            Some((_, _, clusters)) => clusters.push(cluster),
            None => groups.push((reason, note, vec![cluster])),
        }
    }
    groups
        .into_iter()
        .map(|(reason, note, clusters)| {
            let single = match clusters.as_slice() {
                [one] => Some(*one),
                _ => None,
            };
            let named = match single {
                Some(one) => format!("cluster {one}"),
                None => {
                    let shown = clusters[..clusters.len().min(LISTED_CLUSTERS)].join(", ");
                    match clusters.len().checked_sub(LISTED_CLUSTERS) {
                        Some(more) if more > 0 => format!("clusters {shown} and {more} more"),
                        _ => format!("clusters {shown}"),
                    }
                }
            };
            (reason, note.replace(CLUSTERS, &named), single)
        })
        .collect()
}

/// The Event for `e`, happening `now`: a unique name (the regarding object's name, the time and a
/// sequence number), every timestamp kubectl may sort by, count 1.
fn build_event(e: PendingEvent, reporter: &Reporter, now: Timestamp) -> Event {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let base = e
        .regarding
        .name
        .clone()
        .unwrap_or_else(|| reporter.controller.clone());
    let instance = reporter
        .instance
        .clone()
        .unwrap_or_else(|| reporter.controller.clone());
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{base}.{:x}{seq:x}", now.as_nanosecond())),
            namespace: e.regarding.namespace.clone(),
            ..Default::default()
        },
        action: Some(e.action),
        reason: Some(e.reason),
        message: Some(truncate(e.note, 1000)),
        type_: Some(
            match e.type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .into(),
        ),
        event_time: Some(MicroTime(now)),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        source: Some(EventSource {
            component: Some(reporter.controller.clone()),
            host: None,
        }),
        reporting_component: Some(reporter.controller.clone()),
        reporting_instance: Some(instance),
        involved_object: e.regarding,
        related: e.related,
        series: None,
    }
}

/// `s` cut to at most `max` bytes on a character boundary (Events' notes are limited to 1 kB).
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max.saturating_sub(3);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_action_in_several_clusters_is_one_event() {
        let created = "created Deployment ns/web in {clusters}";
        let updated = "updated Deployment ns/web in {clusters}";
        let folded = fold_actions([
            ("member-1", "CreateInCluster", created),
            ("member-2", "UpdateInCluster", updated),
            ("member-3", "CreateInCluster", created),
        ]);
        assert_eq!(
            folded,
            vec![
                (
                    "CreateInCluster",
                    "created Deployment ns/web in clusters member-1, member-3".to_string(),
                    None
                ),
                (
                    "UpdateInCluster",
                    "updated Deployment ns/web in cluster member-2".to_string(),
                    Some("member-2")
                ),
            ]
        );
        assert!(fold_actions([]).is_empty());

        let names: Vec<String> = (1..=12).map(|i| format!("m{i}")).collect();
        let many = fold_actions(
            names
                .iter()
                .map(|n| (n.as_str(), "DeleteInCluster", "deleted x from {clusters}")),
        );
        assert_eq!(
            many,
            vec![(
                "DeleteInCluster",
                "deleted x from clusters m1, m2, m3, m4, m5, m6, m7, m8, m9, m10 and 2 more".to_string(),
                None
            )]
        );
    }

    #[test]
    fn events_carry_the_timestamps_kubectl_sorts_by() {
        let regarding = ObjectReference {
            name: Some("web".into()),
            namespace: Some("ns".into()),
            ..Default::default()
        };
        let pending = PendingEvent {
            regarding,
            related: None,
            type_: EventType::Warning,
            reason: "CreationFailed".into(),
            action: "Propagate".into(),
            note: "x".into(),
        };
        let reporter = Reporter {
            controller: "kubefed-controller".into(),
            instance: None,
        };
        let now = Timestamp::now();
        let a = build_event(pending.clone(), &reporter, now);
        let b = build_event(pending, &reporter, now);
        assert_eq!(a.last_timestamp, Some(Time(now)));
        assert_eq!(a.first_timestamp, Some(Time(now)));
        assert_eq!(a.event_time, Some(MicroTime(now)));
        assert_eq!(a.count, Some(1));
        assert_eq!(a.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(a.type_.as_deref(), Some("Warning"));
        assert_ne!(
            a.metadata.name, b.metadata.name,
            "names are unique even at the same instant"
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("short".into(), 10), "short");
        let long = "é".repeat(600);
        let t = truncate(long, 1000);
        assert!(t.len() <= 1000 && t.ends_with("..."));
    }
}
