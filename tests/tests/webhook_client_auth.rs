//! The webhook hears only the API server, and a configuration created late still gets its caBundle.
//!
//! A host kube-apiserver is started with an `--admission-control-config-file` whose webhook kubeconfig
//! gives it a client certificate (signed by a "webhook clients" CA made here) for the webhook's host. The
//! real `kubefed-webhook` binary runs with `--client-ca` (that CA), `--client-allowed-names
//! kube-apiserver` and `--probe-listen`. Then:
//!
//! 1. the webhook configurations are created *after* the webhook is up, without a caBundle: the webhook's
//!    watch fills it in under 10 s;
//! 2. `kubectl create` of a federated object through the API server is admitted (the API server presented
//!    its certificate);
//! 3. a forged AdmissionReview POSTed straight to the webhook — with no client certificate, or with one from
//!    another CA — is refused in the TLS handshake, never reaches the decisions, and is counted in
//!    `/metrics` (served on the probe port, which serves no admission path).
//!
//! Its own testbed (one host, no members): the admission configuration is an API server start flag.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kubefed_core::pki::CertificateAuthority;
use kubefed_tests::fixtures::install_kubefed;
use kubefed_tests::process::{free_port, tail};
use kubefed_tests::testbed::HOST;
use kubefed_tests::webhook;
use kubefed_tests::{ClusterOptions, Testbed, TestbedOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const WEBHOOK_NAMESPACE: &str = "kubefed-webhook-client-auth";
const CONFIG_NAME: &str = "kubefed-client-auth-e2e";
const DAY: Duration = Duration::from_secs(86_400);

fn write(path: &Path, text: &str) -> TestResult {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()).into())
}

/// The API server's admission configuration: both webhook plugins read `kubeconfig`, which holds the client
/// certificate presented to the webhook at `host` (`127.0.0.1:PORT`, as in the webhook's URL).
fn admission_files(dir: &Path, host: &str, cert: &Path, key: &Path) -> TestResult<PathBuf> {
    let kubeconfig = dir.join("webhook-kubeconfig.yaml");
    write(
        &kubeconfig,
        &format!(
            "apiVersion: v1\nkind: Config\nusers:\n- name: \"{host}\"\n  user:\n    client-certificate: {}\n    client-key: {}\n",
            cert.display(),
            key.display()
        ),
    )?;
    let config = dir.join("admission-config.yaml");
    let plugin = |name: &str| {
        format!(
            "- name: {name}\n  configuration:\n    apiVersion: apiserver.config.k8s.io/v1\n    kind: WebhookAdmissionConfiguration\n    kubeConfigFile: {}\n",
            kubeconfig.display()
        )
    };
    write(
        &config,
        &format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n{}{}",
            plugin("ValidatingAdmissionWebhook"),
            plugin("MutatingAdmissionWebhook")
        ),
    )?;
    Ok(config)
}

/// `GET path` over plain HTTP on the probe port: status and body.
async fn probe_get(port: u16, path: &str) -> TestResult<(u16, String)> {
    probe_request(
        port,
        &format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"),
    )
    .await
}

async fn probe_request(port: u16, raw: &str) -> TestResult<(u16, String)> {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.write_all(raw.as_bytes()).await?;
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut text)).await??;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    Ok((status, text))
}

/// The sum of the metric lines starting with `prefix` (0 when absent).
async fn metric(probe_port: u16, prefix: &str) -> TestResult<f64> {
    let (_, text) = probe_get(probe_port, "/metrics").await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|v| v.parse::<f64>().ok())
        .sum())
}

/// The caBundle of every webhook of the configuration, when all have one.
async fn ca_bundles(api: &Api<DynamicObject>) -> TestResult<Option<Vec<String>>> {
    let config = api.get(CONFIG_NAME).await?;
    let webhooks = config.data["webhooks"].as_array().cloned().unwrap_or_default();
    let bundles: Vec<String> = webhooks
        .iter()
        .filter_map(|w| w["clientConfig"]["caBundle"].as_str().map(str::to_owned))
        .filter(|b| !b.is_empty())
        .collect();
    Ok((!webhooks.is_empty() && bundles.len() == webhooks.len()).then_some(bundles))
}

/// A direct POST of a forged review to the webhook, as a client trusting its CA, with `client_cert` (PEM
/// certificate and key) or none. `Err` is how the refusal shows.
async fn forged_review(
    port: u16,
    ca_der: Vec<Vec<u8>>,
    client_cert: Option<(&str, &str)>,
) -> Result<String, String> {
    let uri: http::Uri = format!("https://127.0.0.1:{port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let mut config = kube::Config::new(uri);
    config.root_cert = Some(ca_der);
    config.connect_timeout = Some(Duration::from_secs(5));
    if let Some((cert, key)) = client_cert {
        config.auth_info.client_certificate_data = Some(base64_encode(cert.as_bytes()));
        config.auth_info.client_key_data = Some(base64_encode(key.as_bytes()).into());
    }
    let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "forged-1", "kind": {"group": "types.kubefed.io", "version": "v1beta1",
                    "kind": "FederatedClusterRole"},
                    "resource": {"group": "types.kubefed.io", "version": "v1beta1",
                                 "resource": "federatedclusterroles"},
                    "name": "forged", "operation": "CREATE", "userInfo": {"username": "mallory"},
                    "object": {"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedClusterRole",
                               "metadata": {"name": "forged"}, "spec": {"template": {}}}}});
    let request = http::Request::post("/validate")
        .header("content-type", "application/json")
        .body(review.to_string().into_bytes())
        .map_err(|e| e.to_string())?;
    client.request_text(request).await.map_err(|e| format!("{e:?}"))
}

fn base64_encode(bytes: &[u8]) -> String {
    // ByteString serializes as base64, which is what kubeconfig *-data fields hold.
    serde_json::to_value(k8s_openapi::ByteString(bytes.to_vec()))
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn pem_der(pem: &str) -> Vec<Vec<u8>> {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .map(|c| c.to_vec())
        .collect()
}

#[tokio::test]
async fn only_the_api_server_is_heard_and_a_late_configuration_gets_its_ca_bundle() -> TestResult {
    let files = tempfile::tempdir()?;
    let (port, probe_port) = (free_port()?, free_port()?);
    let clients = CertificateAuthority::generate("kubefed-e2e-webhook-clients", DAY)?;
    let apiserver_cert = clients.issue_client("kube-apiserver", &[], DAY)?;
    let (cert_file, key_file, ca_file) = (
        files.path().join("apiserver-client.crt"),
        files.path().join("apiserver-client.key"),
        files.path().join("client-ca.crt"),
    );
    write(&cert_file, &apiserver_cert.cert_pem)?;
    write(&key_file, &apiserver_cert.key_pem)?;
    write(&ca_file, &clients.cert_pem)?;
    let admission = admission_files(files.path(), &format!("127.0.0.1:{port}"), &cert_file, &key_file)?;

    let tb = Testbed::start(TestbedOptions {
        members: 0,
        cluster: ClusterOptions {
            controller_manager: false,
            extra_apiserver_args: vec![format!("--admission-control-config-file={}", admission.display())],
        },
        ..TestbedOptions::default()
    })?;
    let host = install_kubefed(&tb).await?;
    Api::<Namespace>::all(host.clone())
        .patch(
            WEBHOOK_NAMESPACE,
            &PatchParams::apply("client-auth-tests").force(),
            &Patch::Apply(&json!({"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": WEBHOOK_NAMESPACE}})),
        )
        .await?;

    let log = tb.dir.join("kubefed-webhook.log");
    let (probe_listen, client_ca) = (format!("127.0.0.1:{probe_port}"), ca_file.display().to_string());
    let extra = [
        "--probe-listen",
        &probe_listen,
        "--client-ca",
        &client_ca,
        "--client-allowed-names",
        "kube-apiserver",
    ];
    let _webhook = webhook::spawn(&tb, port, WEBHOOK_NAMESPACE, CONFIG_NAME, &extra, &log)?;
    let failed = |what: String| -> Box<dyn std::error::Error + Send + Sync> {
        format!("{what}; webhook log {}:\n{}", log.display(), tail(&log, 30)).into()
    };

    // Ready, as a kubelet sees it: plain HTTP on the probe port, no client certificate.
    let started = Instant::now();
    loop {
        if let Ok((200, _)) = probe_get(probe_port, "/readyz").await {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            return Err(failed(
                "the webhook's /readyz did not answer 200 within 120s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The probe port decides nothing.
    let (status, _) = probe_request(
        probe_port,
        "POST /validate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    )
    .await?;
    assert_eq!(status, 404, "the probe port must not serve admission");

    // 1. Configurations created after the webhook started get their caBundle within 10 s.
    let registered = Instant::now();
    let registration = webhook::Registration {
        config_name: CONFIG_NAME,
        manager: "client-auth-tests",
        rules: webhook::federated_types_rules(),
        excluded_namespace: None,
    };
    let configs = webhook::register(&host, port, &registration).await?;
    let mut bundle = None;
    while registered.elapsed() < Duration::from_secs(10) {
        let (m, v) = (ca_bundles(&configs[0]).await?, ca_bundles(&configs[1]).await?);
        if let (Some(m), Some(v)) = (m, v) {
            bundle = Some(m[0].clone());
            assert_eq!(m, v, "both configurations carry the same bundle");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let bundle =
        bundle.ok_or_else(|| failed("no caBundle within 10s of creating the configurations".into()))?;
    eprintln!(
        "caBundle published {:?} after the configurations were created",
        registered.elapsed()
    );

    // 2. Through the API server (which presents its client certificate): admitted.
    let object = files.path().join("object.json");
    write(
        &object,
        &json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedClusterRole",
                "metadata": {"name": "kubefed-client-auth-e2e"},
                "spec": {"template": {"rules": []}, "placement": {"clusters": []}}})
        .to_string(),
    )?;
    let allowed_before = metric(
        probe_port,
        r#"kubefed_webhook_admission_requests_total{path="/validate",result="allowed"}"#,
    )
    .await?;
    let started = Instant::now();
    loop {
        let out = tb.kubectl(&["--context", HOST, "create", "-f", &object.display().to_string()])?;
        if out.status.success() {
            break;
        }
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if started.elapsed() > Duration::from_secs(30) {
            return Err(failed(format!(
                "kubectl create through the API server failed: {stderr}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let allowed_after = metric(
        probe_port,
        r#"kubefed_webhook_admission_requests_total{path="/validate",result="allowed"}"#,
    )
    .await?;
    assert!(
        allowed_after > allowed_before,
        "the review came through the webhook"
    );

    // 3. Forged reviews straight to the webhook: refused in the TLS handshake, counted, never decided.
    let ca_pem = String::from_utf8(pem_bundle_bytes(&bundle).ok_or("caBundle is not base64")?)?;
    let no_cert =
        r#"kubefed_webhook_tls_handshake_failures_total{listener="webhook",reason="no_client_certificate"}"#;
    let bad_cert =
        r#"kubefed_webhook_tls_handshake_failures_total{listener="webhook",reason="bad_client_certificate"}"#;
    let requests = r#"kubefed_webhook_admission_requests_total{path="/validate""#;
    let before = (
        metric(probe_port, no_cert).await?,
        metric(probe_port, bad_cert).await?,
    );
    let decided_before = metric(probe_port, requests).await?;

    let answer = forged_review(port, pem_der(&ca_pem), None).await;
    assert!(
        answer.is_err(),
        "a review without a client certificate was answered: {answer:?}"
    );
    let strangers = CertificateAuthority::generate("strangers", DAY)?;
    let mallory = strangers.issue_client("kube-apiserver", &[], DAY)?;
    let answer = forged_review(
        port,
        pem_der(&ca_pem),
        Some((&mallory.cert_pem, &mallory.key_pem)),
    )
    .await;
    assert!(
        answer.is_err(),
        "a review with another CA's certificate was answered: {answer:?}"
    );

    let after = (
        metric(probe_port, no_cert).await?,
        metric(probe_port, bad_cert).await?,
    );
    assert!(
        after.0 > before.0,
        "no-certificate handshake not counted: {before:?} -> {after:?}"
    );
    assert!(
        after.1 > before.1,
        "bad-certificate handshake not counted: {before:?} -> {after:?}"
    );
    assert_eq!(
        metric(probe_port, requests).await?,
        decided_before,
        "a forged review reached the decisions"
    );
    Ok(())
}

/// Decodes the base64 `caBundle` as it appears in JSON.
fn pem_bundle_bytes(b64: &str) -> Option<Vec<u8>> {
    let value: k8s_openapi::ByteString = serde_json::from_value(Value::String(b64.to_owned())).ok()?;
    Some(value.0)
}
