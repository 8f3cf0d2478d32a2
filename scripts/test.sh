#!/usr/bin/env bash
# Every test: set-up, formatting, lints, unit, controller, schema and tool-driven tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export KUBERNETES_VALIDATE="$PWD/.venv/bin/kubernetes-validate"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
