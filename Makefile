.PHONY: run test crd e2e bench musl arm64 image chart plugin apps

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

# Scale benchmark (BENCHMARKS.md): the image's binary (static musl) against a load API, 1,000
# and 10,000 workloads of one pod, 10,000 of three; then the bytes each cache keeps per object.
# `cargo bench -p wasm-operator --bench scale` measures this machine's glibc build instead (the
# same allocator and settings, operator/src/allocator.rs).
bench: musl
	BENCH_BINARY=$(MUSL_BINARY) cargo bench -p wasm-operator --bench scale
	cargo bench -p wasm-operator --bench cache_bytes

# The static musl binary of the image.
MUSL_BINARY = $(CURDIR)/target/x86_64-unknown-linux-musl/release/wasm-operator
musl:
	rustup target add x86_64-unknown-linux-musl
	command -v musl-gcc >/dev/null || apt-get install -y --no-install-recommends musl-tools
	cargo build --release --locked --target x86_64-unknown-linux-musl -p wasm-operator

# The arm64 static binary (a zig cross linker from PyPI through cargo-zigbuild; scripts/setup.sh
# installs both).
ARM_BINARY = $(CURDIR)/target/aarch64-unknown-linux-musl/release/wasm-operator
arm64:
	rustup target add aarch64-unknown-linux-musl
	PATH="$(CURDIR)/.venv/bin:$$PATH" cargo zigbuild --release --locked --target aarch64-unknown-linux-musl -p wasm-operator

# The chart as a package, as `helm package` writes it: target/chart/wasm-operator-<version>.tgz.
chart:
	scripts/setup.sh >/dev/null
	mkdir -p target/chart
	.venv/bin/python scripts/helm_tool.py package charts/wasm-operator target/chart

# The kubectl plugin's release archives (target/plugin) and its krew manifest (plugins/wasm.yaml).
VERSION = $(shell sed -n 's/^appVersion: *"\(.*\)"/\1/p' charts/wasm-operator/Chart.yaml)
plugin: musl arm64
	mkdir -p target/plugin
	scripts/krew_manifest.py $(VERSION) target/plugin $(MUSL_BINARY) $(ARM_BINARY)

# The operator image as an OCI layout tarball (no container daemon needed): a static musl binary,
# as the Containerfile builds it. Import it with `ctr -n k8s.io images import`, `kind load
# image-archive` or `k3d image import`.
IMAGE ?= ghcr.io/wasm-operator/wasm-operator:$(shell sed -n 's/^appVersion: *"\(.*\)"/\1/p' charts/wasm-operator/Chart.yaml)
image: musl arm64
	mkdir -p target/image
	@# The allocator's settings (operator/src/allocator.rs), so the binary need not start itself again.
	scripts/oci_image.py --ref $(IMAGE) --out target/image/wasm-operator.tar --user 65532:65532 \
	  --env MIMALLOC_PURGE_DELAY=0 --env MIMALLOC_ARENA_EAGER_COMMIT=0 \
	  --entrypoint '["/wasm-operator"]' --cmd '["run"]' $(MUSL_BINARY)=/wasm-operator \
	  --also linux/arm64 $(ARM_BINARY)=/wasm-operator
	@# The SBOM of the binary's crates (CycloneDX 1.5, cargo-cyclonedx from crates.io), next to it.
	command -v cargo-cyclonedx >/dev/null || cargo install -q --locked cargo-cyclonedx@0.5.9
	cargo cyclonedx -f json --spec-version 1.5 --target x86_64-unknown-linux-musl
	mv operator/wasm-operator.cdx.json target/image/wasm-operator.cdx.json
	rm -f e2e/e2e.cdx.json
	@python3 -c 'import json; d = json.load(open("target/image/wasm-operator.cdx.json")); print("target/image/wasm-operator.cdx.json:", d["bomFormat"], d["specVersion"], len(d["components"]), "crates")'

# The test apps of the e2e suite (apps/), each as a Wasm image and its container twin, written as
# OCI tarballs to target/apps/ for `ctr -n k8s.io images import --all-platforms`.
APPS_TAG ?= 1
apps:
	rustup target add wasm32-wasip1 wasm32-wasip2 x86_64-unknown-linux-musl
	cd apps/print-and-sleep && cargo build --release --locked --target wasm32-wasip1 && \
	  cargo build --release --locked --target x86_64-unknown-linux-musl
	cd apps/http-hello && cargo build --release --locked --lib --target wasm32-wasip2 && \
	  cargo build --release --locked --bin http-hello --target x86_64-unknown-linux-musl
	cd apps/spin-hello && cargo build --release --locked --target wasm32-wasip1
	mkdir -p target/apps
	scripts/oci_image.py --ref localhost/http-hello-wasm:$(APPS_TAG) --out target/apps/http-hello-wasm.tar \
	  --platform wasip1/wasm --entrypoint '["/http-hello.wasm"]' \
	  apps/http-hello/target/wasm32-wasip2/release/http_hello.wasm=/http-hello.wasm
	scripts/oci_image.py --ref localhost/http-hello:$(APPS_TAG) --out target/apps/http-hello.tar \
	  --entrypoint '["/http-hello"]' apps/http-hello/target/x86_64-unknown-linux-musl/release/http-hello=/http-hello
	# The Spin app as SpinKube documents images built without the spin CLI: spin.toml and the
	# module side by side at the image's root, platform wasi/wasm, run with command ["/"]. Not
	# the Spin OCI artifact layout: that one is written by `spin registry push` to a registry,
	# and this project has neither; the shim reads /spin.toml from a plain image's root.
	scripts/oci_image.py --ref localhost/spin-hello-wasm:$(APPS_TAG) --out target/apps/spin-hello-wasm.tar \
	  --platform wasi/wasm --cmd '["/"]' apps/spin-hello/spin.toml=/spin.toml:0644 \
	  apps/spin-hello/target/wasm32-wasip1/release/spin_hello.wasm=/spin_hello.wasm:0644
	scripts/oci_image.py --ref localhost/print-and-sleep-wasm:$(APPS_TAG) --out target/apps/print-and-sleep-wasm.tar \
	  --platform wasip1/wasm --entrypoint '["/print-and-sleep.wasm"]' \
	  apps/print-and-sleep/target/wasm32-wasip1/release/print-and-sleep.wasm=/print-and-sleep.wasm
	scripts/oci_image.py --ref localhost/print-and-sleep:$(APPS_TAG) --out target/apps/print-and-sleep.tar \
	  --entrypoint '["/print-and-sleep"]' \
	  apps/print-and-sleep/target/x86_64-unknown-linux-musl/release/print-and-sleep=/print-and-sleep
