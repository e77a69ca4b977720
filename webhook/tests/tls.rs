//! The real listener on 127.0.0.1 with TLS: HTTP/1.1 and HTTP/2 round trips, a certificate swap that new
//! connections see while old ones keep working, handshake timeout, refused handshakes that harm nobody,
//! and graceful shutdown that lets an in-flight request finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube::core::admission::AdmissionResponse;
use kubefed_core::pki::{CertificateAuthority, CertifiedKey};
use kubefed_webhook::admission::{AdmitFuture, Request};
use kubefed_webhook::{
    Admit, AppState, CertResolver, Limits, Metrics, Readiness, ServeOptions, router, serve, tls,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;

/// Allows everything; objects of kind `Slow` take 300 ms.
struct SlowOrAllow;

impl Admit for SlowOrAllow {
    fn validate<'a>(&'a self, request: &'a Request) -> AdmitFuture<'a> {
        Box::pin(async move {
            if request.kind.kind == "Slow" {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            AdmissionResponse::from(request)
        })
    }

    fn mutate<'a>(&'a self, request: &'a Request) -> AdmitFuture<'a> {
        self.validate(request)
    }
}

struct Server {
    addr: SocketAddr,
    resolver: Arc<CertResolver>,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

fn leaf(ca: &CertificateAuthority) -> CertifiedKey {
    ca.issue_serving(
        &["localhost".into()],
        &["127.0.0.1".parse().expect("ip")],
        Duration::from_secs(3600),
    )
    .expect("leaf")
}

async fn start(first: &CertifiedKey, options: ServeOptions) -> Server {
    let metrics = Arc::new(Metrics::new());
    let readiness = Readiness::default();
    readiness.set_caches_synced(true);
    let resolver = Arc::new(CertResolver::new(readiness.clone(), metrics.clone()));
    resolver
        .load_pem(first.cert_pem.as_bytes(), first.key_pem.as_bytes(), "test")
        .expect("load");
    let app = router(AppState::new(
        Arc::new(SlowOrAllow),
        metrics,
        readiness.clone(),
        Limits::default(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = tls::server_config(resolver.clone()).expect("config");
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(serve(listener, config, app, readiness, options, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        resolver,
        stop: Some(stop),
        done,
    }
}

fn client_config(cas: &[&CertificateAuthority], alpn: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        roots.add(pem_der(&ca.cert_pem)).expect("root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    // A resumed session presents no certificate; every connection here must show the one in use.
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    TlsConnector::from(config).connect(name, tcp).await
}

fn peer_leaf(tls: &Tls) -> CertificateDer<'static> {
    tls.get_ref().1.peer_certificates().expect("peer certs")[0]
        .clone()
        .into_owned()
}

fn pem_der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("pem")
}

fn review(uid: &str, kind: &str) -> hyper::Request<Full<Bytes>> {
    let body = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid, "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "things"},
            "operation": "CREATE", "userInfo": {"username": "alice"},
            "object": {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}}
        }
    });
    hyper::Request::post("/validate")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request")
}

async fn read_uid(response: hyper::Response<hyper::body::Incoming>) -> String {
    assert_eq!(response.status(), 200);
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(value["response"]["allowed"], true);
    value["response"]["uid"].as_str().expect("uid").to_owned()
}

async fn http1(tls: Tls) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("h1 handshake");
    tokio::spawn(conn);
    sender
}

async fn http2(tls: Tls) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
        .await
        .expect("h2 handshake");
    tokio::spawn(conn);
    sender
}

#[tokio::test]
async fn http1_and_http2_round_trips_and_a_cert_swap_without_breaking_connections() {
    let ca1 = CertificateAuthority::generate("ca-1", Duration::from_secs(7200)).expect("ca1");
    let ca2 = CertificateAuthority::generate("ca-2", Duration::from_secs(7200)).expect("ca2");
    let (a, b) = (leaf(&ca1), leaf(&ca2));
    let server = start(&a, ServeOptions::default()).await;
    let h1_config = client_config(&[&ca1, &ca2], b"http/1.1");
    let h2_config = client_config(&[&ca1, &ca2], b"h2");

    let tls = connect(server.addr, h1_config.clone()).await.expect("connect h1");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(peer_leaf(&tls), pem_der(&a.cert_pem));
    let mut old_h1 = http1(tls).await;
    assert_eq!(
        read_uid(
            old_h1
                .send_request(review("h1-1", "ConfigMap"))
                .await
                .expect("send")
        )
        .await,
        "h1-1"
    );

    let tls = connect(server.addr, h2_config.clone()).await.expect("connect h2");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut old_h2 = http2(tls).await;
    assert_eq!(
        read_uid(
            old_h2
                .send_request(review("h2-1", "ConfigMap"))
                .await
                .expect("send")
        )
        .await,
        "h2-1"
    );

    // Swap to a certificate from another CA.
    assert!(
        server
            .resolver
            .load_pem(b.cert_pem.as_bytes(), b.key_pem.as_bytes(), "test")
            .expect("swap")
    );

    // New connections see the new certificate...
    let tls = connect(server.addr, h1_config.clone())
        .await
        .expect("connect after swap");
    assert_eq!(peer_leaf(&tls), pem_der(&b.cert_pem));
    let mut new_h1 = http1(tls).await;
    assert_eq!(
        read_uid(
            new_h1
                .send_request(review("h1-new", "ConfigMap"))
                .await
                .expect("send")
        )
        .await,
        "h1-new"
    );

    // ...a client trusting only the old CA is refused, and that harms nobody else...
    let old_only = client_config(&[&ca1], b"http/1.1");
    assert!(
        connect(server.addr, old_only).await.is_err(),
        "new cert is not signed by ca-1"
    );

    // ...and connections made before the swap keep working.
    for i in 0..3 {
        let uid = format!("h1-old-{i}");
        assert_eq!(
            read_uid(
                old_h1
                    .send_request(review(&uid, "ConfigMap"))
                    .await
                    .expect("send")
            )
            .await,
            uid
        );
        let uid = format!("h2-old-{i}");
        assert_eq!(
            read_uid(
                old_h2
                    .send_request(review(&uid, "ConfigMap"))
                    .await
                    .expect("send")
            )
            .await,
            uid
        );
    }

    // Concurrent streams on one HTTP/2 connection.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let mut sender = old_h2.clone();
            tokio::spawn(async move {
                read_uid(
                    sender
                        .send_request(review(&format!("s{i}"), "ConfigMap"))
                        .await
                        .expect("send"),
                )
                .await
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.expect("task"), format!("s{i}"));
    }
}

#[tokio::test]
async fn silent_clients_are_dropped_after_the_handshake_timeout() {
    let ca = CertificateAuthority::generate("ca", Duration::from_secs(7200)).expect("ca");
    let options = ServeOptions {
        handshake_timeout: Duration::from_millis(200),
        ..ServeOptions::default()
    };
    let server = start(&leaf(&ca), options).await;
    let mut silent = TcpStream::connect(server.addr).await.expect("tcp");
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf))
        .await
        .expect("closed in time");
    assert_eq!(n.unwrap_or(0), 0, "server closes without a word");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );

    // Meanwhile the server serves others.
    let tls = connect(server.addr, client_config(&[&ca], b"http/1.1"))
        .await
        .expect("connect");
    let mut sender = http1(tls).await;
    assert_eq!(
        read_uid(
            sender
                .send_request(review("after", "ConfigMap"))
                .await
                .expect("send")
        )
        .await,
        "after"
    );
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let ca = CertificateAuthority::generate("ca", Duration::from_secs(7200)).expect("ca");
    let mut server = start(&leaf(&ca), ServeOptions::default()).await;
    let tls = connect(server.addr, client_config(&[&ca], b"http/1.1"))
        .await
        .expect("connect");
    let mut sender = http1(tls).await;
    let in_flight = tokio::spawn(async move { sender.send_request(review("slow-1", "Slow")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;

    let _ = server.stop.take().expect("stop").send(());
    let response = in_flight
        .await
        .expect("task")
        .expect("the in-flight request is answered");
    assert_eq!(read_uid(response).await, "slow-1");
    tokio::time::timeout(Duration::from_secs(5), server.done)
        .await
        .expect("serve returns")
        .expect("no panic");
    assert!(TcpStream::connect(server.addr).await.is_err(), "listener closed");
}

#[tokio::test]
async fn oversized_bodies_get_a_readable_413_over_http1_and_http2() {
    let ca = CertificateAuthority::generate("ca", Duration::from_secs(7200)).expect("ca");
    let server = start(&leaf(&ca), ServeOptions::default()).await;
    let big = || {
        hyper::Request::post("/validate")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(vec![b' '; 7_000_000])))
            .expect("request")
    };
    let check = |response: hyper::Response<hyper::body::Incoming>| async move {
        assert_eq!(response.status(), 413);
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(value["reason"], "RequestEntityTooLarge");
    };
    let tls = connect(server.addr, client_config(&[&ca], b"http/1.1"))
        .await
        .expect("connect");
    let mut h1 = http1(tls).await;
    check(h1.send_request(big()).await.expect("h1 answer")).await;
    // The connection survives and serves the next request.
    assert_eq!(
        read_uid(
            h1.send_request(review("after-413", "ConfigMap"))
                .await
                .expect("send")
        )
        .await,
        "after-413"
    );

    let tls = connect(server.addr, client_config(&[&ca], b"h2"))
        .await
        .expect("connect");
    let mut h2 = http2(tls).await;
    check(h2.send_request(big()).await.expect("h2 answer")).await;
    assert_eq!(
        read_uid(
            h2.send_request(review("after-413-h2", "ConfigMap"))
                .await
                .expect("send")
        )
        .await,
        "after-413-h2"
    );
}

#[tokio::test]
async fn shutdown_delay_keeps_accepting_while_readyz_fails() {
    let ca = CertificateAuthority::generate("ca", Duration::from_secs(7200)).expect("ca");
    let options = ServeOptions {
        shutdown_delay: Duration::from_millis(400),
        ..ServeOptions::default()
    };
    let mut server = start(&leaf(&ca), options).await;
    let _ = server.stop.take().expect("stop").send(());
    tokio::time::sleep(Duration::from_millis(50)).await;

    let tls = connect(server.addr, client_config(&[&ca], b"http/1.1"))
        .await
        .expect("still accepting");
    let mut sender = http1(tls).await;
    let readyz = hyper::Request::get("/readyz")
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))
        .expect("req");
    let response = sender.send_request(readyz).await.expect("readyz");
    assert_eq!(response.status(), 503);
    let body = response.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"not ready: shutting down\n");
    assert_eq!(
        read_uid(
            sender
                .send_request(review("late", "ConfigMap"))
                .await
                .expect("send")
        )
        .await,
        "late"
    );

    tokio::time::timeout(Duration::from_secs(5), server.done)
        .await
        .expect("serve returns")
        .expect("no panic");
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "listener closed after the delay"
    );
}
