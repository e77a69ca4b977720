//! The status the controller writes on a federated object (design §3, §4.3, §4.9).
//!
//! Inputs are what one reconcile learned: an outcome per cluster ([`ClusterOutcome`], keyed by cluster name —
//! the selected clusters plus those the object is being removed from), or a failure that stopped the object
//! before any cluster was tried ([`ObjectFailure`]: placement could not be computed, the namespace is not
//! federated, the clusters could not be listed). [`compute_status`] turns them into:
//!
//! - `observedGeneration`;
//! - one `Propagation` condition: `True` when every cluster is OK; otherwise `False` with reason
//!   `CheckClusters` and a message naming each failing cluster and why, or the [`ObjectFailure`]'s reason
//!   (`ComputePlacementFailed`, `NamespaceNotFederated`, `ClusterRetrievalFailed`) and message;
//! - `clusters[]`, sorted by name, with KubeFed's per-cluster status strings ([`PropagationStatus`]);
//! - `aggregated`: sums of the member objects' `status.replicas`, `readyReplicas`, `availableReplicas`,
//!   `updatedReplicas` (Deployments, ReplicaSets, StatefulSets) and `succeeded` (Jobs), tolerant of any missing
//!   or mistyped field, so `kubectl wait` and GitOps health checks can read one object.
//!
//! Timestamps are kept from the previous status when nothing else changed, and `lastTransitionTime` only moves
//! when the condition's status or reason does; [`status_changed`] compares statuses ignoring timestamps, so the
//! controller writes status only when something a user can see changed (no write storms at 10,000 objects).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use crate::api::federated::PROPAGATION_CONDITION;
use crate::api::{
    AggregateReason, AggregatedStatus, FederatedClusterStatus, FederatedCondition, FederatedStatus,
    PropagationStatus,
};
use crate::placement::PlacementError;

/// What happened to the object in one member cluster during a reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterOutcome {
    /// KubeFed's per-cluster status ([`PropagationStatus::Ok`] when the member object is as desired).
    pub status: PropagationStatus,
    /// Details for the condition message, e.g. the API error of a failed apply.
    pub message: Option<String>,
    /// The member object's `status` (as read from the member), summed into `status.aggregated`.
    /// Not written to `clusters[].remoteStatus`: set that afterwards when the type's FederatedTypeConfig
    /// has `statusCollection: Enabled`.
    pub member_status: Option<Value>,
}

impl Default for ClusterOutcome {
    /// OK, with no member status.
    fn default() -> Self {
        ClusterOutcome::ok(None)
    }
}

impl ClusterOutcome {
    /// The member object is as desired; `member_status` is its `status`, if read.
    pub fn ok(member_status: Option<Value>) -> Self {
        ClusterOutcome {
            status: PropagationStatus::Ok,
            message: None,
            member_status,
        }
    }

    /// Something went wrong there.
    pub fn failed(status: PropagationStatus, message: impl Into<String>) -> Self {
        ClusterOutcome {
            status,
            message: Some(message.into()),
            member_status: None,
        }
    }
}

/// A failure that concerns the whole object rather than one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectFailure {
    /// `ComputePlacementFailed`, `NamespaceNotFederated` or `ClusterRetrievalFailed`.
    pub reason: AggregateReason,
    /// What went wrong and what to do, for the condition message.
    pub message: String,
}

impl ObjectFailure {
    /// The object's namespace has no FederatedNamespace.
    pub fn namespace_not_federated(namespace: &str) -> Self {
        ObjectFailure {
            reason: AggregateReason::NamespaceNotFederated,
            message: format!(
                "namespace {namespace:?} is not federated: create a FederatedNamespace {namespace:?} in it to \
                 place objects of this namespace"
            ),
        }
    }

    /// The KubeFedClusters could not be listed.
    pub fn cluster_retrieval_failed(error: impl std::fmt::Display) -> Self {
        ObjectFailure {
            reason: AggregateReason::ClusterRetrievalFailed,
            message: format!("could not list KubeFedClusters: {error}"),
        }
    }
}

impl From<&PlacementError> for ObjectFailure {
    fn from(e: &PlacementError) -> Self {
        ObjectFailure {
            reason: e.reason(),
            message: e.to_string(),
        }
    }
}

/// Computes the federated object's status (see the module docs).
///
/// - `generation`: the object's `metadata.generation`, becoming `observedGeneration`.
/// - `outcomes`: per cluster; becomes `clusters[]` in name order.
/// - `failure`: a whole-object failure; it decides the condition. With `ClusterRetrievalFailed` and no
///   outcomes, the previous `clusters[]` and `aggregated` are kept (nothing new is known about them).
/// - `previous`: the current status, for timestamps.
/// - `now`: the time to stamp changes with.
pub fn compute_status(
    generation: Option<i64>,
    outcomes: &BTreeMap<String, ClusterOutcome>,
    failure: Option<&ObjectFailure>,
    previous: Option<&FederatedStatus>,
    now: &Time,
) -> FederatedStatus {
    let keep_previous_clusters =
        failure.is_some_and(|f| f.reason == AggregateReason::ClusterRetrievalFailed) && outcomes.is_empty();
    let (clusters, aggregated) = match previous {
        Some(prev) if keep_previous_clusters => (prev.clusters.clone(), prev.aggregated.clone()),
        _ => (
            outcomes
                .iter()
                .map(|(name, o)| FederatedClusterStatus {
                    name: name.clone(),
                    status: o.status.as_str().to_string(),
                    remote_status: None,
                })
                .collect(),
            aggregate(outcomes.values().filter_map(|o| o.member_status.as_ref())),
        ),
    };

    let (reason, message) = match failure {
        Some(f) => (f.reason, Some(f.message.clone())),
        None => {
            let failing: Vec<String> = outcomes
                .iter()
                .filter(|(_, o)| !o.status.is_ok())
                .map(|(name, o)| match &o.message {
                    Some(m) => format!("{name}: {} ({m})", o.status),
                    None => format!("{name}: {}", o.status),
                })
                .collect();
            if failing.is_empty() {
                (AggregateReason::Success, None)
            } else {
                (
                    AggregateReason::CheckClusters,
                    Some(format!(
                        "not propagated to {} of {} clusters: {}",
                        failing.len(),
                        outcomes.len(),
                        failing.join("; ")
                    )),
                )
            }
        }
    };
    let mut condition = FederatedCondition {
        type_: PROPAGATION_CONDITION.to_string(),
        status: reason.condition_status(),
        reason: reason.as_reason(),
        message,
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
    };
    let mut status = FederatedStatus {
        observed_generation: generation,
        conditions: Vec::new(),
        clusters,
        aggregated,
    };

    if let Some(prev_cond) = previous.and_then(FederatedStatus::propagation_condition)
        && prev_cond.status == condition.status
        && prev_cond.reason == condition.reason
    {
        condition.last_transition_time = prev_cond
            .last_transition_time
            .clone()
            .or(condition.last_transition_time);
    }
    // Keep other controllers' conditions, in their order, with ours in place of the old one.
    let others: Vec<FederatedCondition> = previous
        .map(|p| {
            p.conditions
                .iter()
                .filter(|c| c.type_ != PROPAGATION_CONDITION)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    status.conditions = others;
    status.conditions.push(condition);

    // Nothing a user can see changed: keep the old timestamps so the object is byte-identical.
    if let Some(prev) = previous
        && !status_changed(Some(prev), &status)
        && let Some(old) = prev.propagation_condition()
        && let Some(ours) = status
            .conditions
            .iter_mut()
            .find(|c| c.type_ == PROPAGATION_CONDITION)
    {
        ours.last_update_time = old.last_update_time.clone().or(ours.last_update_time.take());
        ours.last_transition_time = old
            .last_transition_time
            .clone()
            .or(ours.last_transition_time.take());
    }
    status
}

/// Sums the workload fields of member objects' `status` (see [`AggregatedStatus`]). Each field is `None` when
/// no member reports it; the result is `None` when no field is reported at all. Missing, negative, non-integer
/// or mistyped values are skipped; sums saturate at `i32::MAX`.
pub fn aggregate<'a>(member_statuses: impl IntoIterator<Item = &'a Value>) -> Option<AggregatedStatus> {
    fn add(sum: &mut Option<i32>, status: &Value, field: &str) {
        if let Some(n) = status.get(field).and_then(Value::as_i64).filter(|n| *n >= 0) {
            let n = i32::try_from(n).unwrap_or(i32::MAX);
            *sum = Some(sum.unwrap_or(0).saturating_add(n));
        }
    }
    let mut agg = AggregatedStatus::default();
    for s in member_statuses {
        add(&mut agg.replicas, s, "replicas");
        add(&mut agg.ready_replicas, s, "readyReplicas");
        add(&mut agg.available_replicas, s, "availableReplicas");
        add(&mut agg.updated_replicas, s, "updatedReplicas");
        add(&mut agg.succeeded, s, "succeeded");
    }
    (agg != AggregatedStatus::default()).then_some(agg)
}

/// Whether `new` differs from `old` in anything but condition timestamps (`lastUpdateTime`,
/// `lastTransitionTime`). No old status always counts as a change.
pub fn status_changed(old: Option<&FederatedStatus>, new: &FederatedStatus) -> bool {
    fn strip(s: &FederatedStatus) -> FederatedStatus {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_update_time = None;
            c.last_transition_time = None;
        }
        s
    }
    match old {
        None => true,
        Some(old) => strip(old) != strip(new),
    }
}

/// The status a federated object gets when its CRD is KubeFed v0.10's: only the fields KubeFed's status schema
/// declares (`observedGeneration`, `conditions[]` without `message`, `clusters[]`). KubeFed's schema has no
/// `aggregated` and no condition `message`, and server-side apply rejects a status with a field the schema
/// does not declare (HTTP 500 `field not declared in schema`), so these are dropped until the CRDs are
/// upgraded. The condition's `reason` still says whether and why propagation failed.
pub fn kubefed_shaped(status: &FederatedStatus) -> FederatedStatus {
    let mut s = status.clone();
    s.aggregated = None;
    for c in &mut s.conditions {
        c.message = None;
    }
    s
}

/// Whether an API error message is server-side apply rejecting a field the object's schema does not declare —
/// what a status write gets from a federated CRD of KubeFed v0.10 (e.g. `.status.aggregated: field not
/// declared in schema`).
pub fn is_undeclared_field_error(message: &str) -> bool {
    message.contains("field not declared in schema")
}

/// Whether a member write that failed with HTTP `code` and the member's `message` will fail the same way
/// until the federated object (or the member's schema) changes, so retrying it on a timer only adds load:
/// a malformed or invalid body (400, 422), a method or media type the member does not support (405, 406,
/// 415), a body too large (413), and server-side apply's 500 for a body that does not fit the member's
/// schema (`failed to create typed patch object … field not declared in schema` / `expected string`).
/// Everything else is transient: the cluster or its credentials (401, 403), a namespace not there yet
/// (404), conflicts (409), throttling (429), timeouts and other server errors.
pub fn is_permanent_write_failure(code: u16, message: &str) -> bool {
    match code {
        400 | 405 | 406 | 413 | 415 | 422 => true,
        500 => is_undeclared_field_error(message) || message.contains("failed to create typed patch object"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::ConditionStatus;

    #[test]
    fn permanent_write_failures() {
        struct Case {
            name: &'static str,
            code: u16,
            message: &'static str,
            want: bool,
        }
        let cases = [
            Case {
                name: "invalid",
                code: 422,
                message: "spec.replicas: Invalid value",
                want: true,
            },
            Case {
                name: "bad request",
                code: 400,
                message: "strict decoding error",
                want: true,
            },
            Case {
                name: "apply outside the schema",
                code: 500,
                message: "failed to create typed patch object (ns/a; /v1, Kind=ConfigMap): .data.k: expected string",
                want: true,
            },
            Case {
                name: "undeclared field",
                code: 500,
                message: ".spec.x: field not declared in schema",
                want: true,
            },
            Case {
                name: "other 500",
                code: 500,
                message: "etcdserver: request timed out",
                want: false,
            },
            Case {
                name: "credentials",
                code: 401,
                message: "Unauthorized",
                want: false,
            },
            Case {
                name: "forbidden",
                code: 403,
                message: "forbidden",
                want: false,
            },
            Case {
                name: "namespace not yet there",
                code: 404,
                message: "namespaces \"x\" not found",
                want: false,
            },
            Case {
                name: "conflict",
                code: 409,
                message: "conflict",
                want: false,
            },
            Case {
                name: "throttled",
                code: 429,
                message: "too many requests",
                want: false,
            },
            Case {
                name: "unavailable",
                code: 503,
                message: "unavailable",
                want: false,
            },
        ];
        for c in cases {
            assert_eq!(
                is_permanent_write_failure(c.code, c.message),
                c.want,
                "{}",
                c.name
            );
        }
    }

    fn t(s: &str) -> Time {
        Time(s.parse().expect("test timestamp parses"))
    }

    fn outcomes(list: &[(&str, ClusterOutcome)]) -> BTreeMap<String, ClusterOutcome> {
        list.iter().map(|(n, o)| ((*n).to_string(), o.clone())).collect()
    }

    fn cond(s: &FederatedStatus) -> &FederatedCondition {
        s.propagation_condition().expect("Propagation condition")
    }

    #[test]
    fn conditions_and_clusters() {
        struct Case {
            name: &'static str,
            outcomes: BTreeMap<String, ClusterOutcome>,
            failure: Option<ObjectFailure>,
            want_status: ConditionStatus,
            want_reason: Option<&'static str>,
            want_message: Option<&'static str>,
            want_clusters: &'static [(&'static str, &'static str)],
        }
        let cases = [
            Case {
                name: "all OK",
                outcomes: outcomes(&[("b", ClusterOutcome::ok(None)), ("a", ClusterOutcome::ok(None))]),
                failure: None,
                want_status: ConditionStatus::True,
                want_reason: None,
                want_message: None,
                want_clusters: &[("a", ""), ("b", "")],
            },
            Case {
                name: "no clusters selected is OK",
                outcomes: BTreeMap::new(),
                failure: None,
                want_status: ConditionStatus::True,
                want_reason: None,
                want_message: None,
                want_clusters: &[],
            },
            Case {
                name: "one failing",
                outcomes: outcomes(&[
                    ("eu-1", ClusterOutcome::ok(None)),
                    (
                        "eu-2",
                        ClusterOutcome::failed(PropagationStatus::UpdateFailed, "conflict on spec.replicas"),
                    ),
                ]),
                failure: None,
                want_status: ConditionStatus::False,
                want_reason: Some("CheckClusters"),
                want_message: Some(
                    "not propagated to 1 of 2 clusters: eu-2: UpdateFailed (conflict on spec.replicas)",
                ),
                want_clusters: &[("eu-1", ""), ("eu-2", "UpdateFailed")],
            },
            Case {
                name: "several failing, every status string",
                outcomes: outcomes(&[
                    (
                        "a",
                        ClusterOutcome {
                            status: PropagationStatus::ClusterNotReady,
                            ..Default::default()
                        },
                    ),
                    (
                        "b",
                        ClusterOutcome {
                            status: PropagationStatus::WaitingForRemoval,
                            ..Default::default()
                        },
                    ),
                    (
                        "c",
                        ClusterOutcome {
                            status: PropagationStatus::ManagedLabelFalse,
                            ..Default::default()
                        },
                    ),
                    (
                        "d",
                        ClusterOutcome::failed(PropagationStatus::ApplyOverridesFailed, "bad path"),
                    ),
                    (
                        "e",
                        ClusterOutcome {
                            status: PropagationStatus::DeletionTimedOut,
                            ..Default::default()
                        },
                    ),
                ]),
                failure: None,
                want_status: ConditionStatus::False,
                want_reason: Some("CheckClusters"),
                want_message: Some(
                    "not propagated to 5 of 5 clusters: a: ClusterNotReady; b: WaitingForRemoval; c: \
                     ManagedLabelFalse; d: ApplyOverridesFailed (bad path); e: DeletionTimedOut",
                ),
                want_clusters: &[
                    ("a", "ClusterNotReady"),
                    ("b", "WaitingForRemoval"),
                    ("c", "ManagedLabelFalse"),
                    ("d", "ApplyOverridesFailed"),
                    ("e", "DeletionTimedOut"),
                ],
            },
            Case {
                name: "placement error",
                outcomes: BTreeMap::new(),
                failure: Some(ObjectFailure::from(&PlacementError::MissingNamespace {
                    kind: "FederatedDeployment".into(),
                    name: "web".into(),
                })),
                want_status: ConditionStatus::False,
                want_reason: Some("ComputePlacementFailed"),
                want_message: Some("FederatedDeployment \"web\" is namespaced but has no metadata.namespace"),
                want_clusters: &[],
            },
            Case {
                name: "namespace not federated, still removing",
                outcomes: outcomes(&[(
                    "a",
                    ClusterOutcome {
                        status: PropagationStatus::WaitingForRemoval,
                        ..Default::default()
                    },
                )]),
                failure: Some(ObjectFailure::namespace_not_federated("shop")),
                want_status: ConditionStatus::False,
                want_reason: Some("NamespaceNotFederated"),
                want_message: Some("namespace \"shop\" is not federated"),
                want_clusters: &[("a", "WaitingForRemoval")],
            },
            Case {
                name: "cluster retrieval failed",
                outcomes: BTreeMap::new(),
                failure: Some(ObjectFailure::cluster_retrieval_failed("connection refused")),
                want_status: ConditionStatus::False,
                want_reason: Some("ClusterRetrievalFailed"),
                want_message: Some("could not list KubeFedClusters: connection refused"),
                want_clusters: &[],
            },
        ];
        let now = t("2025-01-01T00:00:00Z");
        for c in cases {
            let s = compute_status(Some(7), &c.outcomes, c.failure.as_ref(), None, &now);
            assert_eq!(s.observed_generation, Some(7), "{}", c.name);
            assert_eq!(s.conditions.len(), 1, "{}", c.name);
            let cd = cond(&s);
            assert_eq!(cd.type_, "Propagation", "{}", c.name);
            assert_eq!(cd.status, c.want_status, "{}", c.name);
            assert_eq!(cd.reason.as_deref(), c.want_reason, "{}", c.name);
            match c.want_message {
                None => assert_eq!(cd.message, None, "{}", c.name),
                Some(m) => {
                    let got = cd.message.as_deref().unwrap_or_default();
                    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
                    assert!(norm(got).starts_with(&norm(m)), "{}: {got}", c.name);
                }
            }
            assert_eq!(cd.last_transition_time, Some(now.clone()), "{}", c.name);
            let clusters: Vec<_> = s
                .clusters
                .iter()
                .map(|cl| (cl.name.as_str(), cl.status.as_str()))
                .collect();
            assert_eq!(clusters, c.want_clusters, "{}", c.name);
        }
    }

    #[test]
    fn timestamps() {
        let t0 = t("2025-01-01T00:00:00Z");
        let t1 = t("2025-01-01T00:05:00Z");
        let t2 = t("2025-01-01T00:10:00Z");
        let ok = outcomes(&[("a", ClusterOutcome::ok(None))]);
        let failing = outcomes(&[("a", ClusterOutcome::failed(PropagationStatus::UpdateFailed, "x"))]);
        let failing_other = outcomes(&[("a", ClusterOutcome::failed(PropagationStatus::UpdateFailed, "y"))]);

        let s0 = compute_status(Some(1), &ok, None, None, &t0);
        // Unchanged: identical, old timestamps, nothing to write.
        let s1 = compute_status(Some(1), &ok, None, Some(&s0), &t1);
        assert_eq!(s1, s0);
        assert!(!status_changed(Some(&s0), &s1));
        // A new generation with the same outcome: update time moves, transition time stays.
        let s2 = compute_status(Some(2), &ok, None, Some(&s1), &t1);
        assert!(status_changed(Some(&s1), &s2));
        assert_eq!(cond(&s2).last_update_time, Some(t1.clone()));
        assert_eq!(cond(&s2).last_transition_time, Some(t0.clone()));
        // Becomes False: transition.
        let s3 = compute_status(Some(2), &failing, None, Some(&s2), &t2);
        assert_eq!(cond(&s3).last_transition_time, Some(t2.clone()));
        // Same reason, different message: updated, no transition.
        let s4 = compute_status(Some(2), &failing_other, None, Some(&s3), &t2);
        assert!(status_changed(Some(&s3), &s4));
        assert_eq!(cond(&s4).last_transition_time, Some(t2.clone()));
        // Different reason with the same status is a transition.
        let t3 = t("2025-01-01T00:15:00Z");
        let s5 = compute_status(
            Some(2),
            &BTreeMap::new(),
            Some(&ObjectFailure::namespace_not_federated("ns")),
            Some(&s4),
            &t3,
        );
        assert_eq!(cond(&s5).last_transition_time, Some(t3));
        // status_changed ignores timestamps only.
        let mut later = s0.clone();
        later.conditions[0].last_update_time = Some(t2.clone());
        assert!(!status_changed(Some(&s0), &later));
        assert!(status_changed(None, &s0));
    }

    #[test]
    fn cluster_retrieval_failure_keeps_what_was_known() {
        let now = t("2025-01-01T00:00:00Z");
        let prev = compute_status(
            Some(1),
            &outcomes(&[("a", ClusterOutcome::ok(Some(json!({"replicas": 2}))))]),
            None,
            None,
            &now,
        );
        let s = compute_status(
            Some(1),
            &BTreeMap::new(),
            Some(&ObjectFailure::cluster_retrieval_failed("timeout")),
            Some(&prev),
            &now,
        );
        assert_eq!(s.clusters, prev.clusters);
        assert_eq!(s.aggregated, prev.aggregated);
        assert_eq!(cond(&s).reason.as_deref(), Some("ClusterRetrievalFailed"));
    }

    #[test]
    fn other_conditions_are_kept() {
        let now = t("2025-01-01T00:00:00Z");
        let mut prev = compute_status(Some(1), &BTreeMap::new(), None, None, &now);
        prev.conditions.insert(
            0,
            FederatedCondition {
                type_: "Scheduled".into(),
                status: ConditionStatus::True,
                reason: None,
                message: None,
                last_update_time: None,
                last_transition_time: None,
            },
        );
        let s = compute_status(Some(1), &BTreeMap::new(), None, Some(&prev), &now);
        let types: Vec<_> = s.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Scheduled", "Propagation"]);
    }

    #[test]
    fn aggregation() {
        struct Case {
            name: &'static str,
            statuses: Vec<Value>,
            want: Option<AggregatedStatus>,
        }
        let cases = [
            Case {
                name: "nothing",
                statuses: vec![],
                want: None,
            },
            Case {
                name: "no workload fields",
                statuses: vec![json!({"loadBalancer": {}})],
                want: None,
            },
            Case {
                name: "deployments",
                statuses: vec![
                    json!({"replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "updatedReplicas": 3}),
                    json!({"replicas": 2, "readyReplicas": 1, "updatedReplicas": 2}),
                ],
                want: Some(AggregatedStatus {
                    replicas: Some(5),
                    ready_replicas: Some(4),
                    available_replicas: Some(3),
                    updated_replicas: Some(5),
                    succeeded: None,
                }),
            },
            Case {
                name: "statefulset just created (no readyReplicas yet)",
                statuses: vec![json!({"replicas": 0, "currentReplicas": 0})],
                want: Some(AggregatedStatus {
                    replicas: Some(0),
                    ..Default::default()
                }),
            },
            Case {
                name: "jobs",
                statuses: vec![
                    json!({"succeeded": 1}),
                    json!({"active": 1}),
                    json!({"succeeded": 2, "failed": 1}),
                ],
                want: Some(AggregatedStatus {
                    succeeded: Some(3),
                    ..Default::default()
                }),
            },
            Case {
                name: "mistyped and negative values skipped",
                statuses: vec![
                    json!({"replicas": "3", "readyReplicas": -1}),
                    json!({"replicas": 1.5}),
                    json!("bogus"),
                    json!({"replicas": 2}),
                ],
                want: Some(AggregatedStatus {
                    replicas: Some(2),
                    ..Default::default()
                }),
            },
            Case {
                name: "saturates",
                statuses: vec![
                    json!({"replicas": i32::MAX}),
                    json!({"replicas": 5_000_000_000i64}),
                ],
                want: Some(AggregatedStatus {
                    replicas: Some(i32::MAX),
                    ..Default::default()
                }),
            },
        ];
        for c in cases {
            assert_eq!(aggregate(c.statuses.iter()), c.want, "{}", c.name);
        }
        // Through compute_status: failing clusters' members still count (they still run).
        let now = t("2025-01-01T00:00:00Z");
        let mut failing = ClusterOutcome::failed(PropagationStatus::UpdateFailed, "x");
        failing.member_status = Some(json!({"replicas": 2, "readyReplicas": 2}));
        let s = compute_status(
            Some(1),
            &outcomes(&[
                (
                    "a",
                    ClusterOutcome::ok(Some(json!({"replicas": 3, "readyReplicas": 1}))),
                ),
                ("b", failing),
            ]),
            None,
            None,
            &now,
        );
        let agg = s.aggregated.expect("aggregated");
        assert_eq!((agg.replicas, agg.ready_replicas), (Some(5), Some(3)));
        assert!(s.clusters.iter().all(|c| c.remote_status.is_none()));
    }

    #[test]
    fn kubefed_shaped_drops_only_what_kubefeds_schema_lacks() {
        let o = outcomes(&[
            ("a", ClusterOutcome::ok(Some(json!({"replicas": 2})))),
            (
                "b",
                ClusterOutcome::failed(PropagationStatus::CreationFailed, "denied"),
            ),
        ]);
        let full = compute_status(Some(3), &o, None, None, &t("2024-01-01T00:00:00Z"));
        assert!(full.aggregated.is_some());
        assert!(cond(&full).message.is_some());
        let shaped = kubefed_shaped(&full);
        assert_eq!(shaped.aggregated, None);
        assert_eq!(cond(&shaped).message, None);
        assert_eq!(cond(&shaped).reason, cond(&full).reason);
        assert_eq!(shaped.clusters, full.clusters);
        assert_eq!(shaped.observed_generation, Some(3));
        // What the server then holds compares equal to the next shaped status: no write loop.
        assert!(!status_changed(Some(&shaped), &kubefed_shaped(&full)));
    }

    #[test]
    fn recognises_undeclared_field_errors() {
        assert!(is_undeclared_field_error(
            "failed to create typed patch object (types.kubefed.io/v1beta1, Kind=FederatedDeployment): \
             .status.aggregated: field not declared in schema"
        ));
        assert!(!is_undeclared_field_error("the object has been modified"));
    }
}
