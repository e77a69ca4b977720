//! Parse + convert throughput and memory for a large multi-document input (10,000 manifests).
//!
//! `cargo bench -p kubefed-core --bench convert` runs each mode in a child process of its own, so the peak
//! memory of one mode does not hide the other's:
//! - `stream`: [`Manifests`] → [`Federator`] → JSON body, one object at a time (what `kubectl fed apply`
//!   does: each object is sent, then dropped);
//! - `batch`: [`parse_manifests`] → [`federate_all`], every object held (what `-o yaml` of the whole input
//!   needs before printing);
//! - `parse`: [`Manifests`] alone, to show how the time splits between parsing and the rest.
//!
//! Peak memory is the process's `VmHWM` after the run, reset with `/proc/self/clear_refs` once the input is
//! built, minus the resident size at that point (the input itself is included in that baseline and reported
//! separately). Linux only; elsewhere the memory figures are left out.

use std::fmt::Write as _;
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use kubefed_core::convert::{ConvertOptions, Federator, default_resolver, federate_all};
use kubefed_core::manifest::{Manifests, ParseLimits, parse_manifests};

const OBJECTS: usize = 10_000;
const MODE_VAR: &str = "KUBEFED_BENCH_MODE";
const RUNS: usize = 3;

fn main() {
    match std::env::var(MODE_VAR).ok().as_deref() {
        Some(mode) => run_mode(mode),
        None => {
            let exe = match std::env::current_exe() {
                Ok(exe) => exe,
                Err(e) => {
                    eprintln!("cannot find the bench binary to run its modes: {e}");
                    std::process::exit(1);
                }
            };
            for mode in ["parse", "stream", "batch"] {
                let status = Command::new(&exe).env(MODE_VAR, mode).status();
                if !status.as_ref().is_ok_and(|s| s.success()) {
                    eprintln!("mode {mode} failed: {status:?}");
                    std::process::exit(1);
                }
            }
        }
    }
}

fn run_mode(mode: &str) {
    let input = generate(OBJECTS);
    let limits = ParseLimits::default();
    let opts = ConvertOptions {
        namespace: Some("shop".into()),
        ..ConvertOptions::default()
    };
    let resolver = default_resolver();

    let baseline = proc_status_kib("VmRSS");
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();

    let mut times = Vec::with_capacity(RUNS);
    let mut peak = None;
    let mut out_bytes = 0;
    for run in 0..RUNS {
        let start = Instant::now();
        let (objects, bytes) = match mode {
            "parse" => parse_only(&input, &limits),
            "stream" => stream(&input, &limits, &resolver, &opts),
            _ => batch(&input, &limits, &resolver, &opts),
        };
        times.push(start.elapsed());
        assert_eq!(objects, OBJECTS, "every generated object converts");
        out_bytes = bytes;
        if run == 0 {
            peak = proc_status_kib("VmHWM");
        }
    }
    times.sort();
    let best = times[0];
    let median = times[RUNS / 2];
    let rate = |d: Duration| OBJECTS as f64 / d.as_secs_f64();
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    println!(
        "{mode:>6}: {OBJECTS} objects, input {:.1} MiB, output {:.1} MiB of JSON; parse+convert best {:.0} ms \
         ({:.0} objects/s, {:.0} MiB/s), median {:.0} ms ({:.0} objects/s)",
        mib(input.len()),
        mib(out_bytes),
        best.as_secs_f64() * 1e3,
        rate(best),
        mib(input.len()) / best.as_secs_f64(),
        median.as_secs_f64() * 1e3,
        rate(median),
    );
    match (baseline, peak, reset) {
        (Some(base), Some(peak), true) => {
            let extra = peak.saturating_sub(base) * 1024;
            println!(
                "{mode:>6}: peak RSS {:.1} MiB = {:.1} MiB before the run (input included) + {:.1} MiB during it \
                 = {:.2}x the input size (peak/input {:.2}x)",
                mib(peak * 1024),
                mib(base * 1024),
                mib(extra),
                extra as f64 / input.len() as f64,
                (peak * 1024) as f64 / input.len() as f64,
            );
        }
        _ => println!("{mode:>6}: peak memory not measured (needs Linux /proc)"),
    }
}

/// Parsing alone (no conversion, no output), to see where the time goes.
fn parse_only(input: &str, limits: &ParseLimits) -> (usize, usize) {
    let mut count = 0;
    for obj in Manifests::new("bench.yaml", input, limits) {
        black_box(obj.unwrap_or_else(|e| panic!("{e}")));
        count += 1;
    }
    (count, 0)
}

/// One object at a time: parse, convert, render the request body, drop.
fn stream(
    input: &str,
    limits: &ParseLimits,
    resolver: &dyn Fn(&str, &str) -> Option<kubefed_core::TargetType>,
    opts: &ConvertOptions,
) -> (usize, usize) {
    let mut federator = match Federator::new(resolver, opts) {
        Ok(f) => f,
        Err(e) => panic!("options: {e}"),
    };
    let (mut count, mut bytes) = (0, 0);
    let mut body = Vec::with_capacity(8 * 1024);
    for obj in Manifests::new("bench.yaml", input, limits) {
        let obj = obj.unwrap_or_else(|e| panic!("{e}"));
        let item = federator.federate(obj);
        let fed = item.result.unwrap_or_else(|e| panic!("{e}"));
        body.clear();
        serde_json::to_writer(&mut body, &fed.object).unwrap_or_else(|e| panic!("{e}"));
        bytes += black_box(&body).len();
        count += 1;
    }
    (count, bytes)
}

/// Everything held: parse all, convert all, then render.
fn batch(
    input: &str,
    limits: &ParseLimits,
    resolver: &dyn Fn(&str, &str) -> Option<kubefed_core::TargetType>,
    opts: &ConvertOptions,
) -> (usize, usize) {
    let objects = parse_manifests("bench.yaml", input, limits).unwrap_or_else(|e| panic!("{e}"));
    let batch = federate_all(objects, resolver, opts).unwrap_or_else(|e| panic!("{e}"));
    let mut bytes = 0;
    for item in &batch.items {
        let fed = item.result.as_ref().unwrap_or_else(|e| panic!("{e}"));
        bytes += serde_json::to_vec(&fed.object)
            .map(|v| v.len())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    (black_box(batch).items.len(), bytes)
}

/// A `VmRSS`/`VmHWM`-style field of /proc/self/status, in KiB.
fn proc_status_kib(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `n` realistic manifests (Deployments, Services, ConfigMaps in turn) as one multi-document YAML stream,
/// the way `helm template` prints them.
fn generate(n: usize) -> String {
    let mut out = String::with_capacity(n * 1200);
    for i in 0..n {
        let app = format!("app-{:05}", i / 3);
        let team = ["payments", "search", "catalog", "identity"][i % 4];
        let _ = writeln!(out, "---\n# Source: chart-{team}/templates/{app}-{}.yaml", i % 3);
        let _ = match i % 3 {
            0 => write!(
                out,
                r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}
  labels:
    app.kubernetes.io/name: {app}
    app.kubernetes.io/part-of: {team}
    app.kubernetes.io/version: "1.{i}.0"
  annotations:
    owner: team-{team}@example.com
    kubectl.kubernetes.io/last-applied-configuration: '{{"kind":"Deployment","metadata":{{"name":"{app}"}}}}'
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app.kubernetes.io/name: {app}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {app}
      annotations:
        prometheus.io/scrape: "true"
    spec:
      containers:
      - name: main
        image: registry.example.com/{team}/{app}:1.{i}.0
        ports:
        - {{name: http, containerPort: 8080}}
        env:
        - {{name: LOG_LEVEL, value: info}}
        - name: DB_PASSWORD
          valueFrom:
            secretKeyRef: {{name: {app}-db, key: password}}
        resources:
          requests: {{cpu: {cpu}m, memory: 256Mi}}
          limits: {{cpu: "1", memory: 512Mi}}
        readinessProbe:
          httpGet: {{path: /ready, port: http}}
          periodSeconds: 5
        livenessProbe:
          httpGet: {{path: /healthz, port: http}}
          initialDelaySeconds: 10
"#,
                replicas = 1 + i % 5,
                cpu = 100 + (i % 8) * 50,
            ),
            1 => write!(
                out,
                r#"apiVersion: v1
kind: Service
metadata:
  name: {app}
  labels:
    app.kubernetes.io/name: {app}
    app.kubernetes.io/part-of: {team}
  annotations:
    owner: team-{team}@example.com
spec:
  type: ClusterIP
  clusterIP: 10.96.{a}.{b}
  ports:
  - {{name: http, port: 80, targetPort: http, protocol: TCP}}
  - {{name: metrics, port: 9090, targetPort: 9090, protocol: TCP}}
  selector:
    app.kubernetes.io/name: {app}
"#,
                a = (i / 250) % 256,
                b = i % 250,
            ),
            _ => write!(
                out,
                r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {app}-config
  labels:
    app.kubernetes.io/name: {app}
    app.kubernetes.io/part-of: {team}
  annotations:
    owner: team-{team}@example.com
data:
  LOG_LEVEL: info
  MAX_CONNECTIONS: "{conns}"
  FEATURE_FLAGS: "checkout,search,recommendations"
  app.yaml: |
    listen: :8080
    upstream: http://{app}.{team}.svc:80
    timeout: 5s
    retries: 3
"#,
                conns = 100 + i % 400,
            ),
        };
    }
    out
}
