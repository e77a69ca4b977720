#!/usr/bin/env bash
# The demo (README: `make demo`): a local host + 2 member clusters with kubefed installed and the members
# joined. Builds what is missing first (the first run takes several minutes). Pass --exit to stop once set up.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/env.sh
bash hack/ensure-tools.sh
KUBEFED_TESTBED_BIN=$(bash tests/testbed/build-bins.sh all | tail -n 1)
export KUBEFED_TESTBED_BIN
cargo build --quiet -p kubefed-tests --bin testbed
exec "$CARGO_TARGET_DIR/debug/testbed" demo "$@"
