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
            .into_iter()
            .chain(
                ["Role", "RoleBinding"].map(|k| {
                    kubefed_core::convert::guess_target_type("rbac.authorization.k8s.io/v1", k, true)
                }),
            )
            .map(|t| TypeEntry::from_config(&FederatedTypeConfig::for_target(&t, "kube-federation-system")))
            .collect(),
        Settings::default(),
    )
}

/// Answers `propagate` from a list of allowed clusters (`*`: a grant for every cluster), and every other
/// question yes unless its description contains one of `refused`; a user named `broken` makes it fail.
struct Allowed {
    clusters: BTreeSet<&'static str>,
    refused: Vec<&'static str>,
}

impl AccessReviewer for Allowed {
    fn review<'a>(&'a self, subject: &'a Subject, access: &'a Access) -> ReviewFuture<'a> {
        let answer = if subject.user == "broken" {
            Err("SubjectAccessReview failed: connection refused".to_string())
        } else {
            Ok(match access {
                Access::Resource { resource, name, .. } if resource == "kubefedclusters" => {
                    self.clusters.contains(name.as_deref().unwrap_or("*"))
                }
                other => {
                    let shown = other.to_string();
                    !self.refused.iter().any(|r| shown.contains(r))
                }
            })
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
    decisions_refusing(allowed, &[])
}

fn decisions_refusing(
    allowed: &[&'static str],
    refused: &[&'static str],
) -> (Decisions, mpsc::Receiver<AuditEntry>) {
    let (sink, rx) = audit_queue(16);
    let authorizer = PropagateAuthorizer::new(
        Arc::new(Allowed {
            clusters: allowed.iter().copied().collect(),
            refused: refused.to_vec(),
        }),
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

/// A review of a `Federated<kind>` in namespace `shop` (plural `resource`) by `user`.
fn review_of(kind: &str, resource: &str, user: &str, spec: Value) -> Value {
    let mut v = review(user, false, spec);
    v["request"]["kind"]["kind"] = json!(kind);
    v["request"]["resource"]["resource"] = json!(resource);
    v["request"]["object"]["kind"] = json!(kind);
    v
}

#[tokio::test]
async fn malformed_reviews_are_denied_never_allowed() {
    let (d, mut audits) = decisions(&["eu-1", "us-1"]);
    let base = review("alice", false, on(&["eu-1"]));
    let mut no_object = base.clone();
    no_object["request"]
        .as_object_mut()
        .expect("request")
        .remove("object");
    let mut null_object = base.clone();
    null_object["request"]["object"] = Value::Null;
    let mut no_user = base.clone();
    no_user["request"]["userInfo"] = json!({});
    let mut empty_uid = base.clone();
    empty_uid["request"]["uid"] = json!("");
    let mut update_without_old = base.clone();
    update_without_old["request"]["operation"] = json!("UPDATE");
    for (name, v, want) in [
        ("no object", no_object, "request.object is missing or null"),
        ("null object", null_object, "request.object is missing or null"),
        ("no user", no_user, "request.userInfo.username is missing"),
        ("empty uid", empty_uid, "request.uid is empty"),
        (
            "update without oldObject",
            update_without_old,
            "request.oldObject is missing",
        ),
    ] {
        let req = request(&v);
        for r in [d.validate(&req).await, d.mutate(&req).await] {
            assert!(!r.allowed, "{name}");
            assert_eq!(
                (r.result.reason.as_str(), r.result.code),
                ("MalformedReview", 400),
                "{name}"
            );
            assert!(r.result.message.contains(want), "{name}: {}", r.result.message);
        }
    }
    assert!(audits.try_recv().is_err(), "malformed reviews record nothing");
}

#[tokio::test]
async fn audit_only_for_admitted_requests_and_in_audit_annotations() {
    let (d, mut audits) = decisions(&["eu-1", "us-1", "ap-1"]);
    // ap-1 breaks Deny policy no-ap (and namespace consistency) as well as Audit policy audit-ha.
    let r = d.validate(&request(&review("alice", false, on(&["ap-1"])))).await;
    assert!(!r.allowed);
    assert!(r.audit_annotations.is_empty());
    assert!(audits.try_recv().is_err(), "a denied request is not audited");
    // Denied by RBAC only: not audited either.
    let r = d.validate(&request(&review("bob", false, on(&["ap-1"])))).await;
    assert!(!r.allowed);
    assert!(audits.try_recv().is_err());
    let r = d.validate(&request(&review("alice", false, on(&["eu-1"])))).await;
    assert!(r.allowed);
    assert!(audits.try_recv().is_ok());
    let value = r
        .audit_annotations
        .get("policy-audit-ha")
        .expect("an audit annotation for the policy");
    assert!(
        value.starts_with("minClusters: policy \"audit-ha\": spec.placement resolves to 1 joined cluster")
    );
}

#[test]
fn audit_annotation_keys_are_valid_and_values_bounded() {
    let entry = |policy: &str, message: String| AuditEntry {
        policy: policy.into(),
        violation: PolicyViolation {
            rule: "r".into(),
            message,
            ..PolicyViolation::default()
        },
    };
    let long = "p".repeat(80) + ".x";
    let got = audit_annotations(&[
        entry(&long, "é".repeat(2000)),
        entry("a", "m1".into()),
        entry("a", "m2".into()),
    ]);
    let key = format!("policy-{}", "p".repeat(56));
    assert_eq!(got.get("policy-a").map(String::as_str), Some("r: m1; r: m2"));
    let value = got.get(&key).expect("truncated key");
    assert!(key.len() <= 63);
    assert!(value.len() <= MAX_AUDIT_ANNOTATION_BYTES && value.ends_with('…'));
}

#[tokio::test]
async fn native_equivalence_and_escalation_are_checked() {
    let (d, _) = decisions_refusing(
        &["eu-1", "us-1"],
        &[
            "create deployments.apps",
            "bind clusterroles",
            "escalate",
            "delete pods",
        ],
    );
    let r = d.validate(&request(&review("alice", false, on(&["eu-1"])))).await;
    assert!(!r.allowed);
    assert_eq!(
        (r.result.reason.as_str(), r.result.code),
        ("AccessForbidden", 403)
    );
    assert!(
        r.result.message.starts_with(
            "user \"alice\" may not create deployments.apps in namespace \"shop\" on the host, so they may not \
             create it on member clusters through federation either"
        ),
        "{}",
        r.result.message
    );
    let mut binding = on(&["eu-1"]);
    binding["template"] = json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
        "name": "cluster-admin"}, "subjects": [{"kind": "User", "name": "alice"}]});
    let r = d
        .validate(&request(&review_of(
            "FederatedRoleBinding",
            "federatedrolebindings",
            "alice",
            binding,
        )))
        .await;
    assert!(!r.allowed);
    assert!(
        r.result
            .message
            .starts_with("user \"alice\" may not bind ClusterRole \"cluster-admin\" in namespace \"shop\""),
        "{}",
        r.result.message
    );
    assert!(r.result.message.contains("`kubectl create clusterrole bind-cluster-admin --verb=bind --resource=clusterroles.rbac.authorization.k8s.io --resource-name=cluster-admin && kubectl -n shop create rolebinding alice-bind-cluster-admin --clusterrole=bind-cluster-admin --user=alice`"));
    let mut role = on(&["eu-1"]);
    role["template"] =
        json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete"]}]});
    let r = d
        .validate(&request(&review_of(
            "FederatedRole",
            "federatedroles",
            "alice",
            role,
        )))
        .await;
    assert!(!r.allowed);
    assert!(
        r.result
            .message
            .ends_with("(rules you do not hold: delete pods in namespace \"shop\")"),
        "{}",
        r.result.message
    );
    // Holding every rule is enough without escalate.
    let mut role = on(&["eu-1"]);
    role["template"] = json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
    let r = d
        .validate(&request(&review_of(
            "FederatedRole",
            "federatedroles",
            "alice",
            role,
        )))
        .await;
    assert!(r.allowed, "{}", r.result.message);
}

#[tokio::test]
async fn a_selector_placement_needs_propagate_on_every_cluster() {
    let selector =
        json!({"template": {}, "placement": {"clusterSelector": {"matchLabels": {"region": "eu"}}}});
    let (d, _) = decisions(&["eu-1", "us-1"]);
    let r = d
        .validate(&request(&review("bob", false, selector.clone())))
        .await;
    assert!(!r.allowed);
    assert!(
        r.result
            .message
            .starts_with("user \"bob\" may not propagate to every cluster: spec.placement.clusterSelector"),
        "{}",
        r.result.message
    );
    assert!(
        r.result
            .message
            .contains("list the clusters you may propagate to by name in spec.placement.clusters")
    );
    let (d, _) = decisions(&["*"]);
    let r = d.validate(&request(&review("alice", false, selector))).await;
    assert!(r.allowed, "{}", r.result.message);
}

#[tokio::test]
async fn override_types_checked_against_the_hosts_schema_or_skipped_with_a_warning() {
    use kubefed_core::admission::GroupVersionSchema;
    let doc = json!({"components": {"schemas": {"D": {"type": "object",
        "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Deployment"}],
        "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}}}});
    let mut spec = on(&["eu-1"]);
    spec["template"] = json!({"spec": {"replicas": 1}});
    spec["overrides"] =
        json!([{"clusterName": "eu-1", "clusterOverrides": [{"path": "/spec/replicas", "value": "three"}]}]);
    let schemas = schemas::StaticSchemas(
        [(
            "/openapi/v3/apis/apps/v1".to_string(),
            Arc::new(GroupVersionSchema::from_document(doc)),
        )]
        .into(),
    );
    let (d, _) = decisions(&["eu-1", "us-1"]);
    let d = d.with_schemas(Arc::new(schemas));
    let r = d.validate(&request(&review("alice", false, spec.clone()))).await;
    assert!(!r.allowed);
    assert_eq!(
        r.result.message,
        "spec.overrides[0].clusterOverrides[0].value: /spec/replicas must be an integer, but the value is a string \
         \"three\" (schema of Deployment apps/v1 on the host); fix the value's type"
    );
    // The schema cannot be read: admitted, with a warning saying so.
    let (d, _) = decisions(&["eu-1", "us-1"]);
    let d = d.with_schemas(Arc::new(schemas::StaticSchemas::default()));
    let r = d.validate(&request(&review("alice", false, spec))).await;
    assert!(r.allowed, "{}", r.result.message);
    assert!(
        r.warnings
            .iter()
            .flatten()
            .any(|w| w.starts_with("the types of spec.overrides values were not checked")),
        "{:?}",
        r.warnings
    );
}

#[tokio::test]
async fn unapplicable_overrides_are_denied_with_the_controllers_message() {
    let mut spec = on(&["eu-1"]);
    spec["overrides"] = json!([{"clusterName": "eu-1", "clusterOverrides": [{"op": "remove", "path": "/spec/doesnotexist/x"}]}]);
    let (d, _) = decisions(&["eu-1", "us-1"]);
    let r = d.validate(&request(&review("alice", false, spec))).await;
    assert!(!r.allowed);
    assert_eq!(r.result.reason, "Invalid");
    assert!(
        r.result
            .message
            .starts_with("spec.overrides[0].clusterOverrides[0]: remove /spec/doesnotexist/x failed: "),
        "{}",
        r.result.message
    );
    assert!(
        r.result
            .message
            .contains("(for cluster \"eu-1\"; the controller would report ApplyOverridesFailed)")
    );
}
