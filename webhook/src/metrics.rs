//! Prometheus metrics served on `GET /metrics` (OpenMetrics text).
//!
//! Label values are bounded: `path` and `result` come from fixed sets, and a denial's `reason` is the
//! machine-readable `status.reason` of the response (the decisions use a small set of CamelCase reasons);
//! anything that does not look like one is counted as `Other` so a bug cannot explode cardinality.
//!
//! | metric | labels |
//! | --- | --- |
//! | `kubefed_webhook_admission_requests_total` | `path` (`/mutate`, `/validate`), `result` |
//! | `kubefed_webhook_admission_duration_seconds` | `path` (histogram, 100 µs … 3.3 s) |
//! | `kubefed_webhook_admission_denials_total` | `path`, `reason` |
//! | `kubefed_webhook_tls_reloads_total` | `result` (`success`, `failure`) |
//! | `kubefed_webhook_tls_cert_expiry_timestamp_seconds` | — (serving certificate's notAfter) |
//! | `kubefed_webhook_client_ca_reloads_total` | `result` (`success`, `failure`) |
//! | `kubefed_webhook_connections_open` | `listener` (`webhook`, `probe`) |
//! | `kubefed_webhook_connections_accepted_total` | `listener` |
//! | `kubefed_webhook_connections_rejected_total` | `listener`, `reason` (`limit`: over `--max-connections`) |
//! | `kubefed_webhook_connections_closed_total` | `listener`, `reason` (`idle_timeout`, `header_timeout`) |
//! | `kubefed_webhook_tls_handshake_failures_total` | `listener`, `reason` ([`HandshakeFailure`]) |

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How one admission request ended, as the `result` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with `allowed: true`.
    Allowed,
    /// Answered with `allowed: false`.
    Denied,
    /// 400: malformed, wrong version, no request.
    BadRequest,
    /// 413: over `--max-body-bytes`.
    PayloadTooLarge,
    /// 408 or 503: body or decision too slow.
    Timeout,
    /// 500: the decision panicked or the response could not be encoded.
    InternalError,
    /// 415: the body is not declared `application/json`.
    UnsupportedMediaType,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::BadRequest => "bad_request",
            Outcome::PayloadTooLarge => "payload_too_large",
            Outcome::Timeout => "timeout",
            Outcome::InternalError => "internal_error",
            Outcome::UnsupportedMediaType => "unsupported_media_type",
        }
    }
}

/// Why a TLS handshake failed, as the `reason` label of `tls_handshake_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// Not finished within `--handshake-timeout`.
    Timeout,
    /// `--client-ca` is set and the client presented no certificate.
    NoClientCertificate,
    /// The client certificate is not signed by `--client-ca`, expired, or not for client authentication.
    BadClientCertificate,
    /// The client certificate is valid but its names are not in `--client-allowed-names`.
    ClientNameNotAllowed,
    /// The client closed or reset the connection during the handshake (port scanners, TCP probes).
    Closed,
    /// Anything else: not TLS, no common protocol version or cipher suite, a rejected server certificate.
    Protocol,
}

impl HandshakeFailure {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::NoClientCertificate => "no_client_certificate",
            HandshakeFailure::BadClientCertificate => "bad_client_certificate",
            HandshakeFailure::ClientNameNotAllowed => "client_name_not_allowed",
            HandshakeFailure::Closed => "closed",
            HandshakeFailure::Protocol => "protocol",
        }
    }
}

/// Why the server closed or refused a connection, as the `reason` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionDrop {
    /// Refused at accept: `--max-connections` connections are already open.
    Limit,
    /// No request in flight and none started for `--idle-timeout`.
    IdleTimeout,
    /// An HTTP/1 request head not received within `--header-timeout`.
    HeaderTimeout,
}

impl ConnectionDrop {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionDrop::Limit => "limit",
            ConnectionDrop::IdleTimeout => "idle_timeout",
            ConnectionDrop::HeaderTimeout => "header_timeout",
        }
    }
}

type ListenerLabels = [(&'static str, &'static str); 1];
type ListenerReasonLabels = [(&'static str, &'static str); 2];
type RequestLabels = [(&'static str, &'static str); 2];
type DenialLabels = [(&'static str, Cow<'static, str>); 2];

/// The webhook's metrics and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<[(&'static str, &'static str); 1], Histogram>,
    denials: Family<DenialLabels, Counter>,
    tls_reloads: Family<[(&'static str, &'static str); 1], Counter>,
    cert_expiry: Gauge,
    client_ca_reloads: Family<[(&'static str, &'static str); 1], Counter>,
    connections_open: Family<ListenerLabels, Gauge>,
    connections_accepted: Family<ListenerLabels, Counter>,
    connections_rejected: Family<ListenerReasonLabels, Counter>,
    connections_closed: Family<ListenerReasonLabels, Counter>,
    handshake_failures: Family<ListenerReasonLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric under the `kubefed_webhook` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kubefed_webhook");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "admission_requests",
            "AdmissionReview requests by path and result",
            requests.clone(),
        );
        let duration = Family::<[(&'static str, &'static str); 1], Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        registry.register(
            "admission_duration_seconds",
            "Time from request head to response, body read and decision included",
            duration.clone(),
        );
        let denials = Family::<DenialLabels, Counter>::default();
        registry.register(
            "admission_denials",
            "Denied admission requests by status reason",
            denials.clone(),
        );
        let tls_reloads = Family::<[(&'static str, &'static str); 1], Counter>::default();
        registry.register(
            "tls_reloads",
            "Serving certificate (re)loads by result",
            tls_reloads.clone(),
        );
        let cert_expiry = Gauge::default();
        registry.register(
            "tls_cert_expiry_timestamp_seconds",
            "notAfter of the serving certificate in use, as a Unix timestamp",
            cert_expiry.clone(),
        );
        let client_ca_reloads = Family::<[(&'static str, &'static str); 1], Counter>::default();
        registry.register(
            "client_ca_reloads",
            "Client CA bundle (--client-ca) (re)loads by result",
            client_ca_reloads.clone(),
        );
        let connections_open = Family::<ListenerLabels, Gauge>::default();
        registry.register(
            "connections_open",
            "Connections currently open, by listener",
            connections_open.clone(),
        );
        let connections_accepted = Family::<ListenerLabels, Counter>::default();
        registry.register(
            "connections_accepted",
            "Connections accepted, by listener",
            connections_accepted.clone(),
        );
        let connections_rejected = Family::<ListenerReasonLabels, Counter>::default();
        registry.register(
            "connections_rejected",
            "Connections closed at accept, by listener and reason",
            connections_rejected.clone(),
        );
        let connections_closed = Family::<ListenerReasonLabels, Counter>::default();
        registry.register(
            "connections_closed",
            "Connections the server closed for a timeout, by listener and reason",
            connections_closed.clone(),
        );
        let handshake_failures = Family::<ListenerReasonLabels, Counter>::default();
        registry.register(
            "tls_handshake_failures",
            "Failed TLS handshakes, by listener and reason",
            handshake_failures.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            denials,
            tls_reloads,
            cert_expiry,
            client_ca_reloads,
            connections_open,
            connections_accepted,
            connections_rejected,
            connections_closed,
            handshake_failures,
        }
    }

    /// Records one admission request on `path` that ended with `outcome` after `elapsed`.
    pub fn observe_request(&self, path: &'static str, outcome: Outcome, elapsed: Duration) {
        self.requests
            .get_or_create(&[("path", path), ("result", outcome.as_str())])
            .inc();
        self.duration
            .get_or_create(&[("path", path)])
            .observe(elapsed.as_secs_f64());
    }

    /// Records a denial on `path` with the response's `status.reason`.
    pub fn observe_denial(&self, path: &'static str, reason: &str) {
        self.denials
            .get_or_create(&[("path", Cow::Borrowed(path)), ("reason", reason_label(reason))])
            .inc();
    }

    /// Records a serving-certificate load: `Some(notAfter)` on success, `None` on failure.
    pub fn observe_tls_reload(&self, not_after: Option<SystemTime>) {
        let result = if not_after.is_some() { "success" } else { "failure" };
        self.tls_reloads.get_or_create(&[("result", result)]).inc();
        if let Some(at) = not_after {
            let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            self.cert_expiry.set(i64::try_from(secs).unwrap_or(i64::MAX));
        }
    }

    /// Records a load of the client CA bundle: `ok` or not.
    pub fn observe_client_ca_reload(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.client_ca_reloads.get_or_create(&[("result", result)]).inc();
    }

    /// Records an accepted connection on `listener`; the open gauge goes down when the returned guard drops.
    pub fn connection_opened(self: &std::sync::Arc<Self>, listener: &'static str) -> OpenConnection {
        self.connections_accepted
            .get_or_create(&[("listener", listener)])
            .inc();
        self.connections_open
            .get_or_create(&[("listener", listener)])
            .inc();
        OpenConnection {
            metrics: self.clone(),
            listener,
        }
    }

    /// Records a connection refused at accept.
    pub fn observe_rejected(&self, listener: &'static str, why: ConnectionDrop) {
        self.connections_rejected
            .get_or_create(&[("listener", listener), ("reason", why.as_str())])
            .inc();
    }

    /// Records a connection the server closed for a timeout.
    pub fn observe_closed(&self, listener: &'static str, why: ConnectionDrop) {
        self.connections_closed
            .get_or_create(&[("listener", listener), ("reason", why.as_str())])
            .inc();
    }

    /// Records a failed TLS handshake.
    pub fn observe_handshake_failure(&self, listener: &'static str, why: HandshakeFailure) {
        self.handshake_failures
            .get_or_create(&[("listener", listener), ("reason", why.as_str())])
            .inc();
    }

    /// Encodes every metric as OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Counts one open connection in `connections_open` while alive.
#[derive(Debug)]
pub struct OpenConnection {
    metrics: std::sync::Arc<Metrics>,
    listener: &'static str,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.metrics
            .connections_open
            .get_or_create(&[("listener", self.listener)])
            .dec();
    }
}

/// A bounded label value for a denial reason: `Unspecified` when empty, `Other` when it does not look like
/// a CamelCase machine reason of reasonable length.
fn reason_label(reason: &str) -> Cow<'static, str> {
    if reason.is_empty() {
        return Cow::Borrowed("Unspecified");
    }
    let looks_like_reason = reason.len() <= 64
        && reason.starts_with(|c: char| c.is_ascii_uppercase())
        && reason.chars().all(|c| c.is_ascii_alphanumeric());
    if looks_like_reason {
        Cow::Owned(reason.to_owned())
    } else {
        Cow::Borrowed("Other")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_labels_are_bounded() {
        assert_eq!(reason_label(""), "Unspecified");
        assert_eq!(reason_label("Forbidden"), "Forbidden");
        assert_eq!(reason_label("ClusterNotAllowed"), "ClusterNotAllowed");
        assert_eq!(reason_label("cluster eu-1 is not allowed"), "Other");
        assert_eq!(reason_label(&"A".repeat(65)), "Other");
    }

    #[test]
    fn encodes_counters_histogram_and_gauge() {
        let m = Metrics::new();
        m.observe_request("/validate", Outcome::Denied, Duration::from_micros(250));
        m.observe_denial("/validate", "Forbidden");
        m.observe_tls_reload(Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000)));
        m.observe_tls_reload(None);
        let text = m.encode();
        for want in [
            r#"kubefed_webhook_admission_requests_total{path="/validate",result="denied"} 1"#,
            r#"kubefed_webhook_admission_duration_seconds_bucket{le="0.0004",path="/validate"} 1"#,
            r#"kubefed_webhook_admission_denials_total{path="/validate",reason="Forbidden"} 1"#,
            r#"kubefed_webhook_tls_reloads_total{result="success"} 1"#,
            r#"kubefed_webhook_tls_reloads_total{result="failure"} 1"#,
            "kubefed_webhook_tls_cert_expiry_timestamp_seconds 1900000000",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }
}
