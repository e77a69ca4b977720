//! The vocabulary every decision speaks: why a request is refused ([`Reason`]) and the errors and warnings of
//! a validation ([`Findings`]). It has its own home so that [`crate::policy`] and [`crate::admission`], which
//! both produce findings, depend on it and not on each other.

use std::fmt;

/// Why a request is denied, as the response's `status.reason` (and the webhook's denial metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The object is malformed or inconsistent (HTTP 422).
    Invalid,
    /// A cluster outside a policy's `allowedClusters`.
    ClusterNotAllowed,
    /// A cluster in a policy's `deniedClusters`.
    ClusterDenied,
    /// Fewer clusters than a policy's `minClusters`.
    TooFewClusters,
    /// More clusters than a policy's `maxClusters`.
    TooManyClusters,
    /// A policy's `spread` is not met.
    SpreadNotMet,
    /// The object's namespace has no FederatedNamespace.
    NamespaceNotFederated,
    /// The object's namespace is not federated to every cluster the object targets.
    NamespaceNotCovered,
    /// A selecting policy is malformed and cannot be evaluated.
    PolicyInvalid,
    /// The user may not `propagate` to a cluster the object targets.
    PropagateForbidden,
    /// The permission check itself failed (the webhook could not ask the API server).
    PropagateCheckFailed,
    /// A selecting policy's `forbiddenKinds` names the target kind.
    KindForbidden,
    /// The user may not do on the host what the object would do on members (native equivalence, RBAC
    /// escalation).
    AccessForbidden,
    /// The AdmissionReview itself is malformed (no object, no uid, no user): not from an API server.
    MalformedReview,
}

impl Reason {
    /// The CamelCase wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Invalid => "Invalid",
            Reason::ClusterNotAllowed => "ClusterNotAllowed",
            Reason::ClusterDenied => "ClusterDenied",
            Reason::TooFewClusters => "TooFewClusters",
            Reason::TooManyClusters => "TooManyClusters",
            Reason::SpreadNotMet => "SpreadNotMet",
            Reason::NamespaceNotFederated => "NamespaceNotFederated",
            Reason::NamespaceNotCovered => "NamespaceNotCovered",
            Reason::PolicyInvalid => "PolicyInvalid",
            Reason::PropagateForbidden => "PropagateForbidden",
            Reason::PropagateCheckFailed => "PropagateCheckFailed",
            Reason::KindForbidden => "KindForbidden",
            Reason::AccessForbidden => "AccessForbidden",
            Reason::MalformedReview => "MalformedReview",
        }
    }

    /// The HTTP status code the API server answers the client with: 422 for an invalid object, 500 when the
    /// permission check failed, 400 for a malformed review, 403 for everything a policy or RBAC refuses.
    pub fn code(self) -> u16 {
        match self {
            Reason::Invalid => 422,
            Reason::PropagateCheckFailed => 500,
            Reason::MalformedReview => 400,
            _ => 403,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors and warnings of a validation that knows no other reason than "invalid".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// What makes the object invalid, each naming the field and the fix.
    pub errors: Vec<String>,
    /// What is valid but probably unintended.
    pub warnings: Vec<String>,
}

impl Findings {
    /// Adds an error.
    pub fn error(&mut self, message: String) {
        self.errors.push(message);
    }

    /// Adds a warning.
    pub fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }
}
