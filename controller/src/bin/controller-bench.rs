//! `kubefed-controller-bench`: the propagation controller on the testbed (host + `--members` members),
//! measured.
//!
//! 1. Boots the testbed, installs kubefed, joins the members, federates namespace `bench`.
//! 2. Stores `--objects` FederatedDeployments with overrides (by cluster name and by cluster label) on the
//!    host *before* the controller runs.
//! 3. Starts the real `kubefed-controller` binary (from the same directory as this one) and measures the
//!    time until every object has `Propagation=True` for its current generation, and the Deployment
//!    requests each member's API server served meanwhile (its own `apiserver_request_total`).
//! 4. Makes `--updates` template changes one at a time and measures, for each, the time from the host
//!    write to the change being visible in every member (watches on the members; p50/p90/p99/max).
//! 5. Restarts the controller with nothing changed and counts the member writes that follows (goal: 0).
//! 6. Reports the controller's peak resident memory (`VmHWM`) and CPU time (`/proc/<pid>/stat`).
//!
//! Members run without kube-controller-manager unless `--controller-manager` is given: 10,000
//! Deployments would otherwise have the members' controllers create 10,000s of ReplicaSets and Pods on the
//! same two cores, which measures them rather than us. Everything runs on 127.0.0.1, and every phase is
//! bounded in time (`--timeout`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kubefed_tests::fixtures::install_kubefed;
use kubefed_tests::testbed::HOST;
use kubefed_tests::{ClusterOptions, Testbed, TestbedOptions};
use serde_json::json;
use tokio::sync::mpsc;

/// Measures propagation on the testbed: convergence from controller start, update latency, peak memory.
#[derive(Parser, Debug)]
#[command(name = "kubefed-controller-bench", version)]
struct Args {
    /// FederatedDeployments to propagate.
    #[arg(long, default_value_t = 1000)]
    objects: usize,
    /// Member clusters (each a kube-apiserver + etcd; odd ones labelled region=eu, even ones region=us).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=20))]
    members: u16,
    /// Skip the restart phase (5).
    #[arg(long)]
    no_restart: bool,
    /// Template updates to time, one at a time.
    #[arg(long, default_value_t = 200)]
    updates: usize,
    /// The controller's --concurrency.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
    /// The controller's --member-qps.
    #[arg(long, default_value_t = 500.0)]
    member_qps: f64,
    /// The controller's --member-burst.
    #[arg(long, default_value_t = 1000)]
    member_burst: u32,
    /// Run kube-controller-manager in every cluster (members then create ReplicaSets and Pods).
    #[arg(long)]
    controller_manager: bool,
    /// The kubefed-controller binary (default: next to this one).
    #[arg(long)]
    controller_bin: Option<PathBuf>,
    /// Limit for each phase, in seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
}

mod bench_common;
use bench_common::*;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let limit = Duration::from_secs(args.timeout);
    let controller_bin = match &args.controller_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .context("locating this executable")?
            .with_file_name("kubefed-controller"),
    };
    if !controller_bin.is_file() {
        bail!(
            "{} not found; build it with `cargo build --release -p kubefed-controller` (or pass --controller-bin)",
            controller_bin.display()
        );
    }

    let n = usize::from(args.members);
    eprintln!("booting the testbed (host + {n} members)…");
    let opts = TestbedOptions {
        members: n,
        cluster: ClusterOptions {
            controller_manager: args.controller_manager,
            ..ClusterOptions::default()
        },
        ..Default::default()
    };
    let tb = Testbed::start(opts).context("starting the testbed")?;
    eprintln!("testbed ready in {:.1}s", tb.boot_time().as_secs_f64());
    let host = install_kubefed(&tb).await?;
    let (names, members) = join_members(&tb, &host, n).await?;
    let ns = bench_namespace(&tb, &host).await?;

    // Store every object before the controller starts.
    let fed: Api<DynamicObject> = Api::namespaced_with(host.clone(), &ns, &fed_deployments());
    let started = Instant::now();
    futures::stream::iter(0..args.objects)
        .map(|i| {
            let fed = fed.clone();
            let ns = ns.clone();
            let names = &names;
            async move {
                let obj: DynamicObject = serde_json::from_value(federated_deployment(&ns, i, names))?;
                fed.create(&PostParams::default(), &obj).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .context("creating the FederatedDeployments")?;
    eprintln!(
        "stored {} FederatedDeployments in {:.1}s",
        args.objects,
        started.elapsed().as_secs_f64()
    );

    // Watch propagation on the host and the member Deployments before the controller starts.
    let (fed_tx, mut fed_rx) = mpsc::unbounded_channel::<(String, bool)>();
    let fed_watch = tokio::spawn({
        let fed = fed.clone();
        async move {
            let mut s = watcher(fed, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(Ok(o)) = s.next().await {
                if fed_tx
                    .send((o.metadata.name.clone().unwrap_or_default(), propagated(&o)))
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    let (member_tx, mut member_rx) = mpsc::unbounded_channel::<(usize, String, String)>();
    let mut member_watches = Vec::new();
    for (idx, (_, client)) in members.iter().enumerate() {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &deployments());
        let tx = member_tx.clone();
        member_watches.push(tokio::spawn(async move {
            let mut s = watcher(api, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(Ok(o)) = s.next().await {
                let rev = o
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("bench/rev"))
                    .cloned()
                    .unwrap_or_default();
                if tx
                    .send((idx, o.metadata.name.clone().unwrap_or_default(), rev))
                    .is_err()
                {
                    return;
                }
            }
        }));
    }

    let log = tb.dir.join("kubefed-controller.log");
    let metrics_port = free_port()?;
    let spawn = |log: &std::path::Path| -> anyhow::Result<tokio::process::Child> {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        tokio::process::Command::new(&controller_bin)
            .arg("--kubeconfig")
            .arg(&tb.kubeconfig)
            .args(["--context", HOST, "--metrics-addr"])
            .arg(format!("127.0.0.1:{metrics_port}"))
            .arg("--concurrency")
            .arg(args.concurrency.to_string())
            .arg("--member-qps")
            .arg(args.member_qps.to_string())
            .arg("--member-burst")
            .arg(args.member_burst.to_string())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", controller_bin.display()))
    };
    let before_start = member_requests(&members).await?;
    let mut child = spawn(&log)?;
    let t0 = Instant::now();
    let pid = child.id().context("the controller exited at once")?;
    eprintln!("controller started (pid {pid}, log {})", log.display());

    // Phase 1: every object Propagation=True.
    let mut state: HashMap<String, bool> = HashMap::new();
    let mut done = 0usize;
    let mut peak_sampled = 0u64;
    let mut last_report = Instant::now();
    let converged = loop {
        if done == args.objects {
            break t0.elapsed();
        }
        if t0.elapsed() > limit {
            bail!(
                "only {done} of {} objects propagated after {limit:?}; see {}",
                args.objects,
                log.display()
            );
        }
        if let Some(status) = child.try_wait()? {
            bail!("the controller exited ({status}); see {}", log.display());
        }
        match tokio::time::timeout(Duration::from_millis(100), fed_rx.recv()).await {
            Ok(Some((name, ok))) => {
                let was = state.insert(name, ok).unwrap_or(false);
                match (was, ok) {
                    (false, true) => done += 1,
                    (true, false) => done -= 1,
                    _ => {}
                }
            }
            Ok(None) => bail!("the host watch ended"),
            Err(_) => {}
        }
        peak_sampled = peak_sampled.max(memory(pid).1);
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "  {:>6.1}s: {done}/{} propagated",
                t0.elapsed().as_secs_f64(),
                args.objects
            );
            last_report = Instant::now();
        }
    };
    let (hwm_converged, _) = memory(pid);
    let cpu_converged = cpu_time(pid);
    let (create_writes, create_reads) = member_requests_since(&members, &before_start).await?;
    eprintln!("converged in {:.2}s", converged.as_secs_f64());

    // Phase 2: update latency, one update at a time.
    while member_rx.try_recv().is_ok() {}
    let mut latencies = Vec::with_capacity(args.updates);
    for u in 0..args.updates {
        let name = format!("web-{}", (u * 7919) % args.objects.max(1));
        let rev = format!("u{u}");
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {"bench/rev": rev}}}}});
        let t = Instant::now();
        fed.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        let mut seen = vec![false; n];
        while !seen.iter().all(|s| *s) {
            let left = Duration::from_secs(30).saturating_sub(t.elapsed());
            match tokio::time::timeout(left, member_rx.recv()).await {
                Ok(Some((m, o, r))) if o == name && r == rev => seen[m] = true,
                Ok(Some(_)) => {}
                Ok(None) => bail!("a member watch ended"),
                Err(_) => bail!(
                    "update {u} of {name} not seen in every member within 30s; see {}",
                    log.display()
                ),
            }
        }
        latencies.push(t.elapsed());
        peak_sampled = peak_sampled.max(memory(pid).1);
    }
    latencies.sort();
    let (hwm, rss) = memory(pid);
    let cpu_total = cpu_time(pid);
    let _ = child.kill().await;

    // Phase 3: a restart with nothing changed. Resynced = it reconciled every object once more (its
    // reconcile counter starts at 0), then a few seconds for writes in flight.
    let restart = if args.no_restart {
        None
    } else {
        let before = member_requests(&members).await?;
        let mut child = spawn(&log)?;
        let t = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the restarted controller exited ({status}); see {}",
                    log.display()
                );
            }
            if reconciles(metrics_port).await.unwrap_or(0.0) >= args.objects as f64 {
                break;
            }
            if t.elapsed() > limit {
                bail!("the restarted controller did not reconcile every object within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let resynced = t.elapsed();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (writes, reads) = member_requests_since(&members, &before).await?;
        let _ = child.kill().await;
        Some((resynced, writes, reads))
    };
    fed_watch.abort();
    for w in member_watches {
        w.abort();
    }

    let per_sec = args.objects as f64 / converged.as_secs_f64().max(1e-9);
    let copies = (args.objects * n).max(1) as f64;
    println!(
        "kubefed-controller-bench: {} FederatedDeployments × {n} members (member qps {}, burst {})",
        args.objects, args.member_qps, args.member_burst
    );
    println!(
        "  convergence (controller start → all Propagation=True): {:.2}s ({per_sec:.0} objects/s)",
        converged.as_secs_f64()
    );
    println!(
        "  member requests per created object and member: {:.3} writes, {:.3} reads ({create_writes} writes, \
         {create_reads} GETs of Deployments, as the members' API servers count them)",
        create_writes as f64 / copies,
        create_reads as f64 / copies,
    );
    if !latencies.is_empty() {
        println!(
            "  update → every member ({} updates): p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            latencies.len(),
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.90).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    }
    if let Some((resynced, writes, reads)) = restart {
        println!(
            "  restart with nothing changed: every object reconciled in {:.2}s, {writes} member writes, {reads} \
             member GETs",
            resynced.as_secs_f64()
        );
    }
    println!(
        "  controller memory: peak RSS {:.0} MiB (after convergence {:.0} MiB, at end {:.0} MiB)",
        mib(hwm.max(peak_sampled)),
        mib(hwm_converged),
        mib(rss)
    );
    println!(
        "  controller CPU: {:.1}s to converge, {:.1}s in all (user + system)",
        cpu_converged.as_secs_f64(),
        cpu_total.as_secs_f64()
    );
    for (name, bytes) in tb.memory_per_cluster() {
        println!("  testbed {name}: {:.0} MiB resident", mib(bytes));
    }
    Ok(())
}
