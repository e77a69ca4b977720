#!/usr/bin/env bash
# Checks (and where it can, installs) what building and testing kubefed-rs needs. Says what is missing
# and how to get it, rather than failing later with a confusing error.
set -euo pipefail
log() { echo "[ensure-tools] $*" >&2; }
missing=0

need_debian() { # command package
  command -v "$1" >/dev/null && return
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    log "installing $2 (for $1)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  else
    log "missing $1: install the Debian package $2"; missing=1
  fi
}
need_debian make make
need_debian gcc gcc
need_debian git git

# The testbed's optional node (docs/testbed.md, "A worker node") runs containerd + runc + CNI plugins and
# builds a static pause binary. It needs root; without root these are only reported, and the tests that need
# a node skip with a message saying why.
need_node() { # check package
  eval "$1" >/dev/null 2>&1 && return
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    log "installing $2 (for the testbed's node)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
  else
    log "note: the testbed's node needs root and the Debian package $2 (node tests will skip)"
  fi
}
need_node "command -v containerd" containerd
need_node "command -v runc" runc
need_node "test -x /usr/lib/cni/bridge" containernetworking-plugins
need_node "command -v ip" iproute2
need_node "command -v unshare" util-linux
need_node "test -f /usr/lib/x86_64-linux-gnu/libc.a || test -f /usr/lib/aarch64-linux-gnu/libc.a" libc6-dev

if ! command -v cargo >/dev/null; then
  log "missing Rust: install it with rustup (stable >= 1.89) and re-run"; missing=1
else
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c" || {
      log "missing the $c component: rustup component add $c"; missing=1; }
  done
fi
if ! command -v go >/dev/null; then
  log "missing Go >= 1.24 (needed to build the testbed's kube-apiserver and etcd)"; missing=1
else
  v=$(go env GOVERSION | sed 's/^go//'); maj=${v%%.*}; rest=${v#*.}; min=${rest%%.*}
  if [ "$maj" -lt 1 ] || { [ "$maj" -eq 1 ] && [ "$min" -lt 24 ]; }; then
    log "Go $v is too old: the testbed needs Go >= 1.24"; missing=1
  fi
fi
exit "$missing"
