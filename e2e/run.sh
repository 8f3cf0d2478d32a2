#!/usr/bin/env bash
# `make e2e`: the end-to-end suite against the cluster named by KUBECONFIG.
# Installs the CRD as the README says (kubectl apply --server-side), starts the operator (the
# release binary under a small supervisor that restarts it like a kubelet would, or, with
# E2E_HELM=1, the Helm chart through the Helm engine of the tests), runs every scenario, stops it.
#
#   E2E_HELM=1               install the chart; E2E_IMAGE=repo:tag is the operator image the
#                            nodes can pull (default: the chart's own; `make image` builds it);
#                            E2E_CHART=target/chart/wasm-operator-X.tgz installs the package
#                            `make chart` writes instead of the chart's folder
#   E2E_WASM_RUNTIME_CLASS   an existing RuntimeClass whose nodes run Wasm (else one is made
#                            with handler E2E_WASM_HANDLER, default spin, on every node)
#   E2E_WASM_IMAGE, E2E_WASM_COMMAND (JSON list), E2E_CONTAINER_IMAGE
#                            images the nodes can run: the Wasm app, and a long-running container
#   E2E_SPIN_RUNTIME_CLASS, E2E_SPIN_IMAGE
#                            the Spin shim's RuntimeClass (default wasmtime-spin-v2, as SpinKube
#                            names it) and the Spin app image (default apps/spin-hello's)
#   E2E_ARGS                 cargo test's selection, e.g. "--test runtime_restart" (default:
#                            every scenario file); E2E_FILTER, a scenario name filter
set -euo pipefail
cd "$(dirname "$0")/.."

if ! kubectl version --request-timeout=10s >/dev/null 2>&1; then
  echo "e2e: no reachable cluster: set KUBECONFIG to a cluster that 'kubectl version' can reach" >&2
  exit 1
fi

# --force-conflicts: this checkout's CRD wins over an older one another manager (Helm) applied.
kubectl apply --server-side --force-conflicts -f crds/wasmworkload.yaml
# A loop, not `kubectl wait`: on a CRD created a moment ago kubectl 1.32's wait fails on the
# still-empty status ("conditions accessor error") instead of waiting.
for _ in $(seq 1 60); do
  established=$(kubectl get crd wasmworkloads.wasm-operator.dev \
    -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null || true)
  [ "$established" = True ] && break
  sleep 1
done
[ "$established" = True ] || { echo "e2e: the CRD was not Established within 60 s" >&2; exit 1; }

# Runtime names the scenarios use besides RuntimeClass names they create themselves, and the
# built-in `spin` entry the Quickstart example asks for.
runtime_config='{"runtimes":[{"name":"e2e-missing","runtimeClasses":["e2e-never-created"]},{"name":"e2e-late","runtimeClasses":["e2e-late-rc"]},{"name":"e2e-removable","runtimeClasses":["e2e-removable-rc"]},{"name":"e2e-spin","runtimeClasses":["e2e-spin-rc"]},{"name":"spin","runtimeClasses":["wasmtime-spin-v2","spin-v2","spin"]}],"defaultOrder":["e2e-missing"]}'
port=${E2E_PORT:-18080}
work=$(mktemp -d)
pids=()
helm_tool() { .venv/bin/python scripts/helm_tool.py "$@"; }
cleanup() {
  touch "$work/stop"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/operator.pid" ] && kill "$(cat "$work/operator.pid")" 2>/dev/null || true
  kubectl delete runtimeclass -l wasm-operator.dev/e2e=true --ignore-not-found >/dev/null 2>&1 || true
}
trap cleanup EXIT

started=$(date +%s)
# The binary the supervisor runs, and the one `kubectl wasm` runs in kubectl_plugin.rs.
cargo build --release -p wasm-operator
if [ "${E2E_HELM:-0}" = 1 ]; then
  scripts/setup.sh >/dev/null   # the .venv with the Helm engine of the tests
  app_version=$(sed -n 's/^appVersion: *"\(.*\)"/\1/p' charts/wasm-operator/Chart.yaml)
  image=${E2E_IMAGE:-ghcr.io/wasm-operator/wasm-operator:$app_version}
  export E2E_HELM_VALUES="{\"replicaCount\":2,\"image\":{\"repository\":\"${image%:*}\",\"tag\":\"${image##*:}\"},\"runtimeConfig\":$runtime_config}"
  # The operator's namespace enforces the restricted Pod Security Standard: its pods must pass.
  kubectl create namespace wasm-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl label namespace wasm-system pod-security.kubernetes.io/enforce=restricted --overwrite >/dev/null
  # As the README: the CRD applied by kubectl first, then the chart (which waits for its pods).
  export E2E_CHART=$(realpath "${E2E_CHART:-charts/wasm-operator}")
  helm_tool install "$E2E_CHART" "$E2E_HELM_VALUES"
else
  echo "$runtime_config" > "$work/runtimes.yaml"   # JSON is YAML
  export E2E_OPERATOR_PIDFILE="$work/operator.pid"
  # The supervisor: start the operator again 3 s after it exits, until the suite is done.
  (
    while [ ! -f "$work/stop" ]; do
      target/release/wasm-operator run --metrics-addr "127.0.0.1:$port" --runtime-config "$work/runtimes.yaml" \
        >>"$work/operator.log" 2>&1 &
      echo $! >"$work/operator.pid"
      wait $! || true
      sleep 3
    done
  ) &
  pids+=($!)
  echo "e2e: operator log: $work/operator.log"

  for _ in $(seq 1 120); do
    if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then break; fi
    sleep 1
  done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "e2e: the operator never became ready" >&2; exit 1; }
fi

# One scenario at a time: one of them taints a node, another restarts the operator. Every
# scenario file runs (--no-fail-fast), whatever failed before it; each scenario removes what it
# made (its namespace, its RuntimeClasses) even when it fails.
skip=()
[ "${E2E_HELM:-0}" = 1 ] || skip=(--skip chart_upgrade_rolls_out)
set +e
# shellcheck disable=SC2086 # E2E_ARGS is words for cargo
E2E_METRICS_URL="http://127.0.0.1:$port" cargo test -p e2e ${E2E_ARGS:---tests} --no-fail-fast -- --ignored \
  --test-threads=1 "${skip[@]}" ${E2E_FILTER:-} 2>&1 | tee "$work/suite.log"
suite=${PIPESTATUS[0]}
set -e

if [ "${E2E_HELM:-0}" = 1 ]; then
  helm_tool uninstall "$E2E_CHART"
  # Garbage collection removes the ReplicaSets and pods shortly after the Deployment.
  for _ in $(seq 1 60); do
    # What the cluster itself puts in every namespace does not count.
    left=$(kubectl get deploy,rs,pod,svc,sa,cm,secret,role,rolebinding,lease -n wasm-system -o name 2>/dev/null \
             | grep -v -e '^serviceaccount/default$' -e '^configmap/.*\.crt$' || true)
    left+=$(kubectl get clusterrole,clusterrolebinding -o name | grep wasm-operator || true)
    [ -z "$left" ] && break
    sleep 1
  done
  if [ -n "$left" ]; then echo "e2e: helm uninstall left behind: $left" >&2; exit 1; fi
  kubectl get crd wasmworkloads.wasm-operator.dev >/dev/null   # the CRD stays, as Helm keeps crds/
  echo "e2e: helm uninstall left nothing behind but the CRD"
fi
# What a failed scenario left (a namespace it was deleting when the run ended) goes too.
kubectl delete namespace -l wasm-operator.dev/e2e=true --wait=false >/dev/null 2>&1 || true
# One closing line with the totals of every scenario file, after the names of those that failed.
grep -E '^test .* \.\.\. FAILED$' "$work/suite.log" | sed 's/^test \(.*\) \.\.\. FAILED$/e2e: FAILED \1/' || true
awk -v secs=$(( $(date +%s) - started )) '/^test result:/ { for (i = 2; i <= NF; i++) {
       if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^filtered/) s += $(i-1) } }
     END { printf "e2e: %d passed, %d failed, %d filtered out in %d s\n", p, f, s, secs }' "$work/suite.log"
exit "$suite"
