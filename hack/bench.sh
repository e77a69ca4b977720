#!/usr/bin/env bash
# The benchmarks (README: `make bench`). Each prints its figures; docs/benchmarks.md records them with the
# command that produced them. Release builds; loopback only; every run is bounded in time and count.
# Usage: hack/bench.sh [convert|cli|webhook|controller|sidebyside|scale]...   (default: convert cli webhook
# controller; `sidebyside` — ours against KubeFed v0.10.0's controller-manager, plus the floor (no controller at
# all), four fresh testbeds — takes about 10 minutes; `scale` — 10 members × 10,000 objects — about 10 minutes
# and ~8 GiB of API servers: run it alone)
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/env.sh
which=("$@"); [ ${#which[@]} -eq 0 ] && which=(convert cli webhook controller)
for b in "${which[@]}"; do
  case "$b" in
    convert)
      echo "== conversion: 10,000 manifests in one multi-document file, one core"
      cargo bench --quiet -p kubefed-core --bench convert ;;
    cli)
      echo "== cli: kubectl-fed federate as a process on 10,000 objects, one core, against kubefedctl v0.10.0"
      # The `dist` profile: what users install (docs/user-guide.md) and the krew archives hold.
      cargo build --quiet --profile dist -p kubectl-fed
      # kubefedctl is built once from the Go module proxy and cached; without Go (or if the build fails) the
      # bench says so and prints our own figures only.
      kubefedctl=$(nice -n 10 bash hack/build-kubefed.sh kubefedctl | tail -n 1) || kubefedctl=""
      python3 hack/bench-cli.py --kubectl-fed "$CARGO_TARGET_DIR/dist/kubectl-fed" \
        ${kubefedctl:+--kubefedctl "$kubefedctl"} --runs "${BENCH_RUNS:-7}" ;;
    webhook)
      echo "== webhook: AdmissionReview round trips over TLS with keep-alive"
      cargo build --quiet --release -p kubefed-webhook --bin kubefed-webhook-bench
      for scenario in allow-all validate-policies; do
        "$CARGO_TARGET_DIR/release/kubefed-webhook-bench" --scenario "$scenario" --rate 1000 || true
        "$CARGO_TARGET_DIR/release/kubefed-webhook-bench" --scenario "$scenario" || true
      done ;;
    controller)
      if [ -f controller/src/bin/controller-bench.rs ]; then
        echo "== controller: propagation on the testbed (host + 2 members)"
        KUBEFED_TESTBED_BIN=$(bash tests/testbed/build-bins.sh all | tail -n 1); export KUBEFED_TESTBED_BIN
        cargo build --quiet --release -p kubefed-controller --features bench --bin kubefed-controller-bench
        "$CARGO_TARGET_DIR/release/kubefed-controller-bench" --objects 1000
        "$CARGO_TARGET_DIR/release/kubefed-controller-bench" --objects 10000
      else
        echo "== controller bench not built yet"
      fi ;;
    sidebyside)
      echo "== controller side by side: KubeFed v0.10.0's controller-manager, ours at defaults, ours at 20 qps/30 burst"
      KUBEFED_TESTBED_BIN=$(bash tests/testbed/build-bins.sh all | tail -n 1); export KUBEFED_TESTBED_BIN
      cargo build --quiet --release -p kubefed-controller --features bench --bin kubefed-controller \
        --bin kubefed-sidebyside-bench
      # KubeFed is built once from the Go module proxy and cached; without Go (or if the build fails) the bench
      # says so and measures ours only. Its CRDs come from the same module's chart.
      kubefed=()
      if cm=$(nice -n 10 bash hack/build-kubefed.sh controller-manager | tail -n 1); then
        crds="$(go env GOMODCACHE)/sigs.k8s.io/kubefed@v${KUBEFED_VERSION:-0.10.0}/charts/kubefed/charts/controllermanager/crds/crds.yaml"
        kubefed=(--kubefed-controller-manager "$cm" --kubefed-crds "$crds")
      fi
      "$CARGO_TARGET_DIR/release/kubefed-sidebyside-bench" --objects "${BENCH_OBJECTS:-1000}" "${kubefed[@]}" \
        --contenders kubefed,defaults,budget,floor ;;
    scale)
      echo "== controller at scale: 10 members × 10,000 FederatedDeployments (testbed, no kube-controller-manager)"
      KUBEFED_TESTBED_BIN=$(bash tests/testbed/build-bins.sh all | tail -n 1); export KUBEFED_TESTBED_BIN
      cargo build --quiet --release -p kubefed-controller --features bench --bins
      "$CARGO_TARGET_DIR/release/kubefed-controller-bench" --members 10 --objects 10000 --timeout 3600 ;;
    *) echo "unknown benchmark $b (convert|cli|webhook|controller|sidebyside|scale)" >&2; exit 2 ;;
  esac
done
