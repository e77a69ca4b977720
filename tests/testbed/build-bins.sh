#!/usr/bin/env bash
# Builds the testbed's real control-plane binaries from the Go module proxy into a cache outside the repo:
#   kube-apiserver, kube-controller-manager, kubectl, and for the testbed's optional node kubelet and
#   kube-scheduler (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3), helm.
# `go install pkg@version` refuses modules with replace directives (kubernetes and etcd have them), so each is
# built inside a small wrapper module of ours that requires it and pins its staging modules.
# Skips what is already built. Prints the bin directory on its last line of stdout.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
HELM_VERSION="${HELM_VERSION:-3.19.5}"
CACHE="${KUBEFED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubefed-rs}"
BIN="$CACHE/bin/k8s-v$K8S_VERSION-etcd-v$ETCD_VERSION-helm-v$HELM_VERSION"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

log() { echo "[testbed-build] $*" >&2; }
command -v go >/dev/null || { log "go is not installed; install Go >= 1.24 (apt-get install golang or the machine's Go)"; exit 1; }
mkdir -p "$BIN"

have() { [ -x "$BIN/$1" ]; }
minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
staging="0.$minor.${K8S_VERSION##*.}"

build_kubernetes() {
  local want=() b
  for b in kube-apiserver kube-controller-manager kubectl kubelet kube-scheduler; do have "$b" || want+=("$b"); done
  [ ${#want[@]} -eq 0 ] && { log "kubernetes v$K8S_VERSION binaries already built"; return; }
  local mod="$CACHE/src/k8s-v$K8S_VERSION"
  mkdir -p "$mod"
  if [ ! -f "$mod/go.sum" ]; then
    log "resolving k8s.io/kubernetes v$K8S_VERSION and its staging modules"
    local gomod
    gomod=$(cd "$mod" && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    # kubernetes' go.mod replaces each staging module with ./staging/src/k8s.io/<name>: pin each to v0.<minor>.<patch>.
    mods=$(sed -nE 's@^[[:space:]]*(k8s\.io/[A-Za-z0-9._-]+) => \./staging/.*@\1@p' "$gomod" | sort -u)
    log "pinning $(echo "$mods" | wc -l) staging modules to v$staging"
    {
      echo "module kubefed.local/testbed/k8s"
      echo
      echo "go 1.24.0"
      echo
      echo "godebug default=go1.24"
      echo
      echo "require k8s.io/kubernetes v$K8S_VERSION"
      echo
      echo "replace ("
      for m in $mods; do echo "	$m => $m v$staging"; done
      echo ")"
    } > "$mod/go.mod"
  fi
  # tools.go lists what tidy must keep. A module dir made before kubelet and kube-scheduler were added has a
  # go.sum without their dependencies: rewriting tools.go re-runs tidy.
  local tools
  tools=$(cat <<'GO'
//go:build tools

// Package tools makes `go mod tidy` keep what the testbed builds.
package tools

import (
	_ "k8s.io/kubectl/pkg/cmd"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
)
GO
)
  if [ ! -f "$mod/go.sum" ] || [ "$(cat "$mod/tools.go" 2>/dev/null)" != "$tools" ]; then
    log "go mod tidy for kubernetes v$K8S_VERSION"
    printf '%s\n' "$tools" > "$mod/tools.go"
    (cd "$mod" && go mod tidy) || { rm -f "$mod/go.sum" "$mod/tools.go"; log "go mod tidy failed"; exit 1; }
  fi
  local ld="-s -w"
  local v
  for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
    ld+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z -X $v.gitCommit=0000000000000000000000000000000000000000"
  done
  for b in "${want[@]}"; do
    log "building $b v$K8S_VERSION (several minutes on 2 cores)"
    local start=$SECONDS
    (cd "$mod" && go build -trimpath -ldflags "$ld" -o "$BIN/$b.tmp" "k8s.io/kubernetes/cmd/$b")
    mv "$BIN/$b.tmp" "$BIN/$b"
    log "built $b in $((SECONDS - start))s"
  done
}

build_etcd() {
  have etcd && { log "etcd v$ETCD_VERSION already built"; return; }
  local mod="$CACHE/src/etcd-v$ETCD_VERSION"
  mkdir -p "$mod"
  if [ ! -f "$mod/go.sum" ]; then
    log "resolving go.etcd.io/etcd/server/v3 v$ETCD_VERSION"
    cat > "$mod/go.mod" <<GOMOD
module kubefed.local/testbed/etcd

go 1.24.0

require go.etcd.io/etcd/server/v3 v$ETCD_VERSION

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 v$ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 v$ETCD_VERSION
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 v$ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 v$ETCD_VERSION
)
GOMOD
    cat > "$mod/tools.go" <<'GO'
//go:build tools

// Package tools makes `go mod tidy` keep what the testbed builds.
package tools

import _ "go.etcd.io/etcd/server/v3/etcdmain"
GO
    (cd "$mod" && go mod tidy) || { rm -f "$mod/go.sum"; log "go mod tidy failed"; exit 1; }
  fi
  log "building etcd v$ETCD_VERSION"
  local start=$SECONDS
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$BIN/etcd.tmp" "$BIN/etcd"
  log "built etcd in $((SECONDS - start))s"
}

build_helm() {
  have helm && { log "helm v$HELM_VERSION already built"; return; }
  log "building helm v$HELM_VERSION"
  local start=$SECONDS
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  log "built helm in $((SECONDS - start))s"
}

case "${1:-all}" in
  all) build_etcd; build_kubernetes; build_helm ;;
  etcd) build_etcd ;;
  kubernetes) build_kubernetes ;;
  helm) build_helm ;;
  *) log "usage: $0 [all|etcd|kubernetes|helm]"; exit 2 ;;
esac
echo "$BIN"
