#!/usr/bin/env bash
# Builds KubeFed v0.10.0's kubefedctl from the Go module proxy, for the `cli` benchmark (hack/bench.sh) that
# times it against `kubectl fed federate` on the same file. Like tests/testbed/build-bins.sh: a small wrapper
# module of ours requires sigs.k8s.io/kubefed (`go install …@v0.10.0` is refused by the proxy's list endpoint),
# and the binary is cached by version outside the repo. Skips the build when the binary exists.
# Prints the binary's path on its last line of stdout.
set -euo pipefail

KUBEFED_VERSION="${KUBEFED_VERSION:-0.10.0}"
CACHE="${KUBEFED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubefed-rs}"
BIN="$CACHE/bin/kubefed-v$KUBEFED_VERSION"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

log() { echo "[kubefedctl-build] $*" >&2; }
command -v go >/dev/null || { log "go is not installed; install Go >= 1.24"; exit 1; }
mkdir -p "$BIN"
if [ -x "$BIN/kubefedctl" ]; then
  log "kubefedctl v$KUBEFED_VERSION already built"
  echo "$BIN/kubefedctl"
  exit 0
fi
mod="$CACHE/src/kubefed-v$KUBEFED_VERSION"
mkdir -p "$mod"
if [ ! -f "$mod/go.sum" ]; then
  log "resolving sigs.k8s.io/kubefed v$KUBEFED_VERSION"
  cat > "$mod/go.mod" <<GOMOD
module kubefed.local/bench/kubefed

go 1.24.0

require sigs.k8s.io/kubefed v$KUBEFED_VERSION
GOMOD
  cat > "$mod/tools.go" <<'GO'
//go:build tools

// Package tools makes `go mod tidy` keep what the benchmark builds.
package tools

import _ "sigs.k8s.io/kubefed/cmd/kubefedctl"
GO
  (cd "$mod" && go mod tidy) || { rm -f "$mod/go.sum"; log "go mod tidy failed"; exit 1; }
fi
log "building kubefedctl v$KUBEFED_VERSION (several minutes on 2 cores)"
start=$SECONDS
(cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$BIN/kubefedctl.tmp" sigs.k8s.io/kubefed/cmd/kubefedctl)
mv "$BIN/kubefedctl.tmp" "$BIN/kubefedctl"
log "built kubefedctl in $((SECONDS - start))s"
echo "$BIN/kubefedctl"
