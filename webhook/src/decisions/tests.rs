//! The decisions as the server sees them: AdmissionReviews in, responses out, with a fixed snapshot and
//! scripted `propagate` answers; and one round trip through the router.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use http::Request as HttpRequest;
use http_body_util::BodyExt;
use kube::core::admission::AdmissionResponse;
use kubefed_core::admission::{Settings, Snapshot, TypeEntry};
use kubefed_core::api::{FederatedTypeConfig, Placement};
use kubefed_core::placement::ClusterInfo;
use kubefed_core::typeinfo::default_types;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;
use crate::admission::decode_review;
use crate::sar::{AccessReviewer, CacheTtl, FixedReviewer, ReviewFuture};
use crate::snapshot::StaticSnapshot;
use crate::{AppState, Limits, Metrics, Readiness, router};

fn snapshot() -> Snapshot {
    let labels = |r: &str| BTreeMap::from([("region".to_string(), r.to_string())]);
    let placement: Placement =
        serde_json::from_value(json!({"clusters": [{"name": "eu-1"}, {"name": "us-1"}]})).expect("placement");
    let policies = vec![
        serde_json::from_value(json!({
            "apiVersion": "policy.kubefed.io/v1alpha1", "kind": "FederationPolicy",
            "metadata": {"name": "no-ap"},
            "spec": {"deniedClusters": {"names": ["ap-1"]}, "defaultPlacement": {"clusters": [{"name": "eu-1"}]}}
        }))
        .expect("policy"),
        serde_json::from_value(json!({
            "apiVersion": "policy.kubefed.io/v1alpha1", "kind": "FederationPolicy",
            "metadata": {"name": "audit-ha"},
            "spec": {"enforcement": "Audit", "minClusters": 2}
        }))
        .expect("policy"),
    ];
    Snapshot::new(
        vec![
            ClusterInfo::new("eu-1", labels("eu"), true),
            ClusterInfo::new("us-1", labels("us"), true),
            ClusterInfo::new("ap-1", labels("ap"), true),
        ],
        BTreeMap::from([("shop".to_string(), placement)]),
        BTreeMap::new(),
        policies,
        default_types()
            .iter()
            .map(|t| TypeEntry::from_config(&FederatedTypeConfig::for_target(t, "kube-federation-system")))
            .collect(),
        Settings::default(),
    )
}

/// Answers `propagate` from a list of allowed clusters; a user named `broken` makes it fail.
struct Allowed(BTreeSet<&'static str>);

impl AccessReviewer for Allowed {
    fn can_propagate<'a>(&'a self, subject: &'a Subject, cluster: &'a str) -> ReviewFuture<'a> {
        let answer = if subject.user == "broken" {
            Err("SubjectAccessReview failed: connection refused".to_string())
        } else {
            Ok(self.0.contains(cluster))
        };
        Box::pin(std::future::ready(answer))
    }
}

struct Unsynced;

impl SnapshotSource for Unsynced {
    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::new(Snapshot::default())
    }

    fn synced(&self) -> bool {
        false
    }
}

fn decisions(allowed: &[&'static str]) -> (Decisions, mpsc::Receiver<AuditEntry>) {
    let (sink, rx) = audit_queue(16);
    let authorizer = PropagateAuthorizer::new(
        Arc::new(Allowed(allowed.iter().copied().collect())),
        CacheTtl::default(),
    );
    (
        Decisions::new(
            Arc::new(StaticSnapshot(Arc::new(snapshot()))),
            Arc::new(authorizer),
            Some(sink),
        ),
        rx,
    )
}

fn review(user: &str, dry_run: bool, spec: Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "kind": {"group": "types.kubefed.io", "version": "v1beta1", "kind": "FederatedDeployment"},
            "resource": {"group": "types.kubefed.io", "version": "v1beta1", "resource": "federateddeployments"},
            "name": "web", "namespace": "shop", "operation": "CREATE", "dryRun": dry_run,
            "userInfo": {"username": user, "uid": format!("uid-{user}"), "groups": ["devs"]},
            "object": {"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
                       "metadata": {"name": "web", "namespace": "shop"}, "spec": spec}
        }
    })
}

fn request(v: &Value) -> Request {
    decode_review(v.to_string().as_bytes()).expect("valid review")
}

fn on(names: &[&str]) -> Value {
    json!({"template": {}, "placement": {"clusters": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}})
}

#[tokio::test]
async fn allowed_when_policies_and_rbac_agree() {
    let (d, mut audits) = decisions(&["eu-1", "us-1"]);
    let r = d
        .validate(&request(&review("alice", false, on(&["eu-1", "us-1"]))))
        .await;
    assert!(r.allowed, "{:?}", r.result);
    assert!(r.warnings.is_none());
    assert!(audits.try_recv().is_err(), "no audit violation");
}

#[tokio::test]
async fn denied_by_policy_with_reason_code_and_every_message() {
    let (d, _audits) = decisions(&["eu-1", "us-1", "ap-1"]);
    let r = d
        .validate(&request(&review("alice", false, on(&["eu-1", "ap-1"]))))
        .await;
    assert!(!r.allowed);
    assert_eq!(r.result.reason, "ClusterDenied");
    assert_eq!(r.result.code, 403);
    assert_eq!(
        r.result.message,
        "2 problems: (1) policy \"no-ap\": spec.placement.clusters names cluster \"ap-1\", which the policy denies \
         (deniedClusters: names [ap-1]); remove it from spec.placement.clusters; (2) spec.placement: namespace \
         \"shop\" is not federated to cluster ap-1 (its FederatedNamespace places it on eu-1, us-1); add it to the \
         FederatedNamespace's spec.placement, or remove it from this object's spec.placement"
    );
}

#[tokio::test]
async fn denied_without_propagate_rights() {
    let (d, _audits) = decisions(&["eu-1"]);
    let r = d
        .validate(&request(&review("bob", false, on(&["eu-1", "us-1"]))))
        .await;
    assert!(!r.allowed);
    assert_eq!(
        (r.result.reason.as_str(), r.result.code),
        ("PropagateForbidden", 403)
    );
    assert!(
        r.result.message.starts_with(
            "user \"bob\" may not propagate to cluster \"us-1\": placing objects on a cluster needs verb"
        ),
        "{}",
        r.result.message
    );
    let r = d
        .validate(&request(&review("broken", false, on(&["eu-1"]))))
        .await;
    assert_eq!(
        (r.result.reason.as_str(), r.result.code),
        ("PropagateCheckFailed", 500)
    );
}

#[tokio::test]
async fn audit_violations_are_queued_except_for_dry_runs() {
    let (d, mut audits) = decisions(&["eu-1", "us-1"]);
    let r = d.validate(&request(&review("alice", true, on(&["eu-1"])))).await;
    assert!(r.allowed);
    assert!(audits.try_recv().is_err(), "dry runs record nothing");
    let r = d.validate(&request(&review("alice", false, on(&["eu-1"])))).await;
    assert!(r.allowed);
    let entry = audits.try_recv().expect("one audit violation");
    assert_eq!(entry.policy, "audit-ha");
    assert_eq!(entry.violation.rule, "minClusters");
    assert_eq!(entry.violation.user.as_deref(), Some("alice"));
    assert_eq!(entry.violation.namespace.as_deref(), Some("shop"));
}

#[tokio::test]
async fn a_full_queue_drops_instead_of_waiting() {
    let (sink, mut rx) = audit_queue(1);
    let entry = |n: &str| AuditEntry {
        policy: "p".into(),
        violation: PolicyViolation {
            name: n.into(),
            ..PolicyViolation::default()
        },
    };
    sink.record(vec![entry("a"), entry("b")]);
    assert_eq!(rx.try_recv().map(|e| e.violation.name).ok().as_deref(), Some("a"));
    assert!(rx.try_recv().is_err());
    assert_eq!(sink.dropped.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn not_synced_answers_503() {
    let authorizer = PropagateAuthorizer::new(Arc::new(FixedReviewer(true)), CacheTtl::default());
    let d = Decisions::new(Arc::new(Unsynced), Arc::new(authorizer), None);
    let req = request(&review("alice", false, on(&["eu-1"])));
    for r in [d.validate(&req).await, d.mutate(&req).await] {
        assert!(!r.allowed);
        assert_eq!((r.result.reason.as_str(), r.result.code), (NOT_READY_REASON, 503));
    }
}

#[tokio::test]
async fn mutation_defaults_placement_through_the_router() {
    let (d, _audits) = decisions(&["eu-1"]);
    let ready = Readiness::default();
    let app = router(AppState::new(
        Arc::new(d),
        Arc::new(Metrics::new()),
        ready,
        Limits::default(),
    ));
    let body = review("alice", false, json!({"template": {"status": {"replicas": 1}}})).to_string();
    let response = app
        .oneshot(
            HttpRequest::post("/mutate")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let v: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(v["response"]["allowed"], true);
    assert_eq!(v["response"]["patchType"], "JSONPatch");
    let patch: k8s_openapi::ByteString =
        serde_json::from_value(v["response"]["patch"].clone()).expect("base64 patch");
    let patch: Value = serde_json::from_slice(&patch.0).expect("json patch");
    assert_eq!(
        patch,
        json!([
            {"op": "add", "path": "/spec/placement", "value": {"clusters": [{"name": "eu-1"}]}},
            {"op": "remove", "path": "/spec/template/status"}
        ])
    );
    assert_eq!(
        v["response"]["warnings"],
        json!([
            "spec.placement was not set; it was filled in from the defaultPlacement of FederationPolicy \"no-ap\"",
            "removed fields an API server sets from spec.template (status); each member cluster sets its own"
        ])
    );
}

#[test]
fn responses_keep_the_request_uid() {
    let req = request(&review("alice", false, on(&["eu-1"])));
    let r: AdmissionResponse = respond(&req, Vec::new(), vec!["w".into()]);
    assert_eq!(r.uid, "u-1");
    assert!(r.allowed);
    assert_eq!(r.warnings, Some(vec!["w".to_string()]));
}
