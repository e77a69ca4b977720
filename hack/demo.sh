#!/usr/bin/env bash
# The demo (README: `make demo`): a local host + 2 member clusters, kubefed installed on the host, the members
# joined, kubefed-controller running, and examples/app.yaml federated with `kubectl fed apply`. Builds what is
# missing first (the first run takes several minutes). Pass --exit to stop once everything is shown.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/env.sh
bash hack/ensure-tools.sh
KUBEFED_TESTBED_BIN=$(bash tests/testbed/build-bins.sh all | tail -n 1)
export KUBEFED_TESTBED_BIN
cargo build --quiet -p kubefed-tests --bin testbed -p kubefed-controller --bin kubefed-controller -p kubectl-fed --bin kubectl-fed
exec "$CARGO_TARGET_DIR/debug/testbed" demo \
  --controller "$CARGO_TARGET_DIR/debug/kubefed-controller" \
  --kubectl-fed "$CARGO_TARGET_DIR/debug/kubectl-fed" \
  --app examples/app.yaml "$@"
