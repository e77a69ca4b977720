//! `kubefed-webhook-bench`: AdmissionReview round trips over TLS with keep-alive against one in-process
//! webhook, at fixed concurrency, reporting p50/p90/p99/p99.9/max latency and requests per second.
//!
//! The server and the load generator run on separate Tokio runtimes (`--server-threads`,
//! `--client-threads`) so the figures say how much the webhook does with the cores it is given. Closed loop
//! by default (each connection sends its next request when the previous answer arrives: peak throughput);
//! with `--rate` it is open loop at that total rate, and a request held back by a late answer counts its
//! latency from the moment it was due, so a stall is not hidden by the requests it delayed (no coordinated
//! omission).
//!
//! Every run is bounded in time (`--warmup` + `--duration`) and count (`--max-requests`), and talks only to
//! 127.0.0.1.
//!
//! Scenarios: `allow-all` (the floor: the full HTTP, TLS and AdmissionReview path with a constant
//! "allowed") and `validate-policies` (the webhook's real decisions with `--policies` FederationPolicies,
//! namespace consistency and cached `propagate` checks; see [`admit_for`]).

/// A decision allocates many small JSON values per request; glibc malloc spent a quarter of the
/// webhook's CPU on them (perf), mimalloc much less.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};

use kubefed_core::admission::{Settings, Snapshot, TypeEntry};
use kubefed_core::api::{FederatedTypeConfig, FederationPolicy, Placement};
use kubefed_core::pki::CertificateAuthority;
use kubefed_core::placement::ClusterInfo;
use kubefed_webhook::config::parse_duration;
use kubefed_webhook::sar::FixedReviewer;
use kubefed_webhook::{
    Admit, AllowAll, AppState, CacheTtl, CertResolver, Decisions, Limits, Metrics, PropagateAuthorizer,
    Readiness, ServeOptions, StaticSnapshot, router, serve, tls,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Constant "allowed": the serving floor.
    AllowAll,
    /// Validation of a FederatedDeployment against --policies FederationPolicies.
    ValidatePolicies,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Protocol {
    /// HTTP/1.1 with keep-alive, one request at a time per connection.
    Http1,
    /// HTTP/2, one stream at a time per connection.
    Http2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// AdmissionReview round trips over TLS against an in-process kubefed-webhook.
#[derive(Debug, Parser)]
#[command(name = "kubefed-webhook-bench", version)]
struct BenchArgs {
    /// What the webhook decides.
    #[arg(long, value_enum, default_value_t = Scenario::AllowAll)]
    scenario: Scenario,
    /// Number of FederationPolicies for --scenario validate-policies.
    #[arg(long, default_value_t = 10)]
    policies: usize,
    /// Keep-alive connections, each with one request in flight.
    #[arg(long, short = 'c', default_value_t = 16)]
    concurrency: usize,
    /// Measured time (after --warmup).
    #[arg(long, short = 'd', default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured time first (connections, caches, CPU frequency settle).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Stop after this many requests in total, whatever the time.
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    /// Total requests per second (open loop); 0 = as fast as answers come (closed loop).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// HTTP version.
    #[arg(long, value_enum, default_value_t = Protocol::Http1)]
    protocol: Protocol,
    /// Worker threads of the webhook's runtime.
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// The decisions for a scenario. `ValidatePolicies` is the webhook's real [`Decisions`] over a fixed
/// snapshot (see [`bench_snapshot`]) with the real `propagate` cache in front of a reviewer that allows
/// everything (after the first request of a connection's identity, every check is a cache hit, as in steady
/// state with the 30 s TTL).
fn admit_for(scenario: Scenario, policies: usize) -> anyhow::Result<Arc<dyn Admit>> {
    match scenario {
        Scenario::AllowAll => Ok(Arc::new(AllowAll)),
        Scenario::ValidatePolicies => {
            let snapshot = bench_snapshot(policies);
            // The benchmark request must pass every policy: a denial would be a cheaper path.
            let review = review_body("check");
            let request = kubefed_webhook::admission::decode_review(&review)?;
            let decision =
                kubefed_core::admission::validate(&kubefed_webhook::decisions::input_of(&request), &snapshot);
            if !decision.allowed() {
                bail!(
                    "the benchmark request is denied by the benchmark policies: {}",
                    decision.message()
                );
            }
            let authorizer = PropagateAuthorizer::new(Arc::new(FixedReviewer(true)), CacheTtl::default());
            Ok(Arc::new(Decisions::new(
                Arc::new(StaticSnapshot(Arc::new(snapshot))),
                Arc::new(authorizer),
                None,
            )))
        }
    }
}

/// Six clusters in three regions, the `shop` namespace federated to all of them, the default type configs,
/// and `n` FederationPolicies that select the benchmark's object in turn by namespace label, by kind, or not
/// at all, with allow lists by label, deny lists by name, min/max counts and a region spread — all of which
/// the benchmark request satisfies, so every rule is evaluated on every request.
fn bench_snapshot(n: usize) -> Snapshot {
    let cluster = |name: &str, region: &str, tier: &str| {
        ClusterInfo::new(
            name,
            BTreeMap::from([
                ("topology.kubernetes.io/region".to_string(), region.to_string()),
                ("tier".to_string(), tier.to_string()),
            ]),
            true,
        )
    };
    let clusters = vec![
        cluster("eu-1", "eu", "prod"),
        cluster("eu-2", "eu", "prod"),
        cluster("eu-3", "eu", "dev"),
        cluster("us-1", "us", "prod"),
        cluster("us-2", "us", "dev"),
        cluster("ap-1", "ap", "prod"),
    ];
    let all: Placement =
        serde_json::from_value(serde_json::json!({"clusterSelector": {}})).unwrap_or_default();
    let policies = (0..n)
        .map(|i| {
            let spec = match i % 5 {
                0 => serde_json::json!({
                    "match": {"namespaceSelector": {"matchLabels": {"team": "shop"}}},
                    "allowedClusters": {"selector": {"matchExpressions": [{"key": "topology.kubernetes.io/region",
                        "operator": "In", "values": ["eu", "us"]}]}},
                    "minClusters": 2}),
                1 => serde_json::json!({
                    "match": {"kinds": ["FederatedDeployment", "FederatedStatefulSet"]},
                    "deniedClusters": {"names": ["ap-1", "cn-1"], "selector": {"matchLabels": {"tier": "legacy"}}},
                    "maxClusters": 5}),
                2 => serde_json::json!({
                    "enforcement": "Warn",
                    "spread": [{"label": "topology.kubernetes.io/region", "minDistinct": 2}],
                    "defaultPlacement": {"clusterSelector": {"matchLabels": {"tier": "prod"}}}}),
                3 => serde_json::json!({
                    "match": {"namespaceSelector": {"matchLabels": {"team": "ads"}}},
                    "allowedClusters": {"names": ["us-2"]}}),
                _ => serde_json::json!({
                    "enforcement": "Audit",
                    "match": {"kinds": ["Deployment"]},
                    "allowedClusters": {"selector": {"matchLabels": {"tier": "prod"}}},
                    "minClusters": 3, "maxClusters": 4}),
            };
            serde_json::from_value::<FederationPolicy>(serde_json::json!({
                "apiVersion": "policy.kubefed.io/v1alpha1", "kind": "FederationPolicy",
                "metadata": {"name": format!("bench-{i:02}")}, "spec": spec
            }))
        })
        .filter_map(Result::ok)
        .collect();
    let types = kubefed_core::default_types()
        .iter()
        .map(|t| TypeEntry::from_config(&FederatedTypeConfig::for_target(t, "kube-federation-system")))
        .collect();
    Snapshot::new(
        clusters,
        BTreeMap::from([("shop".to_string(), all)]),
        BTreeMap::from([(
            "shop".to_string(),
            BTreeMap::from([
                ("team".to_string(), "shop".to_string()),
                ("kubernetes.io/metadata.name".to_string(), "shop".to_string()),
            ]),
        )]),
        policies,
        types,
        Settings::default(),
    )
}

/// A CREATE review of a FederatedDeployment placed on three clusters with one override — the size and
/// shape of what the webhook sees most.
fn review_body(uid: &str) -> Bytes {
    let template = serde_json::json!({
        "metadata": {"labels": {"app": "web", "team": "shop"}, "annotations": {"owner": "shop@example.com"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web", "image": "registry.example.com/shop/web:1.42.0",
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "env": [{"name": "MODE", "value": "production"}, {"name": "LOG", "value": "info"}],
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}
                }]}
            }
        }
    });
    let object = serde_json::json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "template": template,
            "placement": {"clusters": [{"name": "eu-1"}, {"name": "eu-2"}, {"name": "us-1"}]},
            "overrides": [{"clusterName": "us-1", "clusterOverrides": [{"path": "/spec/replicas", "value": 5}]}]
        }
    });
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "types.kubefed.io", "version": "v1beta1", "kind": "FederatedDeployment"},
            "resource": {"group": "types.kubefed.io", "version": "v1beta1", "resource": "federateddeployments"},
            "requestKind": {"group": "types.kubefed.io", "version": "v1beta1", "kind": "FederatedDeployment"},
            "requestResource": {"group": "types.kubefed.io", "version": "v1beta1", "resource": "federateddeployments"},
            "name": "web", "namespace": "shop", "operation": "CREATE",
            "userInfo": {"username": "alice@example.com", "uid": "1234", "groups": ["shop-devs", "system:authenticated"]},
            "object": object, "oldObject": null, "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions", "fieldManager": "kubectl-fed"}
        }
    });
    Bytes::from(review.to_string())
}

struct Server {
    addr: SocketAddr,
    ca_pem: String,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

async fn start_server(admit: Arc<dyn Admit>) -> anyhow::Result<Server> {
    let ca = CertificateAuthority::generate("bench-ca", Duration::from_secs(86_400))?;
    let leaf = ca.issue_serving(
        &["localhost".into()],
        &["127.0.0.1".parse()?],
        Duration::from_secs(86_400),
    )?;
    let metrics = Arc::new(Metrics::new());
    let readiness = Readiness::default();
    readiness.set_caches_synced(true);
    let resolver = Arc::new(CertResolver::new(readiness.clone(), metrics.clone()));
    resolver.load_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes(), "bench")?;
    let app = router(AppState::new(
        admit,
        metrics,
        readiness.clone(),
        Limits::default(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = ServeOptions {
        shutdown_grace: Duration::from_secs(2),
        ..ServeOptions::default()
    };
    let done = tokio::spawn(serve(
        listener,
        tls::server_config(resolver)?,
        app,
        readiness,
        options,
        async {
            let _ = stopped.await;
        },
    ));
    Ok(Server {
        addr,
        ca_pem: ca.cert_pem,
        stop,
        done,
    })
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    async fn connect(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
        protocol: Protocol,
    ) -> anyhow::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let tls = TlsConnector::from(config)
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await?;
        let io = TokioIo::new(tls);
        Ok(match protocol {
            Protocol::Http1 => {
                let (sender, conn) = hyper::client::conn::http1::handshake(io).await?;
                tokio::spawn(conn);
                Sender::H1(sender)
            }
            Protocol::Http2 => {
                let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
                tokio::spawn(conn);
                Sender::H2(sender)
            }
        })
    }

    /// One round trip; `Ok(true)` when the answer is a 200 AdmissionReview with a decision (allowed or not).
    async fn round_trip(&mut self, body: Bytes) -> anyhow::Result<bool> {
        let request = hyper::Request::post("/validate")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(Full::new(body))?;
        let response = match self {
            Sender::H1(s) => s.send_request(request).await?,
            Sender::H2(s) => s.send_request(request).await?,
        };
        let ok = response.status() == 200;
        let bytes = response.into_body().collect().await?.to_bytes();
        const DECIDED: &[u8] = b"\"allowed\":";
        Ok(ok && bytes.windows(DECIDED.len()).any(|w| w == DECIDED))
    }
}

struct Report {
    latencies: Vec<Duration>,
    errors: u64,
    measured: Duration,
    /// CPU time the webhook's threads spent during the measured window.
    server_cpu: Duration,
    /// CPU time the load generator's threads spent during the measured window.
    client_cpu: Duration,
}

/// CPU time of this process's threads named `name` (the runtime's workers and blocking threads), from
/// `/proc/self/task/*/schedstat` (nanoseconds on CPU). On a shared machine wall-clock throughput swings with
/// the load; the server's CPU per request does not, so it is the figure to compare scenarios by.
fn threads_cpu(name: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut total = 0u64;
    for task in tasks.flatten() {
        let path = task.path();
        let named = std::fs::read_to_string(path.join("comm")).is_ok_and(|comm| comm.trim_end() == name);
        if !named {
            continue;
        }
        if let Some(ns) = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        {
            total += ns;
        }
    }
    Duration::from_nanos(total)
}

async fn drive(args: &BenchArgs, addr: SocketAddr, ca_pem: &str) -> anyhow::Result<Report> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes())?)?;
    let mut config = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![match args.protocol {
        Protocol::Http1 => b"http/1.1".to_vec(),
        Protocol::Http2 => b"h2".to_vec(),
    }];
    let config = Arc::new(config);

    let body = review_body("bench-0000-0000-0000-000000000000");
    let started = Instant::now();
    let measure_from = started + args.warmup;
    let end = measure_from + args.duration;
    let sent = Arc::new(AtomicU64::new(0));
    let per_connection_interval =
        (args.rate > 0).then(|| Duration::from_secs_f64(args.concurrency as f64 / args.rate as f64));

    let cpu_at_start = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        (threads_cpu(SERVER_THREAD_NAME), threads_cpu(CLIENT_THREAD_NAME))
    });
    let mut tasks = Vec::with_capacity(args.concurrency);
    for index in 0..args.concurrency {
        let (config, body, sent) = (config.clone(), body.clone(), sent.clone());
        let (protocol, max, connections) = (args.protocol, args.max_requests, args.concurrency);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut sender = Sender::connect(addr, config.clone(), protocol).await?;
            // Spread the connections' schedules over one interval.
            let mut due = per_connection_interval
                .map(|i| Instant::now() + i.mul_f64(index as f64 / connections as f64));
            let mut last_done = Instant::now();
            loop {
                if let Some(at) = due {
                    tokio::time::sleep_until(at.into()).await;
                }
                // When the previous answer came after this request was due, the wait was the server's
                // doing and counts (no coordinated omission). Otherwise the request leaves now: the
                // timer's own lateness (tokio rounds up to the millisecond) is not the server's.
                let scheduled = match due {
                    Some(at) if last_done > at => at,
                    _ => Instant::now(),
                };
                if due.unwrap_or(scheduled) >= end || sent.fetch_add(1, Ordering::Relaxed) >= max {
                    break;
                }
                let result = sender.round_trip(body.clone()).await;
                last_done = Instant::now();
                match result {
                    Ok(true) => {
                        if scheduled >= measure_from {
                            latencies.push(last_done - scheduled);
                        }
                    }
                    Ok(false) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        sender = Sender::connect(addr, config.clone(), protocol).await?;
                    }
                }
                due = due.zip(per_connection_interval).map(|(at, step)| at + step);
            }
            anyhow::Ok((latencies, errors))
        }));
    }
    let mut report = Report {
        latencies: Vec::new(),
        errors: 0,
        measured: Duration::ZERO,
        server_cpu: Duration::ZERO,
        client_cpu: Duration::ZERO,
    };
    for task in tasks {
        let (latencies, errors) = task.await.context("load task")??;
        report.latencies.extend(latencies);
        report.errors += errors;
    }
    let (server_end, client_end) = (threads_cpu(SERVER_THREAD_NAME), threads_cpu(CLIENT_THREAD_NAME));
    let (server_start, client_start) = cpu_at_start.await.context("CPU sampler")?;
    report.server_cpu = server_end.saturating_sub(server_start);
    report.client_cpu = client_end.saturating_sub(client_start);
    report.measured = Instant::now().min(end).saturating_duration_since(measure_from);
    Ok(report)
}

const SERVER_THREAD_NAME: &str = "webhook";
const CLIENT_THREAD_NAME: &str = "load";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let args = BenchArgs::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    if args.concurrency == 0 || args.server_threads == 0 || args.client_threads == 0 {
        bail!("--concurrency, --server-threads and --client-threads must be at least 1");
    }
    let admit = admit_for(args.scenario, args.policies)?;
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads)
        .thread_name(SERVER_THREAD_NAME)
        .enable_all()
        .build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name(CLIENT_THREAD_NAME)
        .enable_all()
        .build()?;
    let server = server_rt.block_on(start_server(admit))?;
    let mut report = client_rt.block_on(drive(&args, server.addr, &server.ca_pem))?;
    let _ = server.stop.send(());
    let _ = server_rt.block_on(server.done);

    report.latencies.sort_unstable();
    let ok = report.latencies.len();
    let rps = ok as f64 / report.measured.as_secs_f64().max(f64::EPSILON);
    let (p50, p90, p99, p999) = (
        percentile(&report.latencies, 50.0),
        percentile(&report.latencies, 90.0),
        percentile(&report.latencies, 99.0),
        percentile(&report.latencies, 99.9),
    );
    let max = report.latencies.last().copied().unwrap_or_default();
    let per_request = |cpu: Duration| cpu.as_secs_f64() * 1e6 / (ok.max(1) as f64);
    let (server_us, client_us) = (per_request(report.server_cpu), per_request(report.client_cpu));
    // With each side on its own idle core, the busier side per request bounds a closed loop.
    let idle_bound = 1e6
        / (server_us.max(client_us) * args.server_threads.min(args.client_threads) as f64).max(f64::EPSILON);
    let mode = if args.rate > 0 {
        format!("open loop at {} req/s", args.rate)
    } else {
        "closed loop".to_owned()
    };
    match args.format {
        Format::Text => {
            println!(
                "scenario {:?}, {:?} over TLS, {} keep-alive connections, {mode}, server {} thread(s), client {} thread(s)",
                args.scenario, args.protocol, args.concurrency, args.server_threads, args.client_threads
            );
            println!(
                "requests: {ok} measured ok, {} errors, in {:.2} s: {rps:.0} req/s",
                report.errors,
                report.measured.as_secs_f64()
            );
            println!(
                "latency: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
                ms(p50),
                ms(p90),
                ms(p99),
                ms(p999),
                ms(max)
            );
            // In open loop the threads mostly wait, so only the closed loop has a meaningful bound.
            let bound = if args.rate == 0 {
                format!("closed-loop bound with a core each: {idle_bound:.0} req/s; ")
            } else {
                String::new()
            };
            println!(
                "CPU per request: webhook {server_us:.1} µs, load generator {client_us:.1} µs ({bound}on a \
                 shared machine compare scenarios by these)"
            );
        }
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "scenario": format!("{:?}", args.scenario), "protocol": format!("{:?}", args.protocol),
                "connections": args.concurrency, "rate": args.rate, "server_threads": args.server_threads,
                "client_threads": args.client_threads, "ok": ok, "errors": report.errors,
                "seconds": report.measured.as_secs_f64(), "rps": rps,
                "p50_ms": ms(p50), "p90_ms": ms(p90), "p99_ms": ms(p99), "p999_ms": ms(p999), "max_ms": ms(max),
                "server_cpu_us_per_request": server_us, "client_cpu_us_per_request": client_us,
                "closed_loop_bound_rps": idle_bound,
            })
        ),
    }
    if report.errors > 0 {
        bail!("{} requests failed", report.errors);
    }
    Ok(())
}
