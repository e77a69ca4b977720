#!/usr/bin/env bash
# Builds a KubeFed v0.10.0 program from the Go module proxy: `kubefedctl` (default) for the `cli` benchmark, or
# `controller-manager` for the `sidebyside` benchmark (hack/bench.sh). Like tests/testbed/build-bins.sh: a small
# wrapper module of ours requires sigs.k8s.io/kubefed (`go install …@v0.10.0` is refused by the proxy's list
# endpoint), and the binaries are cached by version outside the repo. Skips the build when the binary exists.
# Usage: hack/build-kubefed.sh [kubefedctl|controller-manager]. Prints the binary's path on its last line of stdout.
set -euo pipefail

KUBEFED_VERSION="${KUBEFED_VERSION:-0.10.0}"
CACHE="${KUBEFED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubefed-rs}"
BIN="$CACHE/bin/kubefed-v$KUBEFED_VERSION"
# Every program the wrapper module builds; `go mod tidy` keeps what they import.
PROGRAMS=(kubefedctl controller-manager)
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

log() { echo "[kubefed-build] $*" >&2; }
prog="${1:-kubefedctl}"
case " ${PROGRAMS[*]} " in
  *" $prog "*) ;;
  *) log "unknown program '$prog' (one of: ${PROGRAMS[*]})"; exit 2 ;;
esac
command -v go >/dev/null || { log "go is not installed; install Go >= 1.24"; exit 1; }
mkdir -p "$BIN"
if [ -x "$BIN/$prog" ]; then
  log "$prog v$KUBEFED_VERSION already built"
  echo "$BIN/$prog"
  exit 0
fi
mod="$CACHE/src/kubefed-v$KUBEFED_VERSION"
mkdir -p "$mod"
tools=$(
  printf '//go:build tools\n\n// Package tools makes `go mod tidy` keep what the benchmarks build.\npackage tools\n\nimport (\n'
  for p in "${PROGRAMS[@]}"; do printf '\t_ "sigs.k8s.io/kubefed/cmd/%s"\n' "$p"; done
  printf ')\n'
)
# Re-resolve when the list of programs changed (an older cache knew kubefedctl only).
if [ ! -f "$mod/go.sum" ] || [ "$(cat "$mod/tools.go" 2>/dev/null)" != "$tools" ]; then
  log "resolving sigs.k8s.io/kubefed v$KUBEFED_VERSION"
  cat > "$mod/go.mod" <<GOMOD
module kubefed.local/bench/kubefed

go 1.24.0

require sigs.k8s.io/kubefed v$KUBEFED_VERSION
GOMOD
  printf '%s\n' "$tools" > "$mod/tools.go"
  (cd "$mod" && go mod tidy) || { rm -f "$mod/go.sum"; log "go mod tidy failed"; exit 1; }
fi
log "building $prog v$KUBEFED_VERSION (several minutes on 2 cores)"
start=$SECONDS
(cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$BIN/$prog.tmp" "sigs.k8s.io/kubefed/cmd/$prog")
mv "$BIN/$prog.tmp" "$BIN/$prog"
log "built $prog in $((SECONDS - start))s"
echo "$BIN/$prog"
