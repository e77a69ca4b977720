#!/usr/bin/env bash
# The project's test command (README: `make test`): installs what is missing, builds the testbed's
# control-plane binaries if absent, then format check, clippy, unit and end-to-end tests (the latter
# against real kube-apiservers started by the testbed), then a short run of every fuzz target (nightly;
# KUBEFED_FUZZ_SECONDS per target, default 20, 0 skips it; docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/env.sh
start=$SECONDS
bash hack/ensure-tools.sh
KUBEFED_TESTBED_BIN=$(bash tests/testbed/build-bins.sh all | tail -n 1)
export KUBEFED_TESTBED_BIN
# As root (CI, and every machine of this project's kind) the worker-node tests (node.rs, chart_deploy.rs)
# must run, never skip: a node that cannot start is a failure here.
if [ "$(id -u)" = 0 ]; then export KUBEFED_REQUIRE_NODE=1; fi
echo "== testbed binaries: $KUBEFED_TESTBED_BIN"
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The benchmark binaries sit behind the controller's `bench` feature: lint them too, so they keep building.
cargo clippy -p kubefed-controller --features bench --bins --locked -- -D warnings
echo "== cargo test (unit + end-to-end)"
cargo test --workspace --locked --no-fail-fast
fuzz_seconds="${KUBEFED_FUZZ_SECONDS:-20}"
if [ "$fuzz_seconds" != 0 ]; then
  echo "== fuzz (${fuzz_seconds}s per target)"
  bash hack/fuzz.sh "$fuzz_seconds"
fi
echo "== test command finished in $((SECONDS - start))s"
