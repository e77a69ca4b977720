//! Reading PEM and the few X.509 facts the rotation logic needs: validity, SANs, who signed what.
//!
//! Uses `x509-parser` (already in the graph through rcgen) and `rustls-pki-types` for PEM; nothing here
//! touches the network or the clock.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Error, Result};

/// Every certificate in a PEM text, in order. `what` names the material in errors.
pub fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Pem {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(Error::Pem {
            what: what.to_owned(),
            reason: "no CERTIFICATE block found".into(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM text (PKCS#8, PKCS#1 or SEC1).
pub fn key_from_pem(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| Error::Pem {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

/// Encodes DER certificates as PEM (LF line endings), one block each.
pub fn certs_to_pem<'a, 'b: 'a>(certs: impl IntoIterator<Item = &'a CertificateDer<'b>>) -> String {
    let blocks: Vec<pem::Pem> = certs
        .into_iter()
        .map(|c| pem::Pem::new("CERTIFICATE", c.as_ref()))
        .collect();
    pem::encode_many_config(
        &blocks,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The facts about one certificate that renewal decisions use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ips: Vec<IpAddr>,
    /// `basicConstraints CA:true`.
    pub is_ca: bool,
}

fn to_system_time(unix: i64) -> SystemTime {
    match u64::try_from(unix) {
        Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => UNIX_EPOCH,
    }
}

fn parse<'a>(der: &'a CertificateDer<'_>, what: &str) -> Result<X509Certificate<'a>> {
    X509Certificate::from_der(der.as_ref())
        .map(|(_, cert)| cert)
        .map_err(|e| Error::Certificate {
            what: what.to_owned(),
            reason: e.to_string(),
        })
}

impl CertInfo {
    /// Reads the facts from a DER certificate.
    pub fn from_der(der: &CertificateDer<'_>, what: &str) -> Result<Self> {
        let cert = parse(der, what)?;
        let validity = cert.validity();
        let mut dns_names = Vec::new();
        let mut ips = Vec::new();
        let san = cert.subject_alternative_name().map_err(|e| Error::Certificate {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
        if let Some(san) = san {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
                    GeneralName::IPAddress(bytes) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                            ips.push(IpAddr::from(v4));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                            ips.push(IpAddr::from(v6));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(Self {
            not_before: to_system_time(validity.not_before.timestamp()),
            not_after: to_system_time(validity.not_after.timestamp()),
            dns_names,
            ips,
            is_ca: cert.is_ca(),
        })
    }
}

/// Whether `leaf` carries a valid signature by `issuer`'s key (and names it as issuer).
pub fn issued_by(leaf: &CertificateDer<'_>, issuer: &CertificateDer<'_>) -> bool {
    let (Ok(leaf), Ok(issuer)) = (parse(leaf, "leaf"), parse(issuer, "issuer")) else {
        return false;
    };
    leaf.issuer().as_raw() == issuer.subject().as_raw()
        && leaf.verify_signature(Some(issuer.public_key())).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubefed_core::pki::CertificateAuthority;

    #[test]
    fn reads_sans_validity_and_issuer() {
        let ca = CertificateAuthority::generate("ca", Duration::from_secs(3600)).expect("ca");
        let other = CertificateAuthority::generate("ca", Duration::from_secs(3600)).expect("other ca");
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let leaf = ca
            .issue_serving(&["svc.ns.svc".into()], &[ip], Duration::from_secs(600))
            .expect("leaf");
        let leaf_der = certs_from_pem(leaf.cert_pem.as_bytes(), "leaf")
            .expect("pem")
            .remove(0);
        let ca_der = certs_from_pem(ca.cert_pem.as_bytes(), "ca")
            .expect("pem")
            .remove(0);
        let other_der = certs_from_pem(other.cert_pem.as_bytes(), "other")
            .expect("pem")
            .remove(0);

        let info = CertInfo::from_der(&leaf_der, "leaf").expect("info");
        assert_eq!(info.dns_names, ["svc.ns.svc"]);
        assert_eq!(info.ips, [ip]);
        assert!(!info.is_ca);
        let life = info.not_after.duration_since(info.not_before).expect("ordered");
        // pki back-dates by 5 minutes.
        assert_eq!(life, Duration::from_secs(900));
        assert!(CertInfo::from_der(&ca_der, "ca").expect("ca info").is_ca);

        assert!(issued_by(&leaf_der, &ca_der));
        assert!(!issued_by(&leaf_der, &other_der), "same subject, different key");
        assert!(!issued_by(&ca_der, &leaf_der));
    }

    #[test]
    fn pem_round_trip_and_errors() {
        let ca = CertificateAuthority::generate("ca", Duration::from_secs(3600)).expect("ca");
        let der = certs_from_pem(ca.cert_pem.as_bytes(), "ca").expect("pem");
        let again = certs_to_pem(&der);
        assert_eq!(again.trim(), ca.cert_pem.trim(), "same text as rcgen's");
        assert_eq!(certs_from_pem(again.as_bytes(), "again").expect("pem"), der);
        assert!(matches!(certs_from_pem(b"junk", "x"), Err(Error::Pem { .. })));
        assert!(key_from_pem(ca.key_pem().as_bytes(), "key").is_ok());
        assert!(key_from_pem(b"junk", "key").is_err());
    }
}
