//! What `GET /readyz` reports: ready only with a serving certificate loaded, the caller's caches synced,
//! and no shutdown under way.
//!
//! Three owners set three flags: the TLS source (through [`crate::tls::CertResolver`]), whoever owns the
//! informers the decisions read (through [`Readiness::set_caches_synced`]), and the shutdown sequence.
//! Cheap to clone; every clone shares the flags.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
struct Flags {
    tls_loaded: AtomicBool,
    caches_synced: AtomicBool,
    draining: AtomicBool,
}

/// Shared readiness flags.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<Flags>);

impl Readiness {
    /// Marks that a serving certificate is loaded (set by the certificate resolver).
    pub fn set_tls_loaded(&self) {
        self.0.tls_loaded.store(true, Ordering::Release);
    }

    /// Sets whether the caches the decisions read (clusters, namespaces, policies) are synced.
    pub fn set_caches_synced(&self, synced: bool) {
        self.0.caches_synced.store(synced, Ordering::Release);
    }

    /// Marks that shutdown began: the pod should stop receiving new requests.
    pub fn set_draining(&self) {
        self.0.draining.store(true, Ordering::Release);
    }

    /// `Ok(())` when ready, otherwise every reason it is not.
    pub fn check(&self) -> Result<(), Vec<&'static str>> {
        let mut missing = Vec::new();
        if !self.0.tls_loaded.load(Ordering::Acquire) {
            missing.push("no serving certificate loaded yet");
        }
        if !self.0.caches_synced.load(Ordering::Acquire) {
            missing.push("caches not synced yet");
        }
        if self.0.draining.load(Ordering::Acquire) {
            missing.push("shutting down");
        }
        if missing.is_empty() { Ok(()) } else { Err(missing) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_tls_and_caches_and_no_shutdown() {
        let r = Readiness::default();
        assert_eq!(
            r.check(),
            Err(vec!["no serving certificate loaded yet", "caches not synced yet"])
        );
        r.clone().set_tls_loaded();
        assert_eq!(r.check(), Err(vec!["caches not synced yet"]));
        r.set_caches_synced(true);
        assert_eq!(r.check(), Ok(()));
        r.set_draining();
        assert_eq!(r.check(), Err(vec!["shutting down"]));
    }
}
