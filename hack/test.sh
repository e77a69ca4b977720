#!/usr/bin/env bash
# The project's test command (README: `make test`): installs what is missing, builds the testbed's
# control-plane binaries if absent, then format check, clippy, unit and end-to-end tests (the latter
# against real kube-apiservers started by the testbed).
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
echo "== cargo test (unit + end-to-end)"
cargo test --workspace --locked --no-fail-fast
echo "== test command finished in $((SECONDS - start))s"
