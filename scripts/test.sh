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
# The arm64 binary under qemu (its own pass/fail; counted as one test below).
if scripts/arm64_check.sh 2>&1 | tee -a "$log"; then
  echo "test result: ok. 1 passed; 0 failed; 0 ignored (arm64 under qemu)" >> "$log"
else
  echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (arm64 under qemu)" >> "$log"
  status=1
fi
# One closing line with the totals of every test binary (e2e scenarios count as skipped here).
awk '/^test result:/ { for (i = 2; i <= NF; i++) {
       if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^ignored/) s += $(i-1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$status"
