//! Client-certificate authentication of the API server (`--client-ca`, `--client-allowed-names`).
//!
//! Without it anyone who can reach the webhook port can POST an AdmissionReview with any `userInfo` and
//! learn (or, for Audit, record) what the webhook would decide for that user. With it, the TLS handshake
//! itself refuses every client that does not present a certificate signed by the CA in `--client-ca` —
//! the API server presents one from its admission kubeconfig (docs/security.md) — and, when
//! `--client-allowed-names` is set, whose Common Name or DNS SANs are not in that list.
//!
//! The check is in the handshake (rustls' `WebPkiClientVerifier` wrapped by [`NameCheckingVerifier`]), so
//! a forged review never reaches HTTP. `/healthz`, `/readyz` and `/metrics` then live on the plain-HTTP
//! probe listener (`--probe-listen`), where no admission path is served.
//!
//! The CA file is polled like the serving certificate's files; a change builds a new rustls
//! `ServerConfig` and swaps it into the [`TlsSlot`] the listener reads per connection. A file that does not
//! parse leaves the previous configuration in place (fail closed: never fall back to no client auth).

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig};

use super::{CertResolver, provider, x509};
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// The rustls server configuration in use, swappable while serving: each new connection reads the current
/// one; established connections keep theirs.
#[derive(Debug)]
pub struct TlsSlot(RwLock<Arc<ServerConfig>>);

impl TlsSlot {
    /// A slot holding `config`.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self(RwLock::new(config))
    }

    /// The configuration for the next handshake.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces the configuration for new handshakes.
    pub fn set(&self, config: Arc<ServerConfig>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = config;
    }
}

impl From<Arc<ServerConfig>> for TlsSlot {
    fn from(config: Arc<ServerConfig>) -> Self {
        Self::new(config)
    }
}

/// A client-certificate verifier: the chain must lead to a CA of the bundle (`WebPkiClientVerifier`), and
/// the leaf's Common Name or one of its DNS SANs must be in `allowed` (when not empty).
#[derive(Debug)]
pub struct NameCheckingVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

impl NameCheckingVerifier {
    /// A verifier trusting the CAs in `ca_pem`, accepting only `allowed` names (any name when empty).
    pub fn from_pem(ca_pem: &[u8], allowed: &[String], what: &str) -> Result<Self> {
        let certs = x509::certs_from_pem(ca_pem, what)?;
        let mut roots = RootCertStore::empty();
        for cert in certs {
            roots.add(cert).map_err(|e| Error::Certificate {
                what: what.to_owned(),
                reason: e.to_string(),
            })?;
        }
        let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| Error::Certificate {
                what: what.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            inner,
            allowed: allowed.to_vec(),
        })
    }
}

/// The Common Name and DNS SANs of a certificate (empty when it does not parse; webpki parsed it already).
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut names: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                names.push((*dns).to_owned());
            }
        }
    }
    names
}

impl ClientCertVerifier for NameCheckingVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        if self.allowed.is_empty() {
            return Ok(verified);
        }
        let names = certificate_names(end_entity);
        if names.iter().any(|n| self.allowed.contains(n)) {
            Ok(verified)
        } else {
            tracing::debug!(?names, allowed = ?self.allowed, "client certificate name not allowed");
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The server configuration requiring a client certificate accepted by `verifier`.
pub fn server_config_with_client_auth(
    resolver: Arc<CertResolver>,
    verifier: Arc<dyn ClientCertVerifier>,
) -> Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Polls the `--client-ca` file and swaps a new server configuration into the slot when it changes.
#[derive(Debug)]
pub struct ClientCaSource {
    path: PathBuf,
    allowed: Vec<String>,
    resolver: Arc<CertResolver>,
    slot: Arc<TlsSlot>,
    metrics: Arc<Metrics>,
    last: Option<Vec<u8>>,
}

impl ClientCaSource {
    /// Loads `path` once (an error here stops the start: a webhook told to authenticate clients must not
    /// serve without it) and returns the source with its slot.
    pub fn load(
        path: impl Into<PathBuf>,
        allowed: Vec<String>,
        resolver: Arc<CertResolver>,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let path = path.into();
        let pem = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let config = build(&pem, &allowed, &resolver, &path)?;
        metrics.observe_client_ca_reload(true);
        Ok(Self {
            path,
            allowed,
            resolver,
            slot: Arc::new(TlsSlot::new(config)),
            metrics,
            last: Some(pem),
        })
    }

    /// The slot the listener reads.
    pub fn slot(&self) -> Arc<TlsSlot> {
        self.slot.clone()
    }

    /// Reads the file; rebuilds the configuration when it changed. Returns whether it was swapped.
    pub async fn poll(&mut self) -> Result<bool> {
        let pem = tokio::fs::read(&self.path).await.map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })?;
        if self.last.as_ref() == Some(&pem) {
            return Ok(false);
        }
        let built = build(&pem, &self.allowed, &self.resolver, &self.path);
        // Remember even a bad file, so it is reported once per change.
        self.last = Some(pem);
        self.metrics.observe_client_ca_reload(built.is_ok());
        self.slot.set(built?);
        tracing::info!(file = %self.path.display(), "client CA bundle reloaded");
        Ok(true)
    }

    /// Polls every `interval` until `shutdown` resolves.
    pub async fn run(mut self, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(interval) => {}
            }
            if let Err(err) = self.poll().await {
                tracing::warn!(error = %err, file = %self.path.display(), "cannot load the client CA bundle; keeping the previous one");
            }
        }
    }
}

fn build(
    pem: &[u8],
    allowed: &[String],
    resolver: &Arc<CertResolver>,
    path: &std::path::Path,
) -> Result<Arc<ServerConfig>> {
    let what = format!("client CA bundle {}", path.display());
    let verifier = NameCheckingVerifier::from_pem(pem, allowed, &what)?;
    server_config_with_client_auth(resolver.clone(), Arc::new(verifier))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubefed_core::pki::CertificateAuthority;

    const HOUR: Duration = Duration::from_secs(3600);

    fn der(pem: &str) -> CertificateDer<'static> {
        x509::certs_from_pem(pem.as_bytes(), "test").expect("pem")[0].clone()
    }

    #[test]
    fn names_and_allow_list() {
        let ca = CertificateAuthority::generate("clients", HOUR).expect("ca");
        let other = CertificateAuthority::generate("others", HOUR).expect("ca");
        let apiserver = ca.issue_client("kube-apiserver", &[], HOUR).expect("leaf");
        let mallory = ca.issue_client("mallory", &[], HOUR).expect("leaf");
        let stranger = other.issue_client("kube-apiserver", &[], HOUR).expect("leaf");
        assert_eq!(certificate_names(&der(&apiserver.cert_pem)), ["kube-apiserver"]);

        let now = UnixTime::now();
        let open = NameCheckingVerifier::from_pem(ca.cert_pem.as_bytes(), &[], "ca").expect("verifier");
        assert!(open.verify_client_cert(&der(&mallory.cert_pem), &[], now).is_ok());
        assert!(matches!(
            open.verify_client_cert(&der(&stranger.cert_pem), &[], now),
            Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
        ));

        let limited =
            NameCheckingVerifier::from_pem(ca.cert_pem.as_bytes(), &["kube-apiserver".into()], "ca")
                .expect("verifier");
        assert!(
            limited
                .verify_client_cert(&der(&apiserver.cert_pem), &[], now)
                .is_ok()
        );
        assert!(matches!(
            limited.verify_client_cert(&der(&mallory.cert_pem), &[], now),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure
            ))
        ));
        assert!(NameCheckingVerifier::from_pem(b"junk", &[], "ca").is_err());
    }
}
