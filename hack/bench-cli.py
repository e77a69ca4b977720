#!/usr/bin/env python3
"""The `cli` benchmark: `kubectl-fed federate` as a user runs it, a whole process, against KubeFed's kubefedctl.

Generates a 10,000-object multi-document YAML (Deployments, Services, ConfigMaps, ~650 B each, the shape of
shared/benches/convert.rs's input), runs each command pinned to one core (`taskset -c 0`) N times, and prints
the median wall time as objects/s and the peak RSS (wait4's ru_maxrss) against the input size.

Usage: bench-cli.py --kubectl-fed PATH [--kubefedctl PATH] [--objects 10000] [--runs 7] [--keep FILE]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


KUBECONFIG = """apiVersion: v1
kind: Config
current-context: bench
clusters:
- name: bench
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: bench
  context: {cluster: bench, user: bench}
users:
- name: bench
  user: {token: unused}
"""


def generate(n):
    out = []
    for i in range(n):
        app = f"app-{i // 3:05d}"
        team = ["payments", "search", "catalog", "identity"][i % 4]
        out.append(f"---\n# Source: chart-{team}/templates/{app}-{i % 3}.yaml\n")
        if i % 3 == 0:
            out.append(f"""apiVersion: apps/v1
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
  replicas: {1 + i % 5}
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
          requests: {{cpu: {100 + (i % 8) * 50}m, memory: 256Mi}}
          limits: {{cpu: "1", memory: 512Mi}}
        readinessProbe:
          httpGet: {{path: /ready, port: http}}
          periodSeconds: 5
        livenessProbe:
          httpGet: {{path: /healthz, port: http}}
          initialDelaySeconds: 10
""")
        elif i % 3 == 1:
            out.append(f"""apiVersion: v1
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
  clusterIP: 10.96.{(i // 250) % 256}.{i % 250}
  ports:
  - {{name: http, port: 80, targetPort: http, protocol: TCP}}
  - {{name: metrics, port: 9090, targetPort: 9090, protocol: TCP}}
  selector:
    app.kubernetes.io/name: {app}
""")
        else:
            out.append(f"""apiVersion: v1
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
  MAX_CONNECTIONS: "{100 + i % 400}"
  FEATURE_FLAGS: "checkout,search,recommendations"
  app.yaml: |
    listen: :8080
    upstream: http://{app}.{team}.svc:80
    timeout: 5s
    retries: 3
""")
    return "".join(out)


TIME = "/usr/bin/time"


def run_once(argv, env):
    """Wall seconds, peak RSS in bytes, output bytes, CPU seconds; raises on failure.

    The peak RSS is GNU time's (%M): the wait4 rusage of a child forked from Python would count the Python
    process's own pages, which the child shares until it execs (Linux records the pre-exec high-water mark).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rss:
        timed = [TIME, "-f", "%M %U %S", "-o", rss.name] + argv if os.path.exists(TIME) else argv
        start = time.perf_counter()
        proc = subprocess.Popen(timed, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        size = out.seek(0, os.SEEK_END)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{tail}")
        fields = (rss.read().strip().splitlines() or [""])[-1].split()
        if len(fields) == 3 and fields[0].isdigit():
            return wall, int(fields[0]) * 1024, size, float(fields[1]) + float(fields[2])
        return wall, usage.ru_maxrss * 1024, size, usage.ru_utime + usage.ru_stime


def measure(name, argv, runs, objects, input_bytes, env):
    pinned = (["taskset", "-c", "0"] if shutil.which("taskset") else []) + argv
    try:
        results = [run_once(pinned, env) for _ in range(runs)]
    except (RuntimeError, OSError) as e:
        print(f"{name}: FAILED: {e}")
        return None
    wall = statistics.median(r[0] for r in results)
    rss = statistics.median(r[1] for r in results)
    cpu = statistics.median(r[3] for r in results)
    mib = 1024 * 1024
    print(f"{name}: {objects} objects, median of {runs} runs {wall * 1e3:.0f} ms = {objects / wall:,.0f} objects/s; "
          f"peak RSS {rss / mib:.1f} MiB = {rss / input_bytes:.2f}x the input ({input_bytes / mib:.1f} MiB); "
          f"output {results[0][2] / mib:.1f} MiB; CPU {cpu * 1e3:.0f} ms = {objects / cpu:,.0f} objects per CPU-second "
          f"(the fairer figure on a shared machine)")
    print(f"{name}:   command: {' '.join(pinned)}")
    return objects / wall, rss, objects / cpu


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kubectl-fed", required=True)
    p.add_argument("--kubefedctl")
    p.add_argument("--objects", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--keep", help="also write the generated input here")
    a = p.parse_args()
    text = generate(a.objects)
    with tempfile.TemporaryDirectory() as tmp:
        big = os.path.join(tmp, "big.yaml")
        with open(big, "w") as f:
            f.write(text)
        if a.keep:
            shutil.copyfile(big, a.keep)
        # kubefedctl wants a kubeconfig even with --filename (it never contacts the server then); ours gets the
        # same one and --offline. The server address is unreachable on purpose.
        kubeconfig = os.path.join(tmp, "kubeconfig")
        with open(kubeconfig, "w") as f:
            f.write(KUBECONFIG)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "KUBECONFIG": kubeconfig}
        size = len(text.encode())
        ours = measure("kubectl-fed federate", [a.kubectl_fed, "federate", "--offline", "-f", big, "-o", "yaml"],
                       a.runs, a.objects, size, env)
        if not a.kubefedctl:
            print("kubefedctl: not measured (no binary: hack/build-kubefed.sh could not build it); "
                  "only our own figures above")
            return 0 if ours else 1
        theirs = measure("kubefedctl federate", [a.kubefedctl, "federate", "--filename", big],
                         a.runs, a.objects, size, env)
        if ours and theirs:
            print(f"ratio: kubectl-fed is {ours[0] / theirs[0]:.1f}x as fast as kubefedctl in wall time, "
                  f"{ours[2] / theirs[2]:.1f}x in CPU time, with {ours[1] / theirs[1]:.2f}x its peak RSS")
        return 0 if ours else 1


if __name__ == "__main__":
    sys.exit(main())
