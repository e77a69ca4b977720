#!/usr/bin/env bash
# Container images without Docker or a registry: builds OCI image tarballs (layer tar + config + manifest +
# index.json + oci-layout) and loads them into the testbed node's containerd.
#
#   hack/images.sh build [pause|kubefed-rs|all]   build tarballs (default: all)
#   hack/images.sh load  [pause|kubefed-rs|all]   build, then `ctr images import` into the node's containerd
#
# Each built image prints one line on stdout: `<name> <reference> <tarball>`. Use the reference as written in
# pod specs, with `imagePullPolicy: Never` (or IfNotPresent): nothing is ever pulled.
#   pause       kubefed.local/pause:<tag>    ~15-line static C program, the node's sandbox image
#   kubefed-rs  kubefed-rs:<tag>             /usr/local/bin/{kubefed-webhook,kubefed-controller,kubectl-fed},
#                                            USER 65532, glibc libraries from `ldd` copied in
# <tag> is the first 12 hex digits of the layer's sha256: the same binaries give the same tag, and new
# binaries a new one (so a changed image is never mistaken for a cached one).
#
# Environment:
#   KUBEFED_IMAGE_BINS      directory holding the three binaries already built (skips `cargo build --release`)
#   CARGO_TARGET_DIR        where `cargo build --release` puts them otherwise (hack/env.sh sets it)
#   KUBEFED_NODE_CONTAINERD containerd socket to load into (default: the testbed node's)
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/env.sh
log() { echo "[images] $*" >&2; }
OUT="$KUBEFED_CACHE/images"
SOCKET="${KUBEFED_NODE_CONTAINERD:-/run/kubefed-node/containerd.sock}"
mkdir -p "$OUT"
case "$(uname -m)" in x86_64) ARCH=amd64 ;; aarch64) ARCH=arm64 ;; *) ARCH="$(uname -m)" ;; esac

SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
tmpdir() { mktemp -d -p "$SCRATCH"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# oci_image NAME REF ROOTFS CONFIG_JSON_OF_"config"_FIELD -> writes $OUT/NAME-TAG.tar, prints the line.
# REF may contain @TAG@, replaced by the content tag. The layer is an uncompressed, reproducible tar.
oci_image() {
  local name=$1 ref=$2 rootfs=$3 config=$4
  local work; work=$(tmpdir)
  mkdir -p "$work/oci/blobs/sha256"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu -C "$rootfs" -cf "$work/layer.tar" .
  local layer; layer=$(sha "$work/layer.tar")
  local tag=${layer:0:12}
  ref=${ref//@TAG@/$tag}
  local tarball="$OUT/$name-$tag.tar"
  if [ ! -f "$tarball" ]; then
    mv "$work/layer.tar" "$work/oci/blobs/sha256/$layer"
    printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
      "$ARCH" "$config" "$layer" >"$work/config.json"
    local cfg; cfg=$(sha "$work/config.json")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
      "$cfg" "$(size "$work/config.json")" "$layer" "$(size "$work/oci/blobs/sha256/$layer")" >"$work/manifest.json"
    local man; man=$(sha "$work/manifest.json")
    mv "$work/config.json" "$work/oci/blobs/sha256/$cfg"
    mv "$work/manifest.json" "$work/oci/blobs/sha256/$man"
    # ctr names the image after io.containerd.image.name; the CRI looks images up by their normalized
    # reference (kubefed-rs:x is docker.io/library/kubefed-rs:x), so that is the name stored.
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
      "$man" "$(size "$work/oci/blobs/sha256/$man")" "$(normalize "$ref")" "$tag" >"$work/oci/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/oci" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    log "built $ref ($tarball)"
  fi
  echo "$name $ref $tarball"
}

# The CRI's normalization of an image reference: no registry means docker.io, no path means library/.
normalize() {
  local ref=$1 first=${1%%/*}
  if [[ $ref != */* ]]; then echo "docker.io/library/$ref"
  elif [[ $first == *.* || $first == *:* || $first == localhost ]]; then echo "$ref"
  else echo "docker.io/$ref"; fi
}

build_pause() {
  command -v gcc >/dev/null || { log "gcc is missing (apt-get install gcc libc6-dev): it builds the pause image"; exit 1; }
  local work; work=$(tmpdir)
  mkdir -p "$work/rootfs"
  # The pod sandbox's process: holds the pod's namespaces, reaps zombies, exits on INT/TERM.
  cat >"$work/pause.c" <<'C'
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction q = {0}, r = {0};
  q.sa_handler = quit;
  sigaction(SIGINT, &q, 0);
  sigaction(SIGTERM, &q, 0);
  r.sa_handler = reap;
  r.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &r, 0);
  for (;;) pause();
}
C
  gcc -static -Os -s -o "$work/rootfs/pause" "$work/pause.c"
  oci_image pause "kubefed.local/pause:@TAG@" "$work/rootfs" \
    '{"Entrypoint":["/pause"],"User":"65535:65535","WorkingDir":"/"}'
}

build_kubefed() {
  local bins=${KUBEFED_IMAGE_BINS:-}
  local names=(kubefed-webhook kubefed-controller kubectl-fed)
  if [ -z "$bins" ]; then
    log "cargo build --release (kubefed-webhook, kubefed-controller, kubectl-fed) into $CARGO_TARGET_DIR"
    cargo build --release --locked --quiet -p kubefed-webhook -p kubefed-controller -p kubectl-fed \
      --bin kubefed-webhook --bin kubefed-controller --bin kubectl-fed
    bins="$CARGO_TARGET_DIR/release"
  fi
  local work; work=$(tmpdir)
  local root="$work/rootfs" b lib
  mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp"
  chmod 1777 "$root/tmp"
  for b in "${names[@]}"; do
    [ -x "$bins/$b" ] || { log "$bins/$b is missing (set KUBEFED_IMAGE_BINS or unset it to build)"; exit 1; }
    cp "$bins/$b" "$root/usr/local/bin/$b"
    strip "$root/usr/local/bin/$b" 2>/dev/null || true
    # A glibc-dynamic binary needs its libraries and loader at the same paths (a static one lists none).
    for lib in $(ldd "$bins/$b" 2>/dev/null | grep -o '/[^ ]*' || true); do
      [ -e "$root$lib" ] && continue
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  done
  echo 'nonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin' >"$root/etc/passwd"
  echo 'nonroot:x:65532:' >"$root/etc/group"
  oci_image kubefed-rs "kubefed-rs:@TAG@" "$root" \
    '{"Entrypoint":["/usr/local/bin/kubefed-controller"],"User":"65532:65532","WorkingDir":"/","Env":["PATH=/usr/local/bin:/usr/bin:/bin"]}'
}

load() { # lines of `name ref tarball` on stdin -> import each, echo the line
  command -v ctr >/dev/null || { log "ctr is missing (apt-get install containerd)"; exit 1; }
  [ -S "$SOCKET" ] || { log "no containerd at $SOCKET: start a testbed with a node first (testbed up --node)"; exit 1; }
  local name ref tarball
  while read -r name ref tarball; do
    ctr -a "$SOCKET" -n k8s.io images import "$tarball" >/dev/null ||
      { log "ctr images import $tarball failed"; exit 1; }
    log "loaded $ref into $SOCKET"
    echo "$name $ref $tarball"
  done
}

build() {
  case "${1:-all}" in
    pause) build_pause ;;
    kubefed-rs) build_kubefed ;;
    all) build_pause; build_kubefed ;;
    *) log "unknown image ${1}: pause, kubefed-rs or all"; exit 2 ;;
  esac
}

case "${1:-}" in
  build) build "${2:-all}" ;;
  load) lines=$(build "${2:-all}"); load <<<"$lines" ;;
  *) log "usage: $0 build|load [pause|kubefed-rs|all]"; exit 2 ;;
esac
