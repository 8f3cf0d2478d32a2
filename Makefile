.PHONY: run test crd e2e bench

# Run the operator against the cluster named by KUBECONFIG (or in-cluster config).
run:
	cargo run --release -p wasm-operator -- run

# Set up what the tests need (apt packages, .venv) and run every test.
test:
	scripts/test.sh

# Regenerate the checked-in CRD (and the chart's copy).
crd:
	cargo run -q -p wasm-operator -- crd > crds/wasmworkload.yaml
	cp crds/wasmworkload.yaml charts/wasm-operator/crds/wasmworkload.yaml

# End-to-end suite against the cluster named by KUBECONFIG (not part of `make test`).
e2e:
	e2e/run.sh

# Scale benchmark (BENCHMARKS.md): the release binary against a load API, N = 1,000 and 10,000.
bench:
	cargo bench -p wasm-operator --bench scale
