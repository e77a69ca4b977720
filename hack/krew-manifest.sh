#!/usr/bin/env bash
# Fills plugins/fed.yaml for a release and prints it: version, archive URLs and their sha256.
#
#   hack/krew-manifest.sh VERSION BASE_URL DIST_DIR > fed.yaml
#
# DIST_DIR holds kubectl-fed_VERSION_{linux,darwin}_{amd64,arm64}.tar.gz (each with kubectl-fed,
# kubectl_complete-fed and LICENSE at the top level); BASE_URL is where they are published. Fails when an
# archive is missing, so a manifest never points at a file that does not exist.
set -euo pipefail
version="${1:?usage: $0 VERSION BASE_URL DIST_DIR}"
base="${2:?usage: $0 VERSION BASE_URL DIST_DIR}"
dist="${3:?usage: $0 VERSION BASE_URL DIST_DIR}"
manifest="$(dirname "$0")/../plugins/fed.yaml"
text="$(sed -e "s|v0\.0\.0|${version}|g" -e "s|RELEASE_BASE_URL|${base%/}|g" "$manifest")"
for platform in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64; do
  archive="$dist/kubectl-fed_${version}_${platform}.tar.gz"
  [ -f "$archive" ] || { echo "missing $archive" >&2; exit 1; }
  sum="$(sha256sum "$archive" | cut -d' ' -f1)"
  # The zero placeholder after this platform's uri line.
  text="$(printf '%s\n' "$text" | awk -v p="_${platform}.tar.gz" -v s="$sum" '
    index($0, p) { hit = 1 }
    hit && /sha256: "0+"/ { sub(/"0+"/, "\"" s "\""); hit = 0 }
    { print }')"
done
printf '%s\n' "$text"
