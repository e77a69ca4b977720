//! Serving TLS: one certificate resolver that can be swapped at any time, fed by one of two sources.
//!
//! - [`CertResolver`] is the rustls `ResolvesServerCert` given to the listener. Installing a new certificate
//!   replaces an `Arc` under a lock held for a pointer copy; handshakes already in progress keep the
//!   certificate they started with and established connections are untouched, so a reload never fails a
//!   handshake and never needs a restart.
//! - [`self_managed`] (default) makes and renews a CA and serving certificate, keeps them in a Secret and
//!   the CA in the webhook configurations' `caBundle`. [`rotation`] holds its pure decisions.
//! - [`client_auth`] optionally requires a client certificate from the API server (`--client-ca`).
//! - [`files`] reads `tls.crt`/`tls.key` from a directory (cert-manager, user-provided) and reloads on change.

pub mod client_auth;
pub mod files;
pub mod rotation;
pub mod self_managed;
pub mod x509;

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::readiness::Readiness;

pub use client_auth::TlsSlot;

/// The crypto provider used for serving: rustls' `ring` provider, chosen explicitly so the server does not
/// depend on which process-wide default was installed.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses a PEM certificate chain and private key into a rustls [`CertifiedKey`], checking that the key
/// belongs to the first certificate.
pub fn certified_key_from_pem(cert_pem: &[u8], key_pem: &[u8], what: &str) -> Result<CertifiedKey> {
    let chain = x509::certs_from_pem(cert_pem, &format!("certificate of {what}"))?;
    let key = x509::key_from_pem(key_pem, &format!("key of {what}"))?;
    Ok(CertifiedKey::from_der(chain, key, &provider())?)
}

/// A swappable server certificate, shared by every connection of the listener.
pub struct CertResolver {
    current: RwLock<Option<Arc<CertifiedKey>>>,
    readiness: Readiness,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertResolver")
            .field("loaded", &self.current().is_some())
            .finish_non_exhaustive()
    }
}

impl CertResolver {
    /// An empty resolver: handshakes are refused until a certificate is installed.
    pub fn new(readiness: Readiness, metrics: Arc<Metrics>) -> Self {
        Self {
            current: RwLock::new(None),
            readiness,
            metrics,
        }
    }

    /// The certificate in use, if any.
    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Installs `key` for every new handshake and marks TLS ready.
    pub fn install(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(key);
        self.readiness.set_tls_loaded();
    }

    /// Parses and installs PEM material unless it is the certificate already in use. Returns whether it
    /// changed. Failures are counted and leave the current certificate in place.
    pub fn load_pem(&self, cert_pem: &[u8], key_pem: &[u8], what: &str) -> Result<bool> {
        let parsed = certified_key_from_pem(cert_pem, key_pem, what).and_then(|key| {
            let leaf = key.end_entity_cert().map_err(Error::Rustls)?;
            let info = x509::CertInfo::from_der(leaf, what)?;
            Ok((key, info))
        });
        let (key, info) = match parsed {
            Ok(ok) => ok,
            Err(err) => {
                self.metrics.observe_tls_reload(None);
                return Err(err);
            }
        };
        let same = self.current().is_some_and(|cur| cur.cert == key.cert);
        if same {
            return Ok(false);
        }
        self.install(Arc::new(key));
        self.metrics.observe_tls_reload(Some(info.not_after));
        let days_left = info
            .not_after
            .duration_since(std::time::SystemTime::now())
            .map_or(0, |d| d.as_secs() / 86_400);
        tracing::info!(source = what, days_left, dns_names = ?info.dns_names, ips = ?info.ips, "serving certificate loaded");
        Ok(true)
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

/// The rustls server configuration: TLS 1.2 and 1.3, no client authentication, ALPN `h2` then `http/1.1`,
/// certificates from `resolver`.
pub fn server_config(resolver: Arc<CertResolver>) -> Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubefed_core::pki::CertificateAuthority;
    use std::time::Duration;

    fn leaf(ca: &CertificateAuthority) -> kubefed_core::pki::CertifiedKey {
        ca.issue_serving(&["svc".into()], &[], Duration::from_secs(600))
            .expect("leaf")
    }

    #[test]
    fn load_pem_installs_once_and_keeps_old_on_garbage() {
        let readiness = Readiness::default();
        let metrics = Arc::new(Metrics::new());
        let resolver = CertResolver::new(readiness.clone(), metrics.clone());
        assert!(resolver.current().is_none());
        let ca = CertificateAuthority::generate("ca", Duration::from_secs(3600)).expect("ca");
        let a = leaf(&ca);
        assert!(
            resolver
                .load_pem(a.cert_pem.as_bytes(), a.key_pem.as_bytes(), "test")
                .expect("load")
        );
        assert!(
            !resolver
                .load_pem(a.cert_pem.as_bytes(), a.key_pem.as_bytes(), "test")
                .expect("same")
        );
        let installed = resolver.current().expect("installed");

        let b = leaf(&ca);
        // Certificate of b with key of a: refused, a stays.
        let err = resolver
            .load_pem(b.cert_pem.as_bytes(), a.key_pem.as_bytes(), "test")
            .expect_err("mismatch");
        assert!(matches!(err, Error::Rustls(_)), "{err}");
        assert!(resolver.load_pem(b"junk", b"junk", "test").is_err());
        assert_eq!(resolver.current().expect("still a").cert, installed.cert);

        assert!(
            resolver
                .load_pem(b.cert_pem.as_bytes(), b.key_pem.as_bytes(), "test")
                .expect("b")
        );
        assert_ne!(resolver.current().expect("b").cert, installed.cert);
        let text = metrics.encode();
        assert!(
            text.contains(r#"kubefed_webhook_tls_reloads_total{result="success"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"kubefed_webhook_tls_reloads_total{result="failure"} 2"#),
            "{text}"
        );
        readiness.set_caches_synced(true);
        assert_eq!(readiness.check(), Ok(()));
    }
}
