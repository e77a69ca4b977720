//! The pure decisions of self-managed TLS: what the Secret holds, whether to keep it, issue a new serving
//! certificate or rotate the CA, what goes in the `caBundle`, and when to look again.
//!
//! Certificates are renewed at 2/3 of their life ([`RENEW_NUMERATOR`]/[`RENEW_DENOMINATOR`]). The Secret's
//! `ca.crt` is the trust bundle: the active CA first (it signs, with `ca.key`), then earlier CAs that have
//! not expired, so that during a CA rotation the API server trusts serving certificates from both the old
//! and the new CA. Expired CAs drop out of the bundle on the next reconcile.
//!
//! Time is a parameter everywhere, so every rule is tested without waiting.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rustls_pki_types::CertificateDer;

use super::x509::{self, CertInfo};
use crate::error::Result;

/// Renew when this fraction (numerator) of a certificate's life has passed.
pub const RENEW_NUMERATOR: u32 = 2;
/// Renew when this fraction (denominator) of a certificate's life has passed.
pub const RENEW_DENOMINATOR: u32 = 3;

/// Secret key of the trust bundle (active CA first).
pub const KEY_CA_CRT: &str = "ca.crt";
/// Secret key of the active CA's private key.
pub const KEY_CA_KEY: &str = "ca.key";
/// Secret key of the serving certificate.
pub const KEY_TLS_CRT: &str = "tls.crt";
/// Secret key of the serving certificate's private key.
pub const KEY_TLS_KEY: &str = "tls.key";

/// How long certificates live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Lifetime of a new CA.
    pub ca_validity: Duration,
    /// Lifetime of a new serving certificate (shorter than `ca_validity`).
    pub leaf_validity: Duration,
}

/// The names the serving certificate must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sans {
    /// DNS names.
    pub dns_names: Vec<String>,
    /// IP addresses.
    pub ips: Vec<IpAddr>,
}

/// The four PEM texts kept in the Secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Material {
    /// Trust bundle, active CA first.
    pub ca_crt: String,
    /// Active CA's private key.
    pub ca_key: String,
    /// Serving certificate.
    pub tls_crt: String,
    /// Serving certificate's private key.
    pub tls_key: String,
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print private keys.
        f.debug_struct("Material")
            .field("ca_crt", &self.ca_crt)
            .field("tls_crt", &self.tls_crt)
            .finish()
    }
}

impl Material {
    /// Reads the four keys of a Secret's data; the error names what is missing.
    pub fn from_data(data: &BTreeMap<String, Vec<u8>>) -> std::result::Result<Self, String> {
        let get = |key: &str| -> std::result::Result<String, String> {
            let bytes = data.get(key).ok_or_else(|| format!("key {key} is missing"))?;
            String::from_utf8(bytes.clone()).map_err(|_| format!("key {key} is not UTF-8 PEM"))
        };
        Ok(Self {
            ca_crt: get(KEY_CA_CRT)?,
            ca_key: get(KEY_CA_KEY)?,
            tls_crt: get(KEY_TLS_CRT)?,
            tls_key: get(KEY_TLS_KEY)?,
        })
    }

    /// The Secret data for this material.
    pub fn to_data(&self) -> BTreeMap<String, Vec<u8>> {
        [
            (KEY_CA_CRT, &self.ca_crt),
            (KEY_CA_KEY, &self.ca_key),
            (KEY_TLS_CRT, &self.tls_crt),
            (KEY_TLS_KEY, &self.tls_key),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.clone().into_bytes()))
        .collect()
    }
}

/// A certificate with its facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cert {
    /// DER encoding.
    pub der: CertificateDer<'static>,
    /// Validity, SANs, CA flag.
    pub info: CertInfo,
}

impl Cert {
    fn parse_all(pem: &str, what: &str) -> Result<Vec<Cert>> {
        x509::certs_from_pem(pem.as_bytes(), what)?
            .into_iter()
            .map(|der| {
                Ok(Cert {
                    info: CertInfo::from_der(&der, what)?,
                    der,
                })
            })
            .collect()
    }
}

/// What the Secret holds, as facts [`plan`] can decide on.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The trust bundle; the first entry is the active CA.
    pub bundle: Vec<Cert>,
    /// The serving certificate with the facts about it, or why it is unusable.
    pub leaf: std::result::Result<Leaf, String>,
}

/// A readable serving certificate.
#[derive(Clone, Debug)]
pub struct Leaf {
    /// The certificate.
    pub cert: Cert,
    /// `tls.key` belongs to it.
    pub key_matches: bool,
    /// It is signed by the active CA.
    pub issued_by_active_ca: bool,
}

impl Observed {
    /// The active CA.
    pub fn active_ca(&self) -> Option<&Cert> {
        self.bundle.first()
    }
}

/// Reads the Secret's material. `Err` means the CA part is unusable (the caller bootstraps a new CA);
/// problems with the serving certificate alone end up in [`Observed::leaf`].
pub fn observe(material: &Material) -> std::result::Result<Observed, String> {
    let bundle = Cert::parse_all(&material.ca_crt, KEY_CA_CRT).map_err(|e| e.to_string())?;
    let active = bundle.first().ok_or("ca.crt holds no certificate")?;
    if !active.info.is_ca {
        return Err("the first certificate in ca.crt is not a CA".into());
    }
    // The CA key must belong to the active CA, or everything it signs would be untrusted.
    super::certified_key_from_pem(
        x509::certs_to_pem([&active.der]).as_bytes(),
        material.ca_key.as_bytes(),
        "the CA in ca.crt/ca.key",
    )
    .map_err(|e| e.to_string())?;

    let leaf = (|| -> std::result::Result<Leaf, String> {
        let cert = Cert::parse_all(&material.tls_crt, KEY_TLS_CRT)
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .ok_or("tls.crt holds no certificate")?;
        let key_matches = super::certified_key_from_pem(
            material.tls_crt.as_bytes(),
            material.tls_key.as_bytes(),
            "tls.crt/tls.key",
        )
        .is_ok();
        let issued_by_active_ca = x509::issued_by(&cert.der, &active.der);
        Ok(Leaf {
            cert,
            key_matches,
            issued_by_active_ca,
        })
    })();
    Ok(Observed { bundle, leaf })
}

/// Why a plan was chosen (for logs and tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// There is no Secret yet.
    NoSecret,
    /// The CA part of the Secret is unusable.
    CaUnusable(String),
    /// The CA has lived 2/3 of its life (or is expired).
    CaRenewalDue,
    /// The CA would expire before a serving certificate issued now.
    CaOutlivedByLeaf,
    /// The serving certificate is missing or unreadable.
    LeafUnusable(String),
    /// `tls.key` does not belong to `tls.crt`.
    LeafKeyMismatch,
    /// The serving certificate is not signed by the active CA.
    LeafNotIssuedByActiveCa,
    /// The serving certificate's names differ from the wanted ones.
    SansChanged,
    /// The serving certificate has lived 2/3 of its life (or is expired).
    LeafRenewalDue,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NoSecret => write!(f, "no TLS Secret yet"),
            Reason::CaUnusable(why) => write!(f, "the CA in the Secret is unusable: {why}"),
            Reason::CaRenewalDue => write!(f, "the CA has passed 2/3 of its lifetime"),
            Reason::CaOutlivedByLeaf => write!(f, "the CA would expire before a new serving certificate"),
            Reason::LeafUnusable(why) => write!(f, "the serving certificate is unusable: {why}"),
            Reason::LeafKeyMismatch => write!(f, "tls.key does not match tls.crt"),
            Reason::LeafNotIssuedByActiveCa => {
                write!(f, "the serving certificate is not signed by the active CA")
            }
            Reason::SansChanged => write!(f, "the serving certificate's DNS names or IPs changed"),
            Reason::LeafRenewalDue => write!(f, "the serving certificate has passed 2/3 of its lifetime"),
        }
    }
}

/// What to do with the Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// It is fine as it is.
    Keep,
    /// Issue a new serving certificate with the active CA.
    IssueLeaf(Reason),
    /// Make a new CA (the old one stays in the bundle until it expires) and a serving certificate from it.
    RotateCa(Reason),
    /// Start from scratch: new CA, new serving certificate, bundle of the new CA only.
    Bootstrap(Reason),
}

/// The moment a certificate valid from `not_before` to `not_after` is due for renewal.
pub fn renewal_time(info: &CertInfo) -> SystemTime {
    let life = info.not_after.duration_since(info.not_before).unwrap_or_default();
    info.not_before + life / RENEW_DENOMINATOR * RENEW_NUMERATOR
}

fn same_names(info: &CertInfo, want: &Sans) -> bool {
    let mut have_dns: Vec<&str> = info.dns_names.iter().map(String::as_str).collect();
    let mut want_dns: Vec<&str> = want.dns_names.iter().map(String::as_str).collect();
    have_dns.sort_unstable();
    have_dns.dedup();
    want_dns.sort_unstable();
    want_dns.dedup();
    let mut have_ips = info.ips.clone();
    let mut want_ips = want.ips.clone();
    have_ips.sort_unstable();
    have_ips.dedup();
    want_ips.sort_unstable();
    want_ips.dedup();
    have_dns == want_dns && have_ips == want_ips
}

/// Decides what to do with the Secret's content at `now`. Rules, first match wins: no Secret or an unusable
/// CA → bootstrap; CA past 2/3 of its life, or expiring before a leaf issued now → rotate the CA; leaf
/// unreadable, with the wrong key, not from the active CA, with other names, or past 2/3 of its life →
/// issue a leaf; otherwise keep.
pub fn plan(
    observed: Option<&std::result::Result<Observed, String>>,
    want: &Sans,
    policy: &RotationPolicy,
    now: SystemTime,
) -> Plan {
    let observed = match observed {
        None => return Plan::Bootstrap(Reason::NoSecret),
        Some(Err(why)) => return Plan::Bootstrap(Reason::CaUnusable(why.clone())),
        Some(Ok(observed)) => observed,
    };
    let Some(ca) = observed.active_ca() else {
        return Plan::Bootstrap(Reason::CaUnusable("no CA certificate".into()));
    };
    if now >= renewal_time(&ca.info) {
        return Plan::RotateCa(Reason::CaRenewalDue);
    }
    if ca.info.not_after < now + policy.leaf_validity {
        return Plan::RotateCa(Reason::CaOutlivedByLeaf);
    }
    let leaf = match &observed.leaf {
        Err(why) => return Plan::IssueLeaf(Reason::LeafUnusable(why.clone())),
        Ok(leaf) => leaf,
    };
    if !leaf.key_matches {
        return Plan::IssueLeaf(Reason::LeafKeyMismatch);
    }
    if !leaf.issued_by_active_ca {
        return Plan::IssueLeaf(Reason::LeafNotIssuedByActiveCa);
    }
    if !same_names(&leaf.cert.info, want) {
        return Plan::IssueLeaf(Reason::SansChanged);
    }
    if now >= renewal_time(&leaf.cert.info) {
        return Plan::IssueLeaf(Reason::LeafRenewalDue);
    }
    Plan::Keep
}

/// The trust bundle: `active` first, then the CAs of `previous` that are still valid at `now`, each once.
pub fn build_bundle<'a>(
    active: &'a Cert,
    previous: impl IntoIterator<Item = &'a Cert>,
    now: SystemTime,
) -> String {
    let mut kept: Vec<&CertificateDer<'static>> = vec![&active.der];
    for cert in previous {
        if cert.info.is_ca && cert.info.not_after > now && !kept.contains(&&cert.der) {
            kept.push(&cert.der);
        }
    }
    x509::certs_to_pem(kept)
}

/// When to look at the Secret again at the latest: the next renewal point of the CA or the leaf, the point
/// where the CA would be outlived by a new leaf, or the expiry of an old CA that should leave the bundle.
pub fn next_check(observed: &Observed, policy: &RotationPolicy) -> Option<SystemTime> {
    let ca = observed.active_ca()?;
    let mut times = vec![renewal_time(&ca.info)];
    times.extend(ca.info.not_after.checked_sub(policy.leaf_validity));
    if let Ok(leaf) = &observed.leaf {
        times.push(renewal_time(&leaf.cert.info));
    }
    times.extend(observed.bundle.iter().skip(1).map(|c| c.info.not_after));
    times.into_iter().min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubefed_core::pki::CertificateAuthority;

    const HOUR: Duration = Duration::from_secs(3600);

    fn sans() -> Sans {
        Sans {
            dns_names: vec!["svc".into(), "svc.ns.svc".into()],
            ips: vec!["127.0.0.1".parse().expect("ip")],
        }
    }

    fn policy() -> RotationPolicy {
        RotationPolicy {
            ca_validity: 30 * HOUR,
            leaf_validity: 3 * HOUR,
        }
    }

    fn material(ca: &CertificateAuthority, names: &Sans, leaf_validity: Duration) -> Material {
        let leaf = ca
            .issue_serving(&names.dns_names, &names.ips, leaf_validity)
            .expect("leaf");
        Material {
            ca_crt: ca.cert_pem.clone(),
            ca_key: ca.key_pem(),
            tls_crt: leaf.cert_pem,
            tls_key: leaf.key_pem,
        }
    }

    fn ca(validity: Duration) -> CertificateAuthority {
        CertificateAuthority::generate("kubefed-webhook-ca", validity).expect("ca")
    }

    #[test]
    fn renewal_at_two_thirds() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let info = CertInfo {
            not_before: start,
            not_after: start + 3 * HOUR,
            dns_names: vec![],
            ips: vec![],
            is_ca: false,
        };
        assert_eq!(renewal_time(&info), start + 2 * HOUR);
    }

    #[test]
    fn plan_table() {
        let now = SystemTime::now();
        let ca_ok = ca(policy().ca_validity);
        let good = material(&ca_ok, &sans(), policy().leaf_validity);
        let other_ca = ca(policy().ca_validity);

        struct Case {
            name: &'static str,
            material: Option<Material>,
            now: SystemTime,
            want: Plan,
        }
        let with = |f: &dyn Fn(&mut Material)| {
            let mut m = good.clone();
            f(&mut m);
            Some(m)
        };
        let cases = vec![
            Case {
                name: "fresh material is kept",
                material: Some(good.clone()),
                now,
                want: Plan::Keep,
            },
            Case {
                name: "no secret",
                material: None,
                now,
                want: Plan::Bootstrap(Reason::NoSecret),
            },
            Case {
                name: "garbage CA",
                material: with(&|m| m.ca_crt = "junk".into()),
                now,
                want: Plan::Bootstrap(Reason::CaUnusable(String::new())),
            },
            Case {
                name: "CA key of another CA",
                material: with(&|m| m.ca_key = other_ca.key_pem()),
                now,
                want: Plan::Bootstrap(Reason::CaUnusable(String::new())),
            },
            Case {
                name: "leaf as CA",
                material: with(&|m| m.ca_crt = good.tls_crt.clone()),
                now,
                want: Plan::Bootstrap(Reason::CaUnusable(String::new())),
            },
            Case {
                name: "CA past 2/3",
                material: Some(good.clone()),
                now: now + 21 * HOUR,
                want: Plan::RotateCa(Reason::CaRenewalDue),
            },
            Case {
                name: "CA outlived by a new leaf",
                material: Some(material(&ca(4 * HOUR), &sans(), HOUR)),
                now: now + HOUR + HOUR / 2,
                want: Plan::RotateCa(Reason::CaOutlivedByLeaf),
            },
            Case {
                name: "leaf missing",
                material: with(&|m| m.tls_crt = String::new()),
                now,
                want: Plan::IssueLeaf(Reason::LeafUnusable(String::new())),
            },
            Case {
                name: "leaf key mismatch",
                material: with(&|m| m.tls_key = other_ca.key_pem()),
                now,
                want: Plan::IssueLeaf(Reason::LeafKeyMismatch),
            },
            Case {
                name: "leaf from another CA",
                material: Some(Material {
                    ca_crt: other_ca.cert_pem.clone(),
                    ca_key: other_ca.key_pem(),
                    ..good.clone()
                }),
                now,
                want: Plan::IssueLeaf(Reason::LeafNotIssuedByActiveCa),
            },
            Case {
                name: "names changed",
                material: Some(material(
                    &ca_ok,
                    &Sans {
                        ips: vec![],
                        ..sans()
                    },
                    policy().leaf_validity,
                )),
                now,
                want: Plan::IssueLeaf(Reason::SansChanged),
            },
            Case {
                name: "leaf past 2/3",
                material: Some(good.clone()),
                now: now + 2 * HOUR + Duration::from_secs(60),
                want: Plan::IssueLeaf(Reason::LeafRenewalDue),
            },
        ];
        for case in cases {
            let observed = case.material.as_ref().map(observe);
            let got = plan(observed.as_ref(), &sans(), &policy(), case.now);
            // Compare variants and reasons, ignoring the free-text detail of *Unusable reasons.
            let blank = |p: Plan| match p {
                Plan::Bootstrap(Reason::CaUnusable(_)) => Plan::Bootstrap(Reason::CaUnusable(String::new())),
                Plan::IssueLeaf(Reason::LeafUnusable(_)) => {
                    Plan::IssueLeaf(Reason::LeafUnusable(String::new()))
                }
                other => other,
            };
            assert_eq!(blank(got), case.want, "{}", case.name);
        }
    }

    #[test]
    fn bundle_keeps_active_first_and_drops_expired_and_duplicates() {
        let now = SystemTime::now();
        let parse = |c: &CertificateAuthority| Cert::parse_all(&c.cert_pem, "ca").expect("ca").remove(0);
        let new = parse(&ca(30 * HOUR));
        let old = parse(&ca(10 * HOUR));
        let leaf_pem = ca(HOUR)
            .issue_serving(&["x".into()], &[], HOUR)
            .expect("leaf")
            .cert_pem;
        let not_a_ca = Cert::parse_all(&leaf_pem, "leaf").expect("leaf").remove(0);

        let bundle = build_bundle(&new, [&old, &new, &old, &not_a_ca], now);
        let ders = x509::certs_from_pem(bundle.as_bytes(), "bundle").expect("bundle");
        assert_eq!(ders, vec![new.der.clone(), old.der.clone()]);

        let later = now + 11 * HOUR;
        let bundle = build_bundle(&new, [&old], later);
        assert_eq!(
            x509::certs_from_pem(bundle.as_bytes(), "bundle").expect("bundle"),
            vec![new.der.clone()]
        );
    }

    #[test]
    fn next_check_is_the_earliest_deadline() {
        let ca_ok = ca(policy().ca_validity);
        let observed = observe(&material(&ca_ok, &sans(), policy().leaf_validity)).expect("observe");
        let leaf = observed.leaf.as_ref().expect("leaf");
        assert_eq!(
            next_check(&observed, &policy()),
            Some(renewal_time(&leaf.cert.info))
        );
    }

    #[test]
    fn material_round_trips_through_secret_data() {
        let m = material(&ca(HOUR * 30), &sans(), HOUR);
        assert_eq!(Material::from_data(&m.to_data()), Ok(m.clone()));
        let mut data = m.to_data();
        data.remove(KEY_TLS_KEY);
        assert_eq!(Material::from_data(&data), Err("key tls.key is missing".into()));
        assert!(
            !format!("{m:?}").contains("PRIVATE KEY"),
            "Debug must not print keys"
        );
    }
}
