#!/usr/bin/env bash
# Every test: set-up, formatting, lints, unit, controller, schema and tool-driven tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export KUBERNETES_VALIDATE="$PWD/.venv/bin/kubernetes-validate"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
log=$(mktemp)
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
# The e2e suite's apps, natively (`make apps` builds their Wasm images).
for app in apps/*/; do
  cargo test --locked --manifest-path "$app/Cargo.toml" 2>&1 | tee -a "$log" || status=$?
done
# One closing line with the totals of every test binary (e2e scenarios count as skipped here).
awk '/^test result:/ { for (i = 2; i <= NF; i++) {
       if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^ignored/) s += $(i-1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$status"
