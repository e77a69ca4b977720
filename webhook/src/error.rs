//! The crate's one error type.
//!
//! Two families share it: operational errors (binding, TLS material, Kubernetes calls) that the binary
//! reports and retries, and request errors (a malformed review, a body over the limit, a slow client) that
//! the HTTP layer turns into a precise status code with a `metav1.Status` body. [`Error::http_status`] is
//! the single place that maps one to the other.

use std::path::PathBuf;
use std::time::Duration;

use http::StatusCode;

/// Errors from the webhook server, its TLS sources and its handling of one request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line value is out of range or inconsistent with another.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source} (is the port in use, or below 1024 without privilege?)")]
    Bind {
        /// The address from `--listen`.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A file of TLS material could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// PEM text that should hold a certificate or a key does not.
    #[error("{what} is not usable PEM: {reason}")]
    Pem {
        /// Which material (e.g. `tls.crt in Secret kubefed-system/kubefed-webhook-tls`).
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An X.509 certificate could not be parsed.
    #[error("{what} is not a valid X.509 certificate: {reason}")]
    Certificate {
        /// Which certificate.
        what: String,
        /// The parser's complaint.
        reason: String,
    },

    /// rustls refused the configuration or a key.
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),

    /// Making a CA or a certificate failed.
    #[error("cannot make certificates: {0}")]
    Pki(#[from] kubefed_core::pki::PkiError),

    /// No Kubernetes client configuration could be found or loaded.
    #[error("cannot configure the Kubernetes client (set --kubeconfig, KUBECONFIG, or run in a pod): {0}")]
    KubeConfig(String),

    /// A call to the API server failed.
    #[error("Kubernetes API call failed while {action}: {source}")]
    Kube {
        /// What we were doing, e.g. `reading Secret kubefed-system/kubefed-webhook-tls`.
        action: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },

    /// Someone else wrote the TLS Secret between our read and our write; the caller re-reads and retries.
    #[error("Secret {0} was changed concurrently (another replica?)")]
    Conflict(String),

    /// The body is not an `AdmissionReview` JSON document.
    #[error("request body is not a valid AdmissionReview: {0}")]
    MalformedReview(String),

    /// The body is JSON but not an `admission.k8s.io/v1` `AdmissionReview`.
    #[error(
        "expected apiVersion \"admission.k8s.io/v1\" and kind \"AdmissionReview\", got apiVersion {api_version:?} \
         and kind {kind:?} (list v1 in the webhook configuration's admissionReviewVersions)"
    )]
    WrongReviewType {
        /// The `apiVersion` received (empty when missing).
        api_version: String,
        /// The `kind` received (empty when missing).
        kind: String,
    },

    /// The review has no `request` to decide on.
    #[error("AdmissionReview has no \"request\" field")]
    MissingRequest,

    /// The body is larger than `--max-body-bytes`.
    #[error("request body exceeds the limit of {limit} bytes (--max-body-bytes)")]
    BodyTooLarge {
        /// The configured limit.
        limit: usize,
    },

    /// The client did not send the whole body within the request timeout.
    #[error("request body was not received within {0:?} (--request-timeout)")]
    BodyTimeout(Duration),

    /// The body stream failed (connection reset, protocol error).
    #[error("cannot read request body: {0}")]
    BodyRead(String),

    /// The decision did not finish within the request timeout.
    #[error("admission decision did not finish within {0:?} (--request-timeout)")]
    DecisionTimeout(Duration),

    /// The decision panicked; the request is answered with 500 and other requests are unaffected.
    #[error("admission decision failed unexpectedly: {0}")]
    DecisionPanicked(String),

    /// Encoding the response failed (should not happen for well-formed responses).
    #[error("cannot encode the AdmissionReview response: {0}")]
    Encode(#[source] serde_json::Error),
}

impl Error {
    /// The HTTP status this error is answered with when it ends a request.
    pub fn http_status(&self) -> StatusCode {
        match self {
            Error::MalformedReview(_) | Error::WrongReviewType { .. } | Error::MissingRequest => {
                StatusCode::BAD_REQUEST
            }
            Error::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Error::BodyRead(_) => StatusCode::BAD_REQUEST,
            Error::DecisionTimeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Wraps a kube client error with what we were doing.
    pub(crate) fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            action: action.into(),
            source: Box::new(source),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
