//! A kube client for a member cluster, from its KubeFedCluster and token Secret.
//!
//! [`member_config`] is where a KubeFedCluster is checked: every way it can be unusable (an endpoint that
//! is not a URL, a `caBundle` without a PEM certificate, a missing Secret or `token` key, a proxy URL with
//! an unsupported scheme) becomes a [`Malformed`] with a message that names the field, which the health
//! controller turns into the `ConfigMalformed` condition and an Event — never a crash.
//!
//! Disabling only the `SubjectName` or `ValidityPeriod` check uses a verifier of our own ([`super::tls`]).
//!
//! Every member client is rate limited (`--member-qps`, `--member-burst`) so one busy type cannot starve
//! the others or overload a member, and has a connect timeout so an unreachable member fails fast.

use std::time::Duration;

use kube::client::ClientBuilder;
use kubefed_core::api::{KubeFedCluster, TlsValidation};
use tower::limit::RateLimitLayer;

/// Why a KubeFedCluster cannot be turned into a client configuration (the `ConfigMalformed` message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// The token in a KubeFedCluster's Secret, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Token {
    /// The Secret's `token` key.
    Present(String),
    /// The Secret does not exist.
    SecretMissing,
    /// The Secret has no `token` key (or it is not UTF-8).
    KeyMissing,
}

/// The client configuration for `kfc`, authenticating with `token`.
pub fn member_config(kfc: &KubeFedCluster, token: &Token) -> Result<kube::Config, Malformed> {
    let spec = &kfc.spec;
    let endpoint = endpoint_uri(&spec.api_endpoint)?;
    let mut cfg = kube::Config::new(endpoint);
    if let Some(ca) = &spec.ca_bundle {
        cfg.root_cert = Some(pem_certificates(&ca.0)?);
    }
    let secret = &spec.secret_ref.name;
    match token {
        Token::Present(t) if !t.trim().is_empty() => cfg.auth_info.token = Some(t.trim().to_string().into()),
        Token::Present(_) => {
            return Err(Malformed(format!(
                "the `token` key of Secret {secret} (spec.secretRef) is empty"
            )));
        }
        Token::SecretMissing => {
            return Err(Malformed(format!(
                "Secret {secret} named by spec.secretRef does not exist in the KubeFedCluster's namespace"
            )));
        }
        Token::KeyMissing => {
            return Err(Malformed(format!(
                "Secret {secret} named by spec.secretRef has no UTF-8 `token` key"
            )));
        }
    }
    let disabled = &spec.disabled_tls_validations;
    if disabled.contains(&TlsValidation::All) {
        if disabled.len() > 1 {
            return Err(Malformed(
                "spec.disabledTLSValidations: `*` disables every check and must be the only entry".into(),
            ));
        }
        cfg.accept_invalid_certs = true;
    }
    if let Some(proxy) = spec.proxy_url.as_deref().filter(|p| !p.is_empty()) {
        let uri: http::Uri = proxy
            .parse()
            .map_err(|e| Malformed(format!("spec.proxyURL {proxy:?} is not a URL: {e}")))?;
        match uri.scheme_str() {
            Some("http" | "https" | "socks5") => cfg.proxy_url = Some(uri),
            _ => {
                return Err(Malformed(format!(
                    "spec.proxyURL {proxy:?} must start with http://, https:// or socks5://"
                )));
            }
        }
    }
    cfg.connect_timeout = Some(Duration::from_secs(5));
    Ok(cfg)
}

/// The client for `kfc`: [`member_config`], then kube's client, or — when only `SubjectName` and/or
/// `ValidityPeriod` checks are disabled — one with a [`super::tls::RelaxedVerifier`].
pub fn client_for(
    kfc: &KubeFedCluster,
    token: &Token,
    qps: f64,
    burst: u32,
) -> Result<kube::Client, Malformed> {
    let cfg = member_config(kfc, token)?;
    let disabled = &kfc.spec.disabled_tls_validations;
    let skip_name = disabled.contains(&TlsValidation::SubjectName);
    let skip_validity = disabled.contains(&TlsValidation::ValidityPeriod);
    if cfg.accept_invalid_certs || !(skip_name || skip_validity) {
        return member_client(cfg, qps, burst);
    }
    let Some(roots) = cfg.root_cert.clone() else {
        return Err(Malformed(
            "spec.disabledTLSValidations SubjectName/ValidityPeriod need spec.caBundle to verify the rest against"
                .into(),
        ));
    };
    let verifier = super::tls::RelaxedVerifier::new(&roots, skip_name, skip_validity)?;
    super::tls::relaxed_client(&cfg, verifier, qps, burst)
}

/// A client for `cfg`, limited to `qps` requests per second with bursts of `burst`.
pub fn member_client(cfg: kube::Config, qps: f64, burst: u32) -> Result<kube::Client, Malformed> {
    let burst = burst.max(1);
    let window = Duration::from_secs_f64(f64::from(burst) / qps.max(0.001));
    let builder = ClientBuilder::try_from(cfg).map_err(|e| Malformed(format!("building the client: {e}")))?;
    Ok(builder
        .with_layer(&RateLimitLayer::new(u64::from(burst), window))
        .build())
}

/// `apiEndpoint` as a URI: KubeFed accepts a URL, `host`, `host:port`, IP or `IP:port` (HTTPS implied).
fn endpoint_uri(endpoint: &str) -> Result<http::Uri, Malformed> {
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Err(Malformed("spec.apiEndpoint is empty".into()));
    }
    let with_scheme = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    };
    let uri: http::Uri = with_scheme
        .parse()
        .map_err(|e| Malformed(format!("spec.apiEndpoint {endpoint:?} is not a URL: {e}")))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("https" | "http"), Some(h)) if !h.is_empty() => Ok(uri),
        (Some("https" | "http"), _) => Err(Malformed(format!("spec.apiEndpoint {endpoint:?} has no host"))),
        _ => Err(Malformed(format!(
            "spec.apiEndpoint {endpoint:?} must be an https:// (or http://) URL"
        ))),
    }
}

/// The DER certificates in a PEM bundle; an error when there is none.
fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, Malformed> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut certs = Vec::new();
    for c in CertificateDer::pem_slice_iter(pem) {
        let c = c.map_err(|e| Malformed(format!("spec.caBundle is not a PEM certificate bundle: {e}")))?;
        certs.push(c.to_vec());
    }
    if certs.is_empty() {
        return Err(Malformed(
            "spec.caBundle holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;
    use kubefed_core::api::{KubeFedClusterSpec, LocalSecretReference};

    use super::*;

    fn ca_pem() -> String {
        kubefed_core::pki::CertificateAuthority::generate("test-ca", Duration::from_secs(3600))
            .expect("CA")
            .cert_pem
    }

    fn kfc(endpoint: &str, ca: Option<&str>) -> KubeFedCluster {
        KubeFedCluster::new(
            "c1",
            KubeFedClusterSpec {
                api_endpoint: endpoint.into(),
                ca_bundle: ca.map(|c| ByteString(c.as_bytes().to_vec())),
                secret_ref: LocalSecretReference {
                    name: "c1-token".into(),
                },
                ..Default::default()
            },
        )
    }

    fn token() -> Token {
        Token::Present("abc".into())
    }

    #[test]
    fn endpoints_kubefed_accepts() {
        for (given, want) in [
            ("https://10.0.0.1:6443", "https://10.0.0.1:6443/"),
            ("10.0.0.1:6443", "https://10.0.0.1:6443/"),
            ("api.example.com", "https://api.example.com/"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
        ] {
            let cfg = member_config(&kfc(given, None), &token()).expect(given);
            assert_eq!(cfg.cluster_url.to_string(), want, "{given}");
        }
    }

    #[test]
    fn malformed_configs_name_the_field() {
        let cases: [(&str, KubeFedCluster, Token, &str); 6] = [
            ("empty endpoint", kfc("", None), token(), "spec.apiEndpoint"),
            (
                "bad endpoint",
                kfc("https://exa mple", None),
                token(),
                "spec.apiEndpoint",
            ),
            ("ftp endpoint", kfc("ftp://host", None), token(), "https://"),
            (
                "ca not pem",
                kfc("https://h", Some("hello")),
                token(),
                "spec.caBundle",
            ),
            (
                "no secret",
                kfc("https://h", None),
                Token::SecretMissing,
                "does not exist",
            ),
            ("no key", kfc("https://h", None), Token::KeyMissing, "`token` key"),
        ];
        for (name, k, t, want) in cases {
            let err = member_config(&k, &t).err().map(|e| e.0).unwrap_or_default();
            assert!(err.contains(want), "{name}: {err:?} should mention {want:?}");
        }
    }

    #[test]
    fn ca_wildcard_tls_and_proxy() {
        let ca = ca_pem();
        let mut k = kfc("https://h:6443", Some(&ca));
        k.spec.disabled_tls_validations = vec![TlsValidation::All];
        k.spec.proxy_url = Some("socks5://proxy:1080".into());
        let cfg = member_config(&k, &token()).expect("valid");
        assert_eq!(cfg.root_cert.as_ref().map(Vec::len), Some(1));
        assert!(cfg.accept_invalid_certs);
        assert_eq!(
            cfg.proxy_url.map(|u| u.to_string()),
            Some("socks5://proxy:1080/".into())
        );

        k.spec.disabled_tls_validations = vec![TlsValidation::All, TlsValidation::SubjectName];
        assert!(member_config(&k, &token()).is_err());
        k.spec.disabled_tls_validations.clear();
        k.spec.proxy_url = Some("gopher://x".into());
        assert!(member_config(&k, &token()).is_err());
    }
}
