#!/usr/bin/env bash
# The arm64 binary of the image, run under qemu-aarch64-static: its version, its CRD equal to the
# amd64 build's, and the operator itself reconciling workloads through the scale bench's load API
# (paged lists, watches, server-side apply, status). Fails if any step does.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v qemu-aarch64-static >/dev/null || { echo "arm64 check: qemu-aarch64-static is missing (Debian qemu-user-static; scripts/setup.sh installs it)" >&2; exit 1; }
make --no-print-directory musl arm64 >/dev/null
arm=target/aarch64-unknown-linux-musl/release/wasm-operator
amd=target/x86_64-unknown-linux-musl/release/wasm-operator
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
out=$(env MIMALLOC_PURGE_DELAY=0 MIMALLOC_ARENA_EAGER_COMMIT=0 BENCH_BINARY="$PWD/$arm" BENCH_WRAP="$wrap" \
  cargo bench --locked -p wasm-operator --bench scale -- 20 2>&1) || { echo "$out" >&2; echo "arm64 check: the operator under qemu did not converge 20 workloads" >&2; exit 1; }
row=$(echo "$out" | grep '^| 20 | 1 |') || { echo "$out" >&2; exit 1; }
writes=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $7); print $7}')
[ "$writes" = 0 ] || { echo "arm64 check: the no-op resync wrote $writes times: $row" >&2; exit 1; }
echo "arm64 check: $version; CRD equal to amd64's; under qemu 20 workloads converged, resync wrote nothing"
echo "$row"
