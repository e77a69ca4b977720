//! TLS for members whose KubeFedCluster disables *some* certificate checks: `disabledTLSValidations:
//! [SubjectName]` and/or `[ValidityPeriod]` (`*` needs nothing of this: kube's `accept_invalid_certs`).
//!
//! kube's client can only verify fully or not at all, so these clusters get a client of their own: the
//! same layers kube uses (base URI, bearer token, our rate limit) over a rustls connector whose verifier
//! is [`RelaxedVerifier`]. It runs webpki's full verification against the cluster's `caBundle` and
//! forgives exactly the disabled check:
//!
//! - **SubjectName**: webpki checks the chain and validity before the name, so a `NotValidForName` error
//!   means everything else passed; it is accepted.
//! - **ValidityPeriod**: an expired or not-yet-valid certificate is verified again as of a moment inside
//!   its validity period, so the chain and (unless also disabled) the name are still checked.
//!
//! A `caBundle` is required for these modes: without one there is nothing to verify the chain against.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tower::ServiceBuilder;
use tower::limit::RateLimitLayer;

use super::client::Malformed;

/// Full webpki verification that forgives a wrong subject name and/or validity period.
#[derive(Debug)]
pub struct RelaxedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    skip_name: bool,
    skip_validity: bool,
}

impl RelaxedVerifier {
    /// A verifier trusting the DER certificates `roots`.
    pub fn new(roots: &[Vec<u8>], skip_name: bool, skip_validity: bool) -> Result<Self, Malformed> {
        let mut store = RootCertStore::empty();
        for der in roots {
            store
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| Malformed(format!("spec.caBundle holds a certificate rustls rejects: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
            .build()
            .map_err(|e| {
                Malformed(format!(
                    "spec.caBundle cannot be used to verify certificates: {e}"
                ))
            })?;
        Ok(RelaxedVerifier {
            inner,
            skip_name,
            skip_validity,
        })
    }
}

/// A moment inside `cert`'s validity period (one second after `notBefore`).
fn within_validity(cert: &CertificateDer<'_>) -> Option<UnixTime> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let not_before = parsed.validity().not_before.timestamp();
    let secs = u64::try_from(not_before).ok()?.checked_add(1)?;
    Some(UnixTime::since_unix_epoch(Duration::from_secs(secs)))
}

impl ServerCertVerifier for RelaxedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut at = now;
        let mut shifted = false;
        loop {
            match self
                .inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, at)
            {
                Ok(v) => return Ok(v),
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
                )) if self.skip_name => return Ok(ServerCertVerified::assertion()),
                Err(rustls::Error::InvalidCertificate(
                    e @ (CertificateError::Expired
                    | CertificateError::ExpiredContext { .. }
                    | CertificateError::NotValidYet
                    | CertificateError::NotValidYetContext { .. }),
                )) if self.skip_validity && !shifted => {
                    at = within_validity(end_entity).ok_or(rustls::Error::InvalidCertificate(e))?;
                    shifted = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client for `cfg` that verifies the server with `verifier`, rate limited like every member client.
/// A proxy (`cfg.proxy_url`) is not supported together with a relaxed verifier.
pub fn relaxed_client(
    cfg: &kube::Config,
    verifier: RelaxedVerifier,
    qps: f64,
    burst: u32,
) -> Result<kube::Client, Malformed> {
    if cfg.proxy_url.is_some() {
        return Err(Malformed(
            "spec.proxyURL cannot be combined with disabledTLSValidations SubjectName or ValidityPeriod; \
             use `*` or drop the proxy"
                .into(),
        ));
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Malformed(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(cfg.connect_timeout);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let client: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https);
    let auth = cfg
        .auth_layer()
        .map_err(|e| Malformed(format!("authentication setup: {e}")))?;
    let burst = burst.max(1);
    let window = Duration::from_secs_f64(f64::from(burst) / qps.max(0.001));
    let service = ServiceBuilder::new()
        .layer(RateLimitLayer::new(u64::from(burst), window))
        .layer(cfg.base_uri_layer())
        .option_layer(auth)
        .map_err(tower::BoxError::from)
        .service(client);
    Ok(kube::Client::new(service, cfg.default_namespace.clone()))
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

    use super::*;

    struct Pki {
        ca_der: Vec<u8>,
        leaf: CertificateDer<'static>,
    }

    /// A CA and a leaf for `names`, valid from `from` to `to` (years).
    fn pki(names: &[&str], from: i32, to: i32) -> Pki {
        let ca_key = KeyPair::generate().expect("key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "test-ca");
        ca_params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        ca_params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().expect("key");
        let mut leaf_params =
            CertificateParams::new(names.iter().map(|n| (*n).to_string()).collect::<Vec<_>>())
                .expect("params");
        leaf_params.not_before = rcgen::date_time_ymd(from, 1, 1);
        leaf_params.not_after = rcgen::date_time_ymd(to, 1, 1);
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");
        Pki {
            ca_der: ca.der().to_vec(),
            leaf: leaf.der().clone(),
        }
    }

    fn verify(p: &Pki, name: &str, skip_name: bool, skip_validity: bool) -> Result<(), rustls::Error> {
        let v = RelaxedVerifier::new(std::slice::from_ref(&p.ca_der), skip_name, skip_validity)
            .expect("verifier");
        let server = ServerName::try_from(name.to_string()).expect("name");
        v.verify_server_cert(&p.leaf, &[], &server, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn only_the_disabled_check_is_forgiven() {
        let good = pki(&["member.example"], 2020, 2090);
        assert!(verify(&good, "member.example", false, false).is_ok());
        assert!(verify(&good, "other.example", false, false).is_err());
        assert!(
            verify(&good, "other.example", true, false).is_ok(),
            "SubjectName disabled"
        );
        assert!(
            verify(&good, "other.example", false, true).is_err(),
            "ValidityPeriod disabled keeps the name check"
        );

        let expired = pki(&["member.example"], 2001, 2002);
        assert!(verify(&expired, "member.example", false, false).is_err());
        assert!(
            verify(&expired, "member.example", false, true).is_ok(),
            "ValidityPeriod disabled"
        );
        assert!(
            verify(&expired, "other.example", false, true).is_err(),
            "the name is still checked"
        );
        assert!(
            verify(&expired, "other.example", true, true).is_ok(),
            "both disabled"
        );
        assert!(
            verify(&expired, "member.example", true, false).is_err(),
            "SubjectName disabled keeps validity"
        );

        let other_ca = pki(&["member.example"], 2020, 2090);
        let mixed = Pki {
            ca_der: other_ca.ca_der,
            leaf: good.leaf,
        };
        assert!(
            verify(&mixed, "member.example", true, true).is_err(),
            "the chain is always checked"
        );
    }
}
