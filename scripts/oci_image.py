#!/usr/bin/env python3
"""Write the operator image as an OCI image layout tarball, without a container daemon.

  oci_image.py BINARY REF OUT.tar

One layer holding BINARY as /wasm-operator, run as 65532:65532 with `run` (the Containerfile's
image). `ctr images import`, `kind load image-archive` and `k3d image import` accept the result.
The layer is reproducible: fixed times, owner 0:0, a stable gzip header.
"""
import gzip
import hashlib
import io
import json
import sys
import tarfile


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def entry(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def main(binary, ref, out):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as layer:
        with open(binary, "rb") as f:
            entry(layer, "wasm-operator", f.read(), 0o755)
    diff = raw.getvalue()
    blob = gzip.compress(diff, mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"User": "65532:65532", "Entrypoint": ["/wasm-operator"], "Cmd": ["run"]},
        "rootfs": {"type": "layers", "diff_ids": [digest(diff)]},
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(blob), "size": len(blob)}],
    }, sort_keys=True).encode()
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(manifest), "size": len(manifest),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": ref, "io.containerd.image.name": ref},
        }],
    }, sort_keys=True).encode()
    with tarfile.open(out, "w") as tar:
        entry(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        entry(tar, "index.json", index)
        for data in (config, manifest, blob):
            entry(tar, "blobs/sha256/" + digest(data)[len("sha256:"):], data)
    print(f"{out}: {ref}, layer {len(blob)} bytes compressed, {len(diff)} bytes uncompressed")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    main(*sys.argv[1:])
