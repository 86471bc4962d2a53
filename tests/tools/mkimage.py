#!/usr/bin/env python3
"""Builds OCI image layouts for tests, from layer tar files, with nothing but the stdlib.

  mkimage.py OUT --tag TAG [--platform linux/amd64] [--compress gzip|zstd|none] [--level N]
             [--layer FILE.tar ...] [--random-layer BYTES ...] [--append]
             [--docker] [--config-extra JSON]

Each --layer is an uncompressed tar, compressed as --compress says (zstd through the zstd
command) at --level (gzip 1 to 9, default 9; zstd default 3). --random-layer makes a tar holding
one file of that many random bytes (seeded by --seed, so runs are repeatable). The config gets
the right diff_ids; --docker uses Docker schema 2 media types instead of OCI ones. With
--append, an image already under TAG is combined with the new one into an index (a
multi-platform image). Prints a JSON summary:
{"manifest": digest, "config": digest, "layers": [{"digest","diff_id","size"}], "index": digest}
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER_TYPES = {
    ("oci", "gzip"): "application/vnd.oci.image.layer.v1.tar+gzip",
    ("oci", "zstd"): "application/vnd.oci.image.layer.v1.tar+zstd",
    ("oci", "none"): "application/vnd.oci.image.layer.v1.tar",
    ("docker", "gzip"): "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ("docker", "none"): "application/vnd.docker.image.rootfs.diff.tar",
}
REF_NAME = "org.opencontainers.image.ref.name"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def put_blob(out, data):
    d = sha(data)
    path = os.path.join(out, "blobs", "sha256", d[7:])
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return d


def compress(data, how, level=None):
    if how == "gzip":
        # mtime 0 keeps the output (and so the digest) the same from run to run
        return gzip.compress(data, compresslevel=level or 9, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-%d" % (level or 3)], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    return data


def random_tar(size, rng, n):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("random-%d.bin" % n)
        info.size = size
        info.mtime = 0
        t.addfile(info, io.BytesIO(rng.randbytes(size)))
    return buf.getvalue()


def load_index(out):
    path = os.path.join(out, "index.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"schemaVersion": 2, "manifests": []}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tag", required=True)
    ap.add_argument("--platform", default="linux/amd64")
    ap.add_argument("--compress", default="gzip", choices=["gzip", "zstd", "none"])
    ap.add_argument("--level", type=int)
    ap.add_argument("--layer", action="append", default=[])
    ap.add_argument("--random-layer", action="append", type=int, default=[])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--append", action="store_true")
    ap.add_argument("--docker", action="store_true")
    ap.add_argument("--config-extra", default="{}")
    a = ap.parse_args()

    flavour = "docker" if a.docker else "oci"
    os.makedirs(os.path.join(a.out, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(a.out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    rng = random.Random(a.seed)
    tars = []
    for path in a.layer:
        with open(path, "rb") as f:
            tars.append(f.read())
    for i, size in enumerate(a.random_layer):
        tars.append(random_tar(size, rng, i))

    layers, summary = [], []
    for raw in tars:
        blob = compress(raw, a.compress, a.level)
        d = put_blob(a.out, blob)
        layers.append({"mediaType": LAYER_TYPES[(flavour, a.compress)], "digest": d,
                       "size": len(blob)})
        summary.append({"digest": d, "diff_id": sha(raw), "size": len(blob)})
    parts = a.platform.split("/")
    config = {"architecture": parts[1], "os": parts[0], "created": "1970-01-01T00:00:00Z",
              "config": {"Env": ["PATH=/usr/bin:/bin"]},
              "rootfs": {"type": "layers", "diff_ids": [s["diff_id"] for s in summary]},
              "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "mkimage.py"}
                          for _ in summary]}
    if len(parts) > 2:
        config["variant"] = parts[2]
    config.update(json.loads(a.config_extra))
    cblob = json.dumps(config, sort_keys=True).encode()
    cdigest = put_blob(a.out, cblob)
    manifest = {"schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST if a.docker else OCI_MANIFEST,
                "config": {"mediaType": DOCKER_CONFIG if a.docker else OCI_CONFIG,
                           "digest": cdigest, "size": len(cblob)},
                "layers": layers}
    mblob = json.dumps(manifest, sort_keys=True).encode()
    mdigest = put_blob(a.out, mblob)
    platform = {"os": parts[0], "architecture": parts[1]}
    if len(parts) > 2:
        platform["variant"] = parts[2]
    desc = {"mediaType": manifest["mediaType"], "digest": mdigest, "size": len(mblob),
            "platform": platform}

    index = load_index(a.out)
    old = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) == a.tag]
    rest = [m for m in index["manifests"] if m not in old]
    result = {"manifest": mdigest, "config": cdigest, "layers": summary}
    if a.append and old:
        prev = old[0]
        entries = [desc]
        if prev["mediaType"] in (OCI_INDEX, DOCKER_LIST):
            with open(os.path.join(a.out, "blobs", "sha256", prev["digest"][7:])) as f:
                entries = json.load(f)["manifests"] + [desc]
        else:
            entries = [dict(prev, annotations=None)] + [desc]
            entries[0].pop("annotations")
        ilist = {"schemaVersion": 2, "mediaType": DOCKER_LIST if a.docker else OCI_INDEX,
                 "manifests": entries}
        iblob = json.dumps(ilist, sort_keys=True).encode()
        idigest = put_blob(a.out, iblob)
        entry = {"mediaType": ilist["mediaType"], "digest": idigest, "size": len(iblob),
                 "annotations": {REF_NAME: a.tag}}
        result["index"] = idigest
    else:
        entry = dict(desc, annotations={REF_NAME: a.tag})
    index["manifests"] = rest + [entry]
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(index, f)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
