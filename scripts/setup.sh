#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: Prometheus (with promtool) and the Wasm
# tools from Debian, and the Python virtualenv (.venv) with kubernetes-validate and Helm.
# Idempotent: does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v wat2wasm >/dev/null 2>&1 || missing+=(wabt)
command -v wasm-opt >/dev/null 2>&1 || missing+=(binaryen)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
command -v musl-gcc >/dev/null 2>&1 || missing+=(musl-tools)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! .venv/bin/python -c 'import kubernetes_validate, helm_python, ziglang, check_jsonschema' >/dev/null 2>&1 \
   || [ ! -x .venv/bin/cargo-zigbuild ] \
   || ! cmp -s scripts/requirements.txt .venv/requirements.txt; then
  echo "setup: creating the Python virtualenv .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
  cp scripts/requirements.txt .venv/requirements.txt
fi

# The static builds of the image (amd64 and arm64); their cross linker is in .venv.
rustup target list --installed | grep -q '^x86_64-unknown-linux-musl$' || rustup target add x86_64-unknown-linux-musl
rustup target list --installed | grep -q '^aarch64-unknown-linux-musl$' || rustup target add aarch64-unknown-linux-musl
