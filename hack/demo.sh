#!/usr/bin/env bash
# The demo (README: `make demo`). Tells the whole story the way a platform team runs it:
#   a host + 2 member clusters (real kube-apiserver + etcd) and a worker node on the host →
#   our image built and loaded (no Docker, no registry) → `helm install` of charts/kubefed →
#   `kubectl fed join` of both members → `kubectl fed apply` of the example app with an override →
#   per-cluster status → a FederationPolicy denying a bad placement, as the user sees it.
# Where the machine cannot run a node (not root, no cgroups, no containerd), it says so and falls back to
# running the webhook-less controller as a process (the previous demo). Builds what is missing first.
# Pass --exit to stop once everything is shown; otherwise it runs until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/env.sh
exit_when_done=0
for a in "$@"; do [ "$a" = --exit ] && exit_when_done=1; done

bash hack/ensure-tools.sh
KUBEFED_TESTBED_BIN=$(bash tests/testbed/build-bins.sh all | tail -n 1)
export KUBEFED_TESTBED_BIN
cargo build --quiet -p kubefed-tests --bin testbed -p kubefed-controller --bin kubefed-controller \
  -p kubectl-fed --bin kubectl-fed -p kubefed-webhook --bin kubefed-webhook
D="$CARGO_TARGET_DIR/debug"

node_ok() {
  [ "$(id -u)" = 0 ] && [ -d /sys/fs/cgroup ] && command -v containerd >/dev/null && command -v runc >/dev/null \
    && [ -x "$KUBEFED_TESTBED_BIN/kubelet" ]
}
if ! node_ok; then
  echo "!! This machine cannot run a worker node (needs root, cgroups, containerd and runc: see docs/testbed.md)."
  echo "!! Falling back to the process demo: the controller runs as a process, without the chart."
  exec "$D/testbed" demo --controller "$D/kubefed-controller" --kubectl-fed "$D/kubectl-fed" \
    --app examples/app.yaml "$@"
fi

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
work=$(mktemp -d)
tb_pid=
cleanup() {
  if [ -n "$tb_pid" ] && kill -0 "$tb_pid" 2>/dev/null; then
    echo "stopping the testbed…"
    kill -INT "$tb_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$tb_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$tb_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bold "1. Three control planes and a worker node for the host"
"$D/testbed" up --members 2 --node --kubeconfig-out "$work/kubeconfig" >"$work/testbed.log" 2>&1 &
tb_pid=$!
for _ in $(seq 600); do
  grep -q '^press Ctrl-C' "$work/testbed.log" 2>/dev/null && break
  kill -0 "$tb_pid" 2>/dev/null || { cat "$work/testbed.log"; echo "the testbed did not start"; exit 1; }
  sleep 0.5
done
grep -q '^press Ctrl-C' "$work/testbed.log" || { cat "$work/testbed.log"; echo "the testbed did not start in time"; exit 1; }
sed -n '/^ready in/,/^contexts/p' "$work/testbed.log"
export KUBECONFIG="$work/kubeconfig" PATH="$KUBEFED_TESTBED_BIN:$D:$PATH"
# The controller runs in a pod: it reaches the members on the node's bridge address, not on loopback.
pod_endpoint() { kubectl config view -o jsonpath="{.clusters[?(@.name==\"$1\")].cluster.server}" \
  | sed 's#https://127.0.0.1:#https://10.77.0.1:#'; }

bold "2. Our image, built as an OCI tarball and loaded into the node's containerd (no Docker, no registry)"
image=$(KUBEFED_IMAGE_BINS="$D" bash hack/images.sh load kubefed-rs | awk '$1 == "kubefed-rs" {print $2}')
echo "image: $image"

bold "3. helm install"
run helm install kubefed charts/kubefed -n kube-federation-system --create-namespace \
  --set image.repository="${image%:*}" --set image.tag="${image##*:}" --set image.pullPolicy=Never \
  --set kubefedConfig.clusterHealthCheck.period=2s --wait --timeout 5m
run kubectl -n kube-federation-system get deploy,pods -o wide

bold "4. Join the members (least-privilege identity in each, waits until Ready)"
run kubectl fed join member-1 --cluster-context member-1 --host-context host --labels region=eu \
  --api-endpoint "$(pod_endpoint member-1)"
run kubectl fed join member-2 --cluster-context member-2 --host-context host --labels region=us \
  --api-endpoint "$(pod_endpoint member-2)"
run kubectl fed get clusters

bold "5. Federate the example app (webhook validates, controller pods propagate)"
run kubectl fed apply -f examples/app.yaml --clusters member-1,member-2 --create-namespace
run kubectl fed apply -f examples/web.yaml --clusters member-1,member-2 --override member-2:/spec/replicas=3
run kubectl -n demo wait --for=condition=Propagation --timeout=120s \
  federatedconfigmap/web-config federatedservice/web federateddeployment/web

bold "6. Where it runs"
run kubectl fed status -f examples/web.yaml
for m in member-1 member-2; do
  run kubectl --context "$m" -n demo get deploy,configmap,service -l kubefed.io/managed=true
done

bold "7. Org policy: nothing of namespace demo in the US region"
run kubectl apply -f examples/policy.yaml
sleep 2
echo "# a developer tries to put a new deployment on member-2 (region=us):"
printf '$ %s\n' "kubectl fed apply -f examples/web.yaml --clusters member-2 (as a new object 'web-us')"
sed 's/name: web$/name: web-us/' examples/web.yaml > "$work/web-us.yaml"
if kubectl fed apply -f "$work/web-us.yaml" --clusters member-2; then
  echo "!! expected a denial"; exit 1
else
  echo "# denied by the webhook, with the reason above"
fi

bold "Done"
echo "kubeconfig: $KUBECONFIG  (contexts: host, member-1, member-2, alice@host, …)"
if [ "$exit_when_done" = 1 ]; then exit 0; fi
echo "press Ctrl-C to stop"
while kill -0 "$tb_pid" 2>/dev/null; do sleep 1; done
