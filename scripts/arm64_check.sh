#!/usr/bin/env bash
# The arm64 binary of the image, run under qemu-aarch64-static: its version, its CRD equal to the
# amd64 build's, and the operator itself reconciling workloads through the scale bench's load API
# (paged lists, watches, server-side apply, status). Fails if any step does. The amd64 side and
# the load API are the debug builds `cargo test` makes: only the arm64 binary is built for it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v qemu-aarch64-static >/dev/null || { echo "arm64 check: qemu-aarch64-static is missing (Debian qemu-user-static; scripts/setup.sh installs it)" >&2; exit 1; }
make --no-print-directory arm64 >/dev/null
arm=target/aarch64-unknown-linux-musl/release/wasm-operator
amd=target/debug/wasm-operator
cargo build -q --locked -p wasm-operator   # nothing to do after `cargo test`
file_type=$(od -An -tx1 -j18 -N2 "$arm" | tr -d ' ')
[ "$file_type" = "b700" ] || { echo "arm64 check: $arm is not an aarch64 ELF (e_machine $file_type)" >&2; exit 1; }
version=$(qemu-aarch64-static "$arm" --version)
[ "$version" = "$("$amd" --version)" ] || { echo "arm64 check: --version differs: $version" >&2; exit 1; }
cmp <(qemu-aarch64-static "$arm" crd) <(
  "$amd" crd) || { echo "arm64 check: the CRD differs between arm64 and amd64" >&2; exit 1; }
wrap=$(mktemp)
trap 'rm -f "$wrap"' EXIT
printf '#!/bin/sh\nexec qemu-aarch64-static "$@"\n' > "$wrap"
chmod +x "$wrap"
# The bench's load API in the test profile (`cargo test --bench`): 20 workloads need no release
# build of it.
out=$(env BENCH_BINARY="$PWD/$arm" BENCH_WRAP="$wrap" \
  cargo test --locked -p wasm-operator --bench scale -- 20 2>&1) || { echo "$out" >&2; echo "arm64 check: the operator under qemu did not converge 20 workloads" >&2; exit 1; }
row=$(echo "$out" | grep '^| 20 | 1 |') || { echo "$out" >&2; exit 1; }
writes=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $7); print $7}')
[ "$writes" = 0 ] || { echo "arm64 check: the no-op resync wrote $writes times: $row" >&2; exit 1; }
echo "arm64 check: $version; CRD equal to amd64's; under qemu 20 workloads converged, resync wrote nothing"
echo "$row"
