#!/usr/bin/env bash
# `make e2e`: the end-to-end suite against the cluster named by KUBECONFIG.
# Installs the CRD with kubectl (the file users apply), starts the operator (the release binary,
# or the Helm chart with E2E_HELM=1 and E2E_IMAGE=repo:tag), runs every scenario, stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! kubectl version --request-timeout=10s >/dev/null 2>&1; then
  echo "e2e: no reachable cluster: set KUBECONFIG to a cluster that 'kubectl version' can reach" >&2
  exit 1
fi

kubectl apply -f crds/wasmworkload.yaml
kubectl wait --for=condition=Established crd/wasmworkloads.wasm-operator.dev --timeout=60s

# Runtime names the scenarios use besides RuntimeClass names they create themselves.
runtime_config='{"runtimes":[{"name":"e2e-missing","runtimeClasses":["e2e-never-created"]},{"name":"e2e-late","runtimeClasses":["e2e-late-rc"]}],"defaultOrder":["e2e-missing"]}'
port=${E2E_PORT:-18080}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "${E2E_HELM:-0}" = 1 ]; then helm uninstall wasm-operator -n wasm-system >/dev/null 2>&1 || true; fi
  kubectl delete runtimeclass -l wasm-operator.dev/e2e=true --ignore-not-found >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [ "${E2E_HELM:-0}" = 1 ]; then
  : "${E2E_IMAGE:?E2E_HELM=1 needs E2E_IMAGE=repository:tag of an operator image the cluster can pull}"
  helm upgrade --install wasm-operator charts/wasm-operator -n wasm-system --create-namespace --wait \
    --set image.repository="${E2E_IMAGE%:*}" --set image.tag="${E2E_IMAGE##*:}" \
    --set-json runtimeConfig="$runtime_config"
  kubectl port-forward -n wasm-system svc/wasm-operator-metrics "$port:8080" >"$work/port-forward.log" 2>&1 &
  pids+=($!)
else
  cargo build --release -p wasm-operator
  echo "$runtime_config" > "$work/runtimes.yaml"   # JSON is YAML
  target/release/wasm-operator run --metrics-addr "127.0.0.1:$port" --runtime-config "$work/runtimes.yaml" \
    >"$work/operator.log" 2>&1 &
  pids+=($!)
  echo "e2e: operator log: $work/operator.log"
fi

for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then break; fi
  sleep 1
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "e2e: the operator never became ready" >&2; exit 1; }

# One scenario at a time: one of them taints a node.
E2E_METRICS_URL="http://127.0.0.1:$port" cargo test -p e2e --test scenarios -- --ignored --test-threads=1
