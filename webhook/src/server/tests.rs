//! Router tests in process with `tower::ServiceExt::oneshot`: every bad-input answer and allow/deny/patch
//! round trips, against a test decision that picks its answer from the object's kind.

use std::time::Duration;

use axum::body::Body;
use futures::StreamExt;
use http::Request as HttpRequest;
use kube::core::admission::AdmissionResponse;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;
use crate::admission::{AdmitFuture, Request as AdmissionRequest};

/// Answers by `request.kind.kind`: ConfigMap allowed (mutate adds a label), Secret denied, Slow sleeps,
/// Panic panics, anything else denied as not handled.
struct ByKind;

impl ByKind {
    fn decide(request: &AdmissionRequest, mutate: bool) -> AdmissionResponse {
        let response = AdmissionResponse::from(request);
        match request.kind.kind.as_str() {
            "ConfigMap" if mutate => {
                let patch = serde_json::from_value(json!([
                    {"op": "add", "path": "/metadata/labels", "value": {"kubefed.io/seen": "true"}}
                ]))
                .expect("patch");
                response.with_patch(patch).expect("with_patch")
            }
            "ConfigMap" => response,
            "Secret" => {
                let mut denied =
                    response.deny("spec.placement.clusters[0]: cluster \"prod-us\" is not allowed");
                denied.result.reason = "Forbidden".into();
                denied.result.code = 403;
                denied
            }
            "Panic" => panic!("decision bug"),
            other => {
                let mut denied = response.deny(format!("kind {other:?} is not handled by kubefed-webhook"));
                denied.result.reason = "UnsupportedKind".into();
                denied
            }
        }
    }
}

impl Admit for ByKind {
    fn validate<'a>(&'a self, request: &'a AdmissionRequest) -> AdmitFuture<'a> {
        Box::pin(async move {
            if request.kind.kind == "Slow" {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Self::decide(request, false)
        })
    }

    fn mutate<'a>(&'a self, request: &'a AdmissionRequest) -> AdmitFuture<'a> {
        Box::pin(std::future::ready(Self::decide(request, true)))
    }
}

struct Harness {
    router: Router,
    metrics: Arc<Metrics>,
    readiness: Readiness,
}

fn harness(limits: Limits) -> Harness {
    let metrics = Arc::new(Metrics::new());
    let readiness = Readiness::default();
    let state = AppState::new(Arc::new(ByKind), metrics.clone(), readiness.clone(), limits);
    Harness {
        router: router(state),
        metrics,
        readiness,
    }
}

fn default_harness() -> Harness {
    harness(Limits {
        max_body_bytes: 64 * 1024,
        request_timeout: Duration::from_millis(500),
    })
}

fn review_body(kind: &str, uid: &str) -> String {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "things"},
            "namespace": "team-a",
            "name": "web",
            "operation": "CREATE",
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": {"apiVersion": "v1", "kind": kind, "metadata": {"name": "web", "namespace": "team-a"}},
            "oldObject": null,
            "dryRun": false
        }
    })
    .to_string()
}

fn post(path: &str, body: impl Into<Body>) -> HttpRequest<Body> {
    HttpRequest::post(path)
        .header("content-type", "application/json")
        .body(body.into())
        .expect("request")
}

async fn call(router: &Router, request: HttpRequest<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

fn assert_status_body(body: &Value, code: u16, reason: &str, fragment: &str) {
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["reason"], reason, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(fragment),
        "message {message:?} lacks {fragment:?}"
    );
}

#[tokio::test]
async fn validate_allows_and_echoes_uid() {
    let h = default_harness();
    let (status, body) = call(
        &h.router,
        post(VALIDATE_PATH, review_body("ConfigMap", "uid-allow")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(body["kind"], "AdmissionReview");
    assert_eq!(body["response"]["uid"], "uid-allow");
    assert_eq!(body["response"]["allowed"], true);
    assert!(body["response"].get("patch").is_none());
}

#[tokio::test]
async fn mutate_returns_a_json_patch() {
    let h = default_harness();
    let (status, body) = call(&h.router, post(MUTATE_PATH, review_body("ConfigMap", "uid-mut"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["response"]["uid"], "uid-mut");
    assert_eq!(body["response"]["patchType"], "JSONPatch");
    // The patch is the JSON patch document, base64-encoded.
    let raw: k8s_openapi::ByteString =
        serde_json::from_value(body["response"]["patch"].clone()).expect("base64");
    let patch: Value = serde_json::from_slice(&raw.0).expect("json");
    assert_eq!(patch[0]["path"], "/metadata/labels");
}

#[tokio::test]
async fn validate_denies_with_message_reason_and_metric() {
    let h = default_harness();
    let (status, body) = call(&h.router, post(VALIDATE_PATH, review_body("Secret", "uid-deny"))).await;
    assert_eq!(status, StatusCode::OK);
    let response = &body["response"];
    assert_eq!(response["uid"], "uid-deny");
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["reason"], "Forbidden");
    assert_eq!(response["status"]["code"], 403);
    assert!(
        response["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("prod-us"))
    );
    let text = h.metrics.encode();
    assert!(
        text.contains(r#"kubefed_webhook_admission_denials_total{path="/validate",reason="Forbidden"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"kubefed_webhook_admission_requests_total{path="/validate",result="denied"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_kind_is_answered_by_the_decision_not_an_http_error() {
    let h = default_harness();
    let (status, body) = call(
        &h.router,
        post(VALIDATE_PATH, review_body("Gizmo", "uid-unknown")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["response"]["uid"], "uid-unknown");
    assert_eq!(body["response"]["allowed"], false);
    assert!(
        body["response"]["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"Gizmo\" is not handled"))
    );
}

#[tokio::test]
async fn bad_input_table() {
    struct Case {
        name: &'static str,
        path: &'static str,
        body: String,
        code: u16,
        reason: &'static str,
        fragment: &'static str,
    }
    let v1beta1 = review_body("ConfigMap", "u").replace("admission.k8s.io/v1", "admission.k8s.io/v1beta1");
    let wrong_kind = review_body("ConfigMap", "u").replace("\"AdmissionReview\"", "\"ConfigMap\"");
    let cases = [
        Case {
            name: "malformed json",
            path: VALIDATE_PATH,
            body: "{\"apiVersion\": ".into(),
            code: 400,
            reason: "BadRequest",
            fragment: "not a valid AdmissionReview: EOF while parsing",
        },
        Case {
            name: "empty body",
            path: MUTATE_PATH,
            body: String::new(),
            code: 400,
            reason: "BadRequest",
            fragment: "not a valid AdmissionReview",
        },
        Case {
            name: "v1beta1 review",
            path: VALIDATE_PATH,
            body: v1beta1,
            code: 400,
            reason: "BadRequest",
            fragment: "got apiVersion \"admission.k8s.io/v1beta1\"",
        },
        Case {
            name: "not a review",
            path: MUTATE_PATH,
            body: wrong_kind,
            code: 400,
            reason: "BadRequest",
            fragment: "kind \"ConfigMap\"",
        },
        Case {
            name: "missing request",
            path: VALIDATE_PATH,
            body: r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.into(),
            code: 400,
            reason: "BadRequest",
            fragment: "no \"request\" field",
        },
        Case {
            name: "declared body over the limit",
            path: VALIDATE_PATH,
            body: "x".repeat(64 * 1024 + 1),
            code: 413,
            reason: "RequestEntityTooLarge",
            fragment: "exceeds the limit of 65536 bytes",
        },
    ];
    for case in cases {
        let h = default_harness();
        let (status, body) = call(&h.router, post(case.path, case.body)).await;
        assert_eq!(status.as_u16(), case.code, "{}: {body}", case.name);
        assert_status_body(&body, case.code, case.reason, case.fragment);
    }
}

#[tokio::test]
async fn streamed_body_over_the_limit_is_413() {
    let h = default_harness();
    // No Content-Length: the limit is enforced while reading.
    let chunks = (0..20).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 8 * 1024]));
    let request = post(VALIDATE_PATH, Body::from_stream(futures::stream::iter(chunks)));
    assert!(request.headers().get(header::CONTENT_LENGTH).is_none());
    let (status, body) = call(&h.router, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_status_body(&body, 413, "RequestEntityTooLarge", "--max-body-bytes");
    assert!(h.metrics.encode().contains(r#"result="payload_too_large"} 1"#));
}

fn stalled_body() -> Body {
    let first = futures::stream::iter([Ok::<_, std::io::Error>(b"{\"apiVersion\":".to_vec())]);
    Body::from_stream(first.chain(futures::stream::pending()))
}

#[tokio::test]
async fn slow_body_is_408_and_slow_decision_is_503() {
    let h = harness(Limits {
        max_body_bytes: 64 * 1024,
        request_timeout: Duration::from_millis(100),
    });
    let (status, body) = call(&h.router, post(VALIDATE_PATH, stalled_body())).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_status_body(&body, 408, "Timeout", "not received within 100ms");

    let (status, body) = call(&h.router, post(VALIDATE_PATH, review_body("Slow", "uid-slow"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_status_body(&body, 503, "ServiceUnavailable", "did not finish within 100ms");
    assert!(
        h.metrics
            .encode()
            .contains(r#"kubefed_webhook_admission_requests_total{path="/validate",result="timeout"} 2"#)
    );
}

#[tokio::test]
async fn a_panicking_decision_is_500_and_the_next_request_is_fine() {
    let h = default_harness();
    let (status, body) = call(&h.router, post(VALIDATE_PATH, review_body("Panic", "uid-panic"))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_status_body(&body, 500, "InternalError", "decision bug");
    let (status, body) = call(
        &h.router,
        post(VALIDATE_PATH, review_body("ConfigMap", "uid-after")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["response"]["uid"], "uid-after");
}

#[tokio::test]
async fn a_stalled_request_does_not_delay_others() {
    let h = harness(Limits {
        max_body_bytes: 64 * 1024,
        request_timeout: Duration::from_secs(5),
    });
    let stalled = tokio::spawn(h.router.clone().oneshot(post(VALIDATE_PATH, stalled_body())));
    let started = Instant::now();
    for i in 0..20 {
        let (status, body) = call(
            &h.router,
            post(VALIDATE_PATH, review_body("ConfigMap", &format!("u{i}"))),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["response"]["uid"], format!("u{i}"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(!stalled.is_finished());
    stalled.abort();
}

#[tokio::test]
async fn wrong_method_and_unknown_path() {
    let h = default_harness();
    let get = HttpRequest::get(VALIDATE_PATH)
        .body(Body::empty())
        .expect("request");
    assert_eq!(
        h.router.clone().oneshot(get).await.expect("ok").status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    let (status, _) = call(&h.router, post("/admit", review_body("ConfigMap", "u"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let h = default_harness();
    let get = |path: &str| HttpRequest::get(path).body(Body::empty()).expect("request");
    let (status, _) = call(&h.router, get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = call(&h.router, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        "not ready: no serving certificate loaded yet; caches not synced yet\n"
    );
    h.readiness.set_tls_loaded();
    h.readiness.set_caches_synced(true);
    let (status, _) = call(&h.router, get("/readyz")).await;
    assert_eq!(status, StatusCode::OK);
    h.readiness.set_draining();
    let (status, body) = call(&h.router, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "not ready: shutting down\n");

    call(&h.router, post(MUTATE_PATH, review_body("ConfigMap", "u"))).await;
    let response = h.router.clone().oneshot(get("/metrics")).await.expect("ok");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|c| c.starts_with("application/openmetrics-text"))
    );
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec(),
    )
    .expect("utf8");
    assert!(
        text.contains(r#"kubefed_webhook_admission_requests_total{path="/mutate",result="allowed"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("kubefed_webhook_admission_duration_seconds_count{path=\"/mutate\"} 1"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn a_body_not_declared_json_is_415() {
    let h = default_harness();
    let with_type = |content_type: Option<&str>| {
        let mut builder = HttpRequest::post(VALIDATE_PATH);
        if let Some(t) = content_type {
            builder = builder.header("content-type", t);
        }
        builder
            .body(Body::from(review_body("ConfigMap", "u")))
            .expect("request")
    };
    for (name, content_type) in [
        ("text/plain", Some("text/plain")),
        ("form", Some("application/x-www-form-urlencoded")),
        ("json suffix is not json", Some("application/jsonx")),
        ("missing", None),
    ] {
        let (status, body) = call(&h.router, with_type(content_type)).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}");
        assert_status_body(&body, 415, "UnsupportedMediaType", "application/json");
    }
    for accepted in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
    ] {
        let (status, body) = call(&h.router, with_type(Some(accepted))).await;
        assert_eq!(status, StatusCode::OK, "{accepted}: {body}");
    }
    assert!(
        h.metrics.encode().contains(
            r#"kubefed_webhook_admission_requests_total{path="/validate",result="unsupported_media_type"} 4"#
        ),
        "{}",
        h.metrics.encode()
    );
}

#[tokio::test]
async fn the_probe_router_serves_probes_and_never_admission() {
    let metrics = Arc::new(Metrics::new());
    let readiness = Readiness::default();
    let state = AppState::new(Arc::new(ByKind), metrics, readiness, Limits::default());
    let probes = crate::server::probe_router(state);
    let get = |path: &str| HttpRequest::get(path).body(Body::empty()).expect("request");
    assert_eq!(call(&probes, get("/healthz")).await.0, StatusCode::OK);
    assert_eq!(
        call(&probes, get("/readyz")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(call(&probes, get("/metrics")).await.0, StatusCode::OK);
    for path in [VALIDATE_PATH, MUTATE_PATH] {
        let (status, _) = call(&probes, post(path, review_body("ConfigMap", "u"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}
