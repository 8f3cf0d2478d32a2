#!/usr/bin/env python3
"""Write an OCI image layout tarball from files, without a container daemon.

  oci_image.py --ref REF --out OUT.tar [--platform OS/ARCH] [--also OS/ARCH SRC=DEST]...
               [--entrypoint JSON] [--cmd JSON] [--user UID:GID] [--env KEY=VALUE]...
               SRC=DEST[:MODE] ...

One layer holding each SRC at DEST (mode 0755 unless given). With --also, one image per
platform under one named image index (import with `ctr images import --all-platforms`). The
operator's image is
  oci_image.py --ref R --out O --entrypoint '["/wasm-operator"]' --cmd '["run"]'
               --user 65532:65532 target/x86_64-.../wasm-operator=/wasm-operator
               --also linux/arm64 target/aarch64-.../wasm-operator=/wasm-operator
and a Wasm app's is a `.wasm` file with --platform wasip1/wasm (runwasi's shims run the
entrypoint module). `ctr images import` (--all-platforms for Wasm), `kind load image-archive` and
`k3d image import` accept the result. The layer is reproducible: fixed times, owner 0:0, a stable
gzip header, directories in order.
"""
import argparse
import gzip
import hashlib
import io
import json
import tarfile


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def entry(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def layer(files):
    """The uncompressed layer: the parent directories of every file, then the files."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made = set()
        for src, dest, mode in files:
            parts = dest.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in made:
                    made.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(info)
            with open(src, "rb") as f:
                entry(tar, "/".join(parts), f.read(), mode)
    return raw.getvalue()


def parse_file(spec):
    src, _, dest = spec.partition("=")
    dest, _, mode = dest.partition(":")
    if not src or not dest.startswith("/"):
        raise argparse.ArgumentTypeError(f"{spec}: expected SRC=/DEST[:MODE]")
    return src, dest, int(mode, 8) if mode else 0o755


def image(os_name, arch, files, a):
    """One platform's image: (blobs, manifest descriptor, summary line)."""
    diff = layer(files)
    blob = gzip.compress(diff, mtime=0)
    config = {k: v for k, v in (("Entrypoint", a.entrypoint), ("Cmd", a.cmd), ("User", a.user), ("Env", a.env)) if v}
    config = json.dumps({
        "architecture": arch, "os": os_name, "config": config,
        "rootfs": {"type": "layers", "diff_ids": [digest(diff)]},
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(blob), "size": len(blob)}],
    }, sort_keys=True).encode()
    descriptor = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(manifest), "size": len(manifest),
        "platform": {"architecture": arch, "os": os_name},
    }
    line = f"  {os_name}/{arch}: manifest {digest(manifest)}, layer {len(blob)} bytes compressed, {len(diff)} bytes uncompressed"
    return [config, manifest, blob], descriptor, line


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", required=True, help="image name, e.g. ghcr.io/x/y:1.0")
    p.add_argument("--out", required=True, help="tarball to write")
    p.add_argument("--platform", default="linux/amd64", help="OS/ARCH of FILES (wasip1/wasm for a Wasm app)")
    p.add_argument("--also", nargs=2, action="append", default=[], metavar=("OS/ARCH", "SRC=/DEST[:MODE]"),
                   help="another platform, with its file (repeatable): the tarball then holds an image index")
    p.add_argument("--entrypoint", type=json.loads, help="JSON list")
    p.add_argument("--cmd", type=json.loads, help="JSON list")
    p.add_argument("--user", help="UID:GID the image runs as")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="environment (repeatable)")
    p.add_argument("files", nargs="+", type=parse_file, metavar="SRC=/DEST[:MODE]")
    a = p.parse_args()

    platforms = [(a.platform, a.files)] + [(plat, [parse_file(f)]) for plat, f in a.also]
    blobs, descriptors, lines = [], [], []
    for plat, files in platforms:
        os_name, _, arch = plat.partition("/")
        b, d, line = image(os_name, arch, files, a)
        blobs += b
        descriptors.append(d)
        lines.append(line)
    names = {"org.opencontainers.image.ref.name": a.ref, "io.containerd.image.name": a.ref}
    if len(descriptors) == 1:
        top = [dict(descriptors[0], annotations=names)]
    else:
        # Several platforms: one named image index that lists them, as registries serve it.
        nested = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descriptors,
        }, sort_keys=True).encode()
        blobs.append(nested)
        top = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest(nested),
                "size": len(nested), "annotations": names}]
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": top,
    }, sort_keys=True).encode()
    with tarfile.open(a.out, "w") as tar:
        entry(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        entry(tar, "index.json", index)
        for data in blobs:
            entry(tar, "blobs/sha256/" + digest(data)[len("sha256:"):], data)
    kind = "image index" if len(descriptors) > 1 else "image"
    print(f"{a.out}: {a.ref}, {kind} {top[0]['digest']}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
