//! Connection hygiene and client authentication over real TCP on 127.0.0.1, with small limits: a TLS
//! connection that never sends a request and an idle keep-alive connection are closed after
//! `idle_timeout`; a slow request head is cut at `header_read_timeout`; connections past `max_connections`
//! are closed at accept; failed handshakes are counted by reason; with a client CA only clients presenting
//! a certificate it signed (and, with an allow-list, carrying an allowed name) get an answer, and a new CA
//! file is picked up without a restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use kube::core::admission::AdmissionResponse;
use kubefed_core::pki::{CertificateAuthority, CertifiedKey};
use kubefed_webhook::admission::{AdmitFuture, Request};
use kubefed_webhook::tls::client_auth::ClientCaSource;
use kubefed_webhook::{
    Admit, AppState, CertResolver, Endpoint, Limits, Metrics, Readiness, ServeOptions, TlsSlot, router,
    serve_endpoint, tls,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;

struct AllowAll;

impl Admit for AllowAll {
    fn validate<'a>(&'a self, request: &'a Request) -> AdmitFuture<'a> {
        Box::pin(std::future::ready(AdmissionResponse::from(request)))
    }

    fn mutate<'a>(&'a self, request: &'a Request) -> AdmitFuture<'a> {
        self.validate(request)
    }
}

const HOUR: Duration = Duration::from_secs(3600);

struct Server {
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    resolver: Arc<CertResolver>,
    _stop: oneshot::Sender<()>,
}

impl Server {
    fn metric(&self, line: &str) -> bool {
        self.metrics.encode().lines().any(|l| l == line)
    }

    async fn wait_metric(&self, line: &str) {
        let started = Instant::now();
        while !self.metric(line) {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "metric {line:?} not seen in\n{}",
                self.metrics.encode()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn serving(ca: &CertificateAuthority) -> CertifiedKey {
    ca.issue_serving(&["localhost".into()], &["127.0.0.1".parse().expect("ip")], HOUR)
        .expect("leaf")
}

/// Starts a server; `tls` builds its TLS slot from the resolver holding a certificate of `ca`.
async fn start_with(
    ca: &CertificateAuthority,
    options: ServeOptions,
    tls: impl FnOnce(Arc<CertResolver>, Arc<Metrics>) -> Arc<TlsSlot>,
) -> Server {
    let metrics = Arc::new(Metrics::new());
    let readiness = Readiness::default();
    readiness.set_caches_synced(true);
    let resolver = Arc::new(CertResolver::new(readiness.clone(), metrics.clone()));
    let leaf = serving(ca);
    resolver
        .load_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes(), "test")
        .expect("load");
    let app = router(AppState::new(
        Arc::new(AllowAll),
        metrics.clone(),
        readiness.clone(),
        Limits::default(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let endpoint = Endpoint {
        listener,
        tls: Some(tls(resolver.clone(), metrics.clone())),
        app,
        metrics: metrics.clone(),
        name: "webhook",
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_endpoint(endpoint, Some(readiness), options, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        metrics,
        resolver,
        _stop: stop,
    }
}

async fn start(ca: &CertificateAuthority, options: ServeOptions) -> Server {
    start_with(ca, options, |resolver, _| {
        Arc::new(TlsSlot::new(tls::server_config(resolver).expect("config")))
    })
    .await
}

fn client_config(
    ca: &CertificateAuthority,
    alpn: &[u8],
    cert: Option<&CertifiedKey>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).expect("pem"))
        .expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match cert {
        Some(c) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(c.cert_pem.as_bytes()).expect("cert")],
                PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).expect("key"),
            )
            .expect("client cert"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(config)
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
}

fn review() -> hyper::Request<Full<Bytes>> {
    let body = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "operation": "CREATE", "userInfo": {"username": "mallory"},
            "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
        }
    });
    hyper::Request::post("/validate")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request")
}

/// Sends one review over HTTP/1.1 on `tls`; the status, or the error that stopped it.
async fn post_review(tls: Tls) -> Result<u16, String> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let response = sender.send_request(review()).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    Ok(status)
}

/// Reads until the server closes the connection; how long that took.
async fn time_to_close(stream: &mut (impl AsyncReadExt + Unpin), limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Err(_) => panic!("still open after {limit:?}"),
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

fn small(options: ServeOptions) -> ServeOptions {
    ServeOptions {
        handshake_timeout: Duration::from_secs(2),
        header_read_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(400),
        ..options
    }
}

#[tokio::test]
async fn a_tls_connection_that_never_sends_a_request_is_closed_when_idle() {
    let ca = CertificateAuthority::generate("ca", HOUR).expect("ca");
    let server = start(&ca, small(ServeOptions::default())).await;
    for alpn in [&b"h2"[..], b"http/1.1"] {
        let mut tls = connect(server.addr, client_config(&ca, alpn, None))
            .await
            .expect("handshake");
        let took = time_to_close(&mut tls, Duration::from_secs(5)).await;
        assert!(took >= Duration::from_millis(300), "{took:?}");
    }
    server
        .wait_metric(
            r#"kubefed_webhook_connections_closed_total{listener="webhook",reason="idle_timeout"} 2"#,
        )
        .await;
    server
        .wait_metric(r#"kubefed_webhook_connections_open{listener="webhook"} 0"#)
        .await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_and_a_busy_one_is_not() {
    let ca = CertificateAuthority::generate("ca", HOUR).expect("ca");
    let server = start(&ca, small(ServeOptions::default())).await;
    let tls = connect(server.addr, client_config(&ca, b"h2", None))
        .await
        .expect("handshake");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2");
    let conn = tokio::spawn(conn);
    // Requests every 200 ms for 1.2 s, three times the idle timeout: the connection stays.
    for _ in 0..6 {
        let response = sender.send_request(review()).await.expect("served");
        assert_eq!(response.status(), 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Then silence: closed (GOAWAY), and the client's connection task ends.
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("closed after idling")
        .expect("task")
        .expect("clean close");
    assert!(
        server.metric(
            r#"kubefed_webhook_connections_closed_total{listener="webhook",reason="idle_timeout"} 1"#
        )
    );
}

#[tokio::test]
async fn a_slow_request_head_is_cut_at_the_header_timeout() {
    let ca = CertificateAuthority::generate("ca", HOUR).expect("ca");
    let options = ServeOptions {
        idle_timeout: Duration::from_secs(30),
        ..small(ServeOptions::default())
    };
    let server = start(&ca, options).await;
    let mut tls = connect(server.addr, client_config(&ca, b"http/1.1", None))
        .await
        .expect("handshake");
    // Enough for hyper to choose HTTP/1, then the head trickles and never ends.
    tls.write_all(b"POST /validate HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("write");
    let trickle = async {
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if tls.write_all(b"x-slow: 1\r\n").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), trickle).await;
    let took = time_to_close(&mut tls, Duration::from_secs(1)).await;
    assert!(took < Duration::from_secs(1));
    server
        .wait_metric(
            r#"kubefed_webhook_connections_closed_total{listener="webhook",reason="header_timeout"} 1"#,
        )
        .await;
}

#[tokio::test]
async fn connections_past_the_limit_are_closed_at_accept() {
    let ca = CertificateAuthority::generate("ca", HOUR).expect("ca");
    let options = ServeOptions {
        max_connections: 2,
        idle_timeout: Duration::from_secs(30),
        ..ServeOptions::default()
    };
    let server = start(&ca, options).await;
    let config = client_config(&ca, b"http/1.1", None);
    let first = connect(server.addr, config.clone()).await.expect("first");
    let second = connect(server.addr, config.clone()).await.expect("second");
    server
        .wait_metric(r#"kubefed_webhook_connections_open{listener="webhook"} 2"#)
        .await;
    assert!(
        connect(server.addr, config.clone()).await.is_err(),
        "third is refused"
    );
    server
        .wait_metric(r#"kubefed_webhook_connections_rejected_total{listener="webhook",reason="limit"} 1"#)
        .await;
    // Open connections keep working; a freed slot is usable again.
    assert_eq!(post_review(first).await, Ok(200));
    drop(second);
    server
        .wait_metric(r#"kubefed_webhook_connections_open{listener="webhook"} 0"#)
        .await;
    let again = connect(server.addr, config).await.expect("after slots freed");
    assert_eq!(post_review(again).await, Ok(200));
}

#[tokio::test]
async fn failed_handshakes_are_counted_by_reason() {
    let ca = CertificateAuthority::generate("ca", HOUR).expect("ca");
    let options = ServeOptions {
        handshake_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    let server = start(&ca, options).await;
    // Plain HTTP to the TLS port.
    let mut plain = TcpStream::connect(server.addr).await.expect("tcp");
    plain
        .write_all(b"POST /validate HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .await
        .expect("write");
    time_to_close(&mut plain, Duration::from_secs(5)).await;
    // Connects and says nothing.
    let mut silent = TcpStream::connect(server.addr).await.expect("tcp");
    time_to_close(&mut silent, Duration::from_secs(5)).await;
    // Connects and leaves.
    drop(TcpStream::connect(server.addr).await.expect("tcp"));
    for reason in ["protocol", "timeout", "closed"] {
        server
            .wait_metric(&format!(
                r#"kubefed_webhook_tls_handshake_failures_total{{listener="webhook",reason="{reason}"}} 1"#
            ))
            .await;
    }
}

#[tokio::test]
async fn with_a_client_ca_only_its_clients_with_allowed_names_are_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("client-ca.crt");
    let server_ca = CertificateAuthority::generate("serving", HOUR).expect("ca");
    let clients = CertificateAuthority::generate("apiserver-clients", HOUR).expect("ca");
    let strangers = CertificateAuthority::generate("strangers", HOUR).expect("ca");
    std::fs::write(&ca_file, &clients.cert_pem).expect("write ca");
    let apiserver = clients.issue_client("kube-apiserver", &[], HOUR).expect("cert");
    let mallory = clients.issue_client("mallory", &[], HOUR).expect("cert");
    let stranger = strangers.issue_client("kube-apiserver", &[], HOUR).expect("cert");

    let source = std::sync::Mutex::new(None);
    let server = start_with(&server_ca, ServeOptions::default(), |resolver, metrics| {
        let s =
            ClientCaSource::load(&ca_file, vec!["kube-apiserver".into()], resolver, metrics).expect("load");
        let slot = s.slot();
        *source.lock().expect("lock") = Some(s);
        slot
    })
    .await;
    let mut source = source.lock().expect("lock").take().expect("source");

    let attempt = |cert: Option<CertifiedKey>| {
        let config = client_config(&server_ca, b"http/1.1", cert.as_ref());
        let addr = server.addr;
        async move {
            match connect(addr, config).await {
                Ok(tls) => post_review(tls).await,
                Err(e) => Err(e.to_string()),
            }
        }
    };
    assert_eq!(
        attempt(Some(apiserver.clone())).await,
        Ok(200),
        "the API server is served"
    );
    assert!(attempt(None).await.is_err(), "no certificate: refused at TLS");
    assert!(
        attempt(Some(stranger.clone())).await.is_err(),
        "another CA: refused"
    );
    assert!(attempt(Some(mallory)).await.is_err(), "name not allowed: refused");
    for reason in [
        "no_client_certificate",
        "bad_client_certificate",
        "client_name_not_allowed",
    ] {
        server
            .wait_metric(&format!(
                r#"kubefed_webhook_tls_handshake_failures_total{{listener="webhook",reason="{reason}"}} 1"#
            ))
            .await;
    }
    // No admission request reached HTTP but the allowed one.
    assert!(
        server.metric(r#"kubefed_webhook_admission_requests_total{path="/validate",result="allowed"} 1"#)
    );

    // A bad file keeps the previous CA; a new CA file is used for new connections without a restart.
    std::fs::write(&ca_file, b"not a certificate").expect("write junk");
    assert!(source.poll().await.is_err());
    assert_eq!(
        attempt(Some(apiserver.clone())).await,
        Ok(200),
        "kept the previous CA"
    );
    std::fs::write(&ca_file, &strangers.cert_pem).expect("write new ca");
    assert!(source.poll().await.expect("reload"));
    assert_eq!(
        attempt(Some(stranger)).await,
        Ok(200),
        "the new CA's client is served"
    );
    assert!(
        attempt(Some(apiserver)).await.is_err(),
        "the old CA's client is not"
    );
    assert!(server.metric(r#"kubefed_webhook_client_ca_reloads_total{result="failure"} 1"#));
    assert!(server.metric(r#"kubefed_webhook_client_ca_reloads_total{result="success"} 2"#));
    // The serving certificate still swaps independently of the client CA.
    let next = serving(&server_ca);
    assert!(
        server
            .resolver
            .load_pem(next.cert_pem.as_bytes(), next.key_pem.as_bytes(), "test")
            .expect("swap")
    );
}
