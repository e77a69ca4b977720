//! The HTTP surface: routes, the admission handler, and the precise answers to bad input.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /mutate`, `POST /validate` | 200 with an `admission.k8s.io/v1` `AdmissionReview`; 415 `Content-Type` not `application/json`; 400 malformed, wrong version or kind, no `request`; 413 body over `--max-body-bytes`; 408 body not received in time; 503 decision not done in time; 500 decision panicked |
//! | `GET /healthz` | 200 while the process serves |
//! | `GET /readyz` | 200 when TLS is loaded, caches are synced and no shutdown is under way; 503 naming what is missing |
//! | `GET /metrics` | OpenMetrics text |
//!
//! Errors are answered with a `metav1.Status` JSON body: the API server's webhook client decodes it and
//! shows its message in the error the user sees. The body is read by the handler itself (not an extractor)
//! so the limit is enforced while streaming (an oversized body is drained, up to a bound, before the 413
//! so that the client reads the answer instead of a reset), and the timeout covers reading and deciding
//! with one deadline. The decision runs inside `catch_unwind`, so a
//! panicking decision costs one 500, not the connection or the process.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::FutureExt;
use http::{HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use serde_json::json;

use crate::admission::{self, Admit};
use crate::error::Error;
use crate::metrics::{Metrics, Outcome};
use crate::readiness::Readiness;

/// Path of the mutating webhook.
pub const MUTATE_PATH: &str = "/mutate";
/// Path of the validating webhook.
pub const VALIDATE_PATH: &str = "/validate";

/// Limits applied to every admission request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted (413 above).
    pub max_body_bytes: usize,
    /// Deadline for receiving the body and deciding.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 6 << 20,
            request_timeout: Duration::from_secs(9),
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    admit: Arc<dyn Admit>,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    limits: Limits,
}

impl AppState {
    /// State for [`router`].
    pub fn new(admit: Arc<dyn Admit>, metrics: Arc<Metrics>, readiness: Readiness, limits: Limits) -> Self {
        Self {
            admit,
            metrics,
            readiness,
            limits,
        }
    }
}

/// The webhook's routes: admission and probes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(MUTATE_PATH, post(mutate))
        .route(VALIDATE_PATH, post(validate))
        .merge(probe_routes())
        .with_state(state)
}

/// The routes of the plain-HTTP probe listener (`--probe-listen`): `/healthz`, `/readyz`, `/metrics`, and
/// never an admission path, so that nothing reachable without a client certificate decides anything.
pub fn probe_router(state: AppState) -> Router {
    probe_routes().with_state(state)
}

fn probe_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

#[derive(Clone, Copy)]
enum Kind {
    Mutate,
    Validate,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Mutate => MUTATE_PATH,
            Kind::Validate => VALIDATE_PATH,
        }
    }
}

async fn mutate(State(state): State<AppState>, request: Request) -> Response {
    admit(Kind::Mutate, state, request).await
}

async fn validate(State(state): State<AppState>, request: Request) -> Response {
    admit(Kind::Validate, state, request).await
}

async fn admit(kind: Kind, state: AppState, request: Request) -> Response {
    let started = Instant::now();
    if !is_json(request.headers()) {
        state
            .metrics
            .observe_request(kind.path(), Outcome::UnsupportedMediaType, started.elapsed());
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json (an admission.k8s.io/v1 AdmissionReview)",
        );
    }
    let deadline = tokio::time::Instant::now() + state.limits.request_timeout;
    let result = review(kind, &state, request, deadline).await;
    let (outcome, response) = match result {
        Ok(ok) => ok,
        Err(err) => {
            let status = err.http_status();
            let outcome = match status {
                StatusCode::PAYLOAD_TOO_LARGE => Outcome::PayloadTooLarge,
                StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => Outcome::Timeout,
                s if s.is_client_error() => Outcome::BadRequest,
                _ => Outcome::InternalError,
            };
            if outcome == Outcome::InternalError {
                tracing::error!(path = kind.path(), error = %err, "admission request failed");
            } else {
                tracing::debug!(path = kind.path(), error = %err, "admission request rejected");
            }
            (outcome, error_response(status, &err.to_string()))
        }
    };
    state
        .metrics
        .observe_request(kind.path(), outcome, started.elapsed());
    response
}

/// Whether the request declares a JSON body (`application/json`, parameters such as `charset` allowed),
/// as the API server always does.
fn is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Reads, decodes, decides and encodes one review.
async fn review(
    kind: Kind,
    state: &AppState,
    request: Request,
    deadline: tokio::time::Instant,
) -> Result<(Outcome, Response), Error> {
    let limits = state.limits;
    let bytes = read_body(request.into_body(), limits, deadline).await?;
    let request = admission::decode_review(&bytes)?;
    let decision = match kind {
        Kind::Mutate => state.admit.mutate(&request),
        Kind::Validate => state.admit.validate(&request),
    };
    let response = match tokio::time::timeout_at(deadline, AssertUnwindSafe(decision).catch_unwind()).await {
        Err(_) => return Err(Error::DecisionTimeout(limits.request_timeout)),
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            return Err(Error::DecisionPanicked(what));
        }
        Ok(Ok(response)) => response,
    };

    let outcome = if response.allowed {
        Outcome::Allowed
    } else {
        Outcome::Denied
    };
    if !response.allowed {
        state.metrics.observe_denial(kind.path(), &response.result.reason);
        tracing::info!(
            path = kind.path(), uid = %request.uid, kind = %request.kind.kind,
            namespace = request.namespace.as_deref().unwrap_or(""), name = %request.name,
            user = request.user_info.username.as_deref().unwrap_or(""),
            reason = %response.result.reason, message = %response.result.message, "denied"
        );
    }
    let body = admission::encode_review(&request.uid, response)?;
    Ok((outcome, json_response(StatusCode::OK, body)))
}

/// How much of an oversized body is read and thrown away before answering 413, as a multiple of the limit.
/// Answering while the client is still sending makes HTTP/1 close the connection and HTTP/2 reset the
/// stream, and some clients then never see the 413; past this much, they will not see it anyway.
const DRAIN_FACTOR: usize = 4;

/// Reads the body within the limit and the deadline (see [`Error::BodyTooLarge`], [`Error::BodyTimeout`]).
async fn read_body(mut body: Body, limits: Limits, deadline: tokio::time::Instant) -> Result<Vec<u8>, Error> {
    let limit = limits.max_body_bytes;
    let too_large = || Error::BodyTooLarge { limit };
    let drain_cap = limit.saturating_mul(DRAIN_FACTOR);
    let declared = body.size_hint().exact().and_then(|n| usize::try_from(n).ok());
    if declared.is_some_and(|n| n > drain_cap) {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut total = 0usize;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) if total > limit => return Err(too_large()),
            Err(_) => return Err(Error::BodyTimeout(limits.request_timeout)),
            Ok(None) => break,
            Ok(Some(Err(err))) => return Err(Error::BodyRead(err.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        total = total.saturating_add(data.len());
        if total <= limit {
            buf.extend_from_slice(&data);
        } else if total > drain_cap {
            return Err(too_large());
        }
    }
    if total > limit { Err(too_large()) } else { Ok(buf) }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A `metav1.Status` failure body with `status`'s code and reason.
fn error_response(status: StatusCode, message: &str) -> Response {
    let reason = match status {
        StatusCode::BAD_REQUEST => "BadRequest",
        StatusCode::PAYLOAD_TOO_LARGE => "RequestEntityTooLarge",
        StatusCode::REQUEST_TIMEOUT => "Timeout",
        StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaType",
        _ => "InternalError",
    };
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": status.as_u16(),
    });
    json_response(status, body.to_string().into_bytes())
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.readiness.check() {
        Ok(()) => "ok\n".into_response(),
        Err(missing) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", missing.join("; ")),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.encode().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests;
