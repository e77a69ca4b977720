//! Certificate authority and serving certificates, made with rcgen and returned as PEM.
//!
//! The webhook bootstraps its own TLS from here (design §5) and the testbed uses it for its API servers,
//! so there is one place that decides key type, validity and SANs. Pure: nothing is written anywhere.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType,
};

/// Errors from certificate generation or from parsing a stored CA.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot generate or sign a certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("invalid subject alternative name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
}

/// A certificate and its private key, both PEM-encoded.
#[derive(Clone, Debug)]
pub struct CertifiedKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A certificate authority able to issue serving and client certificates.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM-encoded (what goes in a `caBundle`).
    pub cert_pem: String,
}

fn validity(params: &mut CertificateParams, valid_for: Duration) {
    // Back-date a little so clocks that differ by a few seconds still accept a fresh certificate.
    let now = SystemTime::now();
    params.not_before = (now - Duration::from_secs(300)).into();
    params.not_after = (now + valid_for).into();
}

impl CertificateAuthority {
    /// Makes a new self-signed CA (ECDSA P-256) named `common_name`, valid for `valid_for`.
    pub fn generate(common_name: &str, valid_for: Duration) -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, valid_for);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA persisted earlier from its certificate PEM and private key PEM (e.g. kept in a Secret),
    /// so new certificates keep chaining to the same root.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Self {
            cert_pem: cert_pem.to_owned(),
            issuer,
        })
    }

    /// The CA's private key, PEM-encoded (to persist the CA, e.g. in a Secret).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Issues a serving certificate for the given DNS names and IP addresses.
    pub fn issue_serving(
        &self,
        dns_names: &[String],
        ips: &[IpAddr],
        valid_for: Duration,
    ) -> Result<CertifiedKey, PkiError> {
        let mut sans = Vec::with_capacity(dns_names.len() + ips.len());
        for name in dns_names {
            let dns = name
                .clone()
                .try_into()
                .map_err(|e: rcgen::Error| PkiError::InvalidName {
                    name: name.clone(),
                    reason: e.to_string(),
                })?;
            sans.push(SanType::DnsName(dns));
        }
        sans.extend(ips.iter().copied().map(SanType::IpAddress));
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            dns_names.first().map(String::as_str).unwrap_or("kubefed"),
        );
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        validity(&mut params, valid_for);
        self.sign(params)
    }

    /// Issues a client certificate for user `common_name` in `groups` (Kubernetes reads groups from O=).
    pub fn issue_client(
        &self,
        common_name: &str,
        groups: &[&str],
        valid_for: Duration,
    ) -> Result<CertifiedKey, PkiError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        for g in groups {
            dn.push(DnType::OrganizationName, *g);
        }
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        validity(&mut params, valid_for);
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Result<CertifiedKey, PkiError> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A fresh ECDSA P-256 key pair as PEM `(private PKCS#8, public SPKI)`, e.g. for service-account tokens.
pub fn generate_key_pair_pem() -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_serving_cert_with_ip_and_dns_sans() {
        let ca = CertificateAuthority::generate("test-ca", Duration::from_secs(3600)).expect("ca");
        assert!(ca.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let leaf = ca
            .issue_serving(
                &["svc.ns.svc".into()],
                &["127.0.0.1".parse().expect("ip")],
                Duration::from_secs(60),
            )
            .expect("leaf");
        assert!(leaf.cert_pem.contains("BEGIN CERTIFICATE"));
        assert!(leaf.key_pem.contains("PRIVATE KEY"));
        assert_ne!(leaf.cert_pem, ca.cert_pem);
    }

    #[test]
    fn loads_a_persisted_ca_and_keeps_issuing() {
        let ca = CertificateAuthority::generate("test-ca", Duration::from_secs(3600)).expect("ca");
        let loaded = CertificateAuthority::from_pem(&ca.cert_pem, &ca.key_pem()).expect("load");
        assert_eq!(loaded.cert_pem, ca.cert_pem);
        assert_eq!(loaded.key_pem(), ca.key_pem());
        let leaf = loaded
            .issue_serving(&["svc".into()], &[], Duration::from_secs(60))
            .expect("leaf");
        assert!(leaf.cert_pem.contains("BEGIN CERTIFICATE"));
        assert!(CertificateAuthority::from_pem("not pem", &ca.key_pem()).is_err());
        assert!(CertificateAuthority::from_pem(&ca.cert_pem, "not pem").is_err());
    }

    #[test]
    fn rejects_invalid_dns_name() {
        let ca = CertificateAuthority::generate("test-ca", Duration::from_secs(3600)).expect("ca");
        let err = ca.issue_serving(&["bäd.example".into()], &[], Duration::from_secs(60));
        assert!(matches!(err, Err(PkiError::InvalidName { .. })), "{err:?}");
    }
}
