#!/usr/bin/env bash
# Every test: set-up, formatting, lints, unit, controller, schema and tool-driven tests, the
# apps' own tests and the arm64 binary under qemu. Each stage is timed; the table ends the run.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
timings=$(mktemp)
trap 'rm -f "$log" "$timings"' EXIT
status=0
started=$(date +%s)

# stage NAME COMMAND…: run it, note its seconds; a failure is remembered, the run goes on.
stage() {
  local name=$1 begun rc=0
  shift
  begun=$(date +%s)
  "$@" || rc=$?
  printf '%s\t%s\t%s\n' "$name" "$(( $(date +%s) - begun ))" "$([ $rc = 0 ] && echo ok || echo FAILED)" >> "$timings"
  [ $rc = 0 ] || status=1
  return 0
}

# What the tests need; nothing else runs without it.
stage "set-up (apt, .venv, rustup targets)" scripts/setup.sh
[ "$status" = 0 ] || { echo "test: set-up failed" >&2; exit 1; }
export KUBERNETES_VALIDATE="$PWD/.venv/bin/kubernetes-validate"

stage "cargo fmt --check" cargo fmt --all -- --check
stage "cargo clippy -D warnings" cargo clippy --workspace --all-targets --locked -- -D warnings
# The workspace's tests: unit, controller, tool-driven; the debug binary they build is the
# amd64 side of the arm64 check below.
workspace_tests() { cargo test --workspace --locked 2>&1 | tee -a "$log"; }
stage "cargo test --workspace" workspace_tests
# The e2e suite's apps, natively (`make apps` builds their Wasm images), in one target folder:
# they share most of their crates.
apps_tests() {
  local app rc=0
  for app in apps/*/; do
    CARGO_TARGET_DIR="$PWD/target/apps" cargo test --locked --manifest-path "$app/Cargo.toml" 2>&1 | tee -a "$log" || rc=1
  done
  return $rc
}
stage "apps' tests" apps_tests
# The arm64 binary under qemu (its own pass/fail; counted as one test below).
arm64() {
  if scripts/arm64_check.sh 2>&1 | tee -a "$log"; then
    echo "test result: ok. 1 passed; 0 failed; 0 ignored (arm64 under qemu)" >> "$log"
  else
    echo "test result: FAILED. 1 failed; 0 passed; 0 ignored (arm64 under qemu)" >> "$log"
    return 1
  fi
}
stage "arm64 build and check under qemu" arm64

echo
echo "stage                                   seconds  result"
awk -F'\t' '{ printf "%-40s %7d  %s\n", $1, $2, $3 }' "$timings"
printf '%-40s %7d\n' "total" "$(( $(date +%s) - started ))"
# One closing line with the totals of every test binary (e2e scenarios count as skipped here).
awk '/^test result:/ { for (i = 2; i <= NF; i++) {
       if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^ignored/) s += $(i-1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
