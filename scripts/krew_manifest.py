#!/usr/bin/env python3
"""The kubectl plugin's release archives and its krew manifest.

  krew_manifest.py VERSION OUT_DIR LINUX_AMD64_BINARY LINUX_ARM64_BINARY

Writes OUT_DIR/kubectl-wasm-linux-<arch>.tar.gz (the binary as `kubectl-wasm`, and README.md;
fixed times and owners, so the same binary gives the same archive) and plugins/wasm.yaml naming
them by their release URL and sha256. The release workflow runs it on the binaries it builds and
uploads, so the manifest it attaches matches its archives. Darwin is not built here (no macOS
SDK on the build machines).
"""
import gzip
import hashlib
import io
import sys
import tarfile

REPO = "https://github.com/wasm-operator/wasm-operator"


def archive(binary, path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for src, name, mode in ((binary, "kubectl-wasm", 0o755), ("README.md", "README.md", 0o644)):
            with open(src, "rb") as f:
                data = f.read()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    data = gzip.compress(raw.getvalue(), mtime=0)
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 64
    version, out, amd64, arm64 = argv[1:]
    platforms = []
    for arch, binary in (("amd64", amd64), ("arm64", arm64)):
        name = f"kubectl-wasm-linux-{arch}.tar.gz"
        sha = archive(binary, f"{out}/{name}")
        platforms.append(f"""  - selector:
      matchLabels:
        os: linux
        arch: {arch}
    uri: {REPO}/releases/download/v{version}/{name}
    sha256: {sha}
    bin: kubectl-wasm
    files:
      - from: kubectl-wasm
        to: .
      - from: README.md
        to: .
""")
        print(f"{out}/{name}: sha256 {sha}")
    manifest = f"""# The krew manifest of `kubectl wasm` (written by scripts/krew_manifest.py; the release
# workflow rewrites it from the archives it uploads). Install: kubectl krew install --manifest=plugins/wasm.yaml
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: wasm
spec:
  version: v{version}
  homepage: {REPO}
  shortDescription: Why a workload is not Wasm, and what Wasm buys it
  description: |
    The WasmWorkload operator's CLI: `kubectl wasm doctor` shows which nodes can run which Wasm
    RuntimeClass and why a workload is not Wasm; `kubectl wasm compare NAME` runs the same app
    in both modes on one node and compares cold start, first response and footprint;
    `kubectl wasm report` lists every workload's mode, cold start and savings; `kubectl wasm crd`
    prints the CRD.
  platforms:
{"".join(platforms)}"""
    with open("plugins/wasm.yaml", "w") as f:
        f.write(manifest)
    print("plugins/wasm.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
