#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: OUT/<target>/<n> for every target in this
directory, made from small valid (and a few nearly valid) inputs, plus the committed
reproducers of fixed bugs in regress/<target>/.

  mkseeds.py OUT
"""
import io
import json
import os
import shutil
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "0123456789abcdef" * 4


def desc(mt, d=D1, size=7, **kw):
    x = {"mediaType": mt, "digest": d, "size": size}
    x.update(kw)
    return x


def manifests():
    oci = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": desc("application/vnd.oci.image.config.v1+json"),
           "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", D2, 1234),
                      desc("application/vnd.oci.image.layer.v1.tar+zstd")]}
    docker = {"schemaVersion": 2,
              "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
              "config": desc("application/vnd.docker.container.image.v1+json"),
              "layers": [desc("application/vnd.docker.image.rootfs.diff.tar.gzip")]}
    plat = [{"os": "linux", "architecture": "amd64"},
            {"os": "linux", "architecture": "arm64", "variant": "v8"},
            {"os": "linux", "architecture": "arm", "variant": "v7"},
            {"os": "unknown", "architecture": "unknown"}]
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [desc("application/vnd.oci.image.manifest.v1+json", platform=p)
                           for p in plat]}
    index["manifests"].append(desc("application/vnd.oci.image.manifest.v1+json", D2, 9,
                                   annotations={"vnd.docker.reference.type":
                                                "attestation-manifest"}))
    dlist = {"schemaVersion": 2,
             "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
             "manifests": [desc("application/vnd.docker.distribution.manifest.v2+json",
                                platform={"os": "linux", "architecture": "aarch64"})]}
    bare = {"schemaVersion": 2, "manifests": []}
    return [json.dumps(x).encode() for x in (oci, docker, index, dlist, bare)] + [
        b'{"schemaVersion":1,"fsLayers":[]}', b'{"schemaVersion":2,"layers":{}}']


def rootfs():
    ann = {"dev.banger.key": D1, "dev.banger.recipe.sha256": D2,
           "dev.banger.rootfs.sha256": D1, "dev.banger.rootfs.size": "268435456",
           "org.opencontainers.image.created": "2023-11-14T22:13:20Z"}
    good = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.banger.rootfs.v1",
            "config": desc("application/vnd.oci.empty.v1+json", "sha256:44136fa355b3678a1146ad16"
                           "f7e8649e94fb4fc21fe77e8310c060f61caaff8a", 2, data="e30="),
            "layers": [desc("application/vnd.banger.rootfs.v1.ext4+zstd", D2, 12345)],
            "subject": desc("application/vnd.oci.image.manifest.v1+json", D1, 423),
            "annotations": ann}
    odd = json.loads(json.dumps(good))
    odd["annotations"]["dev.banger.rootfs.size"] = "4097"
    two = json.loads(json.dumps(good))
    two["layers"].append(two["layers"][0])
    return [json.dumps(good).encode(), json.dumps(odd).encode(), json.dumps(two).encode()]


def configs():
    out = []
    for plat, n in (("linux/amd64", 1), ("linux/arm64/v8", 2), ("linux/arm/v7", 0)):
        cfg = {"architecture": plat.split("/")[1], "os": "linux",
               "rootfs": {"type": "layers", "diff_ids": [D1, D2][:n]}}
        # the first byte is also the layer count the target expects (mod 5)
        line = plat.encode()
        out.append(line + b"\n" + json.dumps(cfg).encode())
    out.append(b"x86_64/x86_64\n{\"rootfs\":{\"diff_ids\":[1]}}")
    return out


def tarball(entries, fmt):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, data, extra in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            info.mtime = 1700000000
            info.uname = info.gname = ""
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = data
                data = None
            if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = 1, 3
            if extra and fmt == tarfile.PAX_FORMAT:
                info.pax_headers = extra
            if data is not None:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return buf.getvalue()


def layers():
    D, F, L, H = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
    base = [("etc/", D, None, None), ("etc/os-release", F, b"ID=debian\n", None),
            ("usr/", D, None, None), ("usr/bin/", D, None, None),
            ("usr/bin/mawk", F, b"#!/bin/sh\n", None), ("usr/bin/awk", H, "usr/bin/mawk", None),
            ("bin", L, "usr/bin", None), ("etc/alt", L, "/usr/bin/mawk", None),
            ("dev/", D, None, None), ("dev/null", tarfile.CHRTYPE, None, None),
            ("run/fifo", tarfile.FIFOTYPE, None, None)]
    upper = [("etc/.wh.os-release", F, b"", None), ("usr/.wh..wh..opq", F, b"", None),
             ("usr/new", F, b"x" * 600, None), ("bin/", D, None, None),
             ("etc/cap", F, b"", {"SCHILY.xattr.security.capability":
                                  "\x01\x00\x00\x02\x00\x20\x00\x00" + "\x00" * 12,
                                  "SCHILY.xattr.user.x": "y"}),
             ("a/../b", F, b"", None), ("lnk", L, "../../etc", None),
             ("d" * 120 + "/" + "e" * 120, F, b"long", None), ("./x//y/", D, None, None)]
    out = []
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT):
        ents = base if fmt != tarfile.USTAR_FORMAT else base[:8]
        out.append(tarball(ents, fmt))
    out.append(tarball(upper, tarfile.PAX_FORMAT))
    out.append(tarball(upper[:6], tarfile.GNU_FORMAT))
    out.append(b"\0" * 1024)
    return out


def tree():
    # op byte: %10 picks the operation, 0x10 BG_PARENTS, 0x20 BG_KEEP, 0x40 follow / fifo
    prog = [b"\x10a/b/c", b"\x01a/b/f", b"\x02a/l\0../../../etc", b"\x04a/h\0a/b/f",
            b"\x02loop\0loop", b"\x16a/l/x", b"\x46loop", b"\x11a/l/passwd", b"\x05a/b",
            b"\x08", b"\x07/../../a/./b//", b"\x03a/dev", b"\x09a", b"\x04x\0a/h",
            b"\x01" + b"n" * 256, b"\x02abs\0/a/b", b"\x10abs/new"]
    return [b"\0".join(prog), b"\x10a\0\x02a/s\0..\0\x01a/s/s/s/f", b"\x05/", b"\x09.."]


def paths():
    # first byte: flags (util/path.h), second: buffer size and where the input is cut
    names = [b"./a//b/", b"/etc/passwd", b"a/../b", b"usr/lib/../../..", b"/a/./b/.",
             b".wh.etc/x", b"a\0b", b"n" * 256 + b"/x", b"d/" * 2100, b"", b"/", b"..", b"."]
    return [bytes([f, c]) + n for n in names for f, c in ((0x0b, 255), (0x11, 128), (0x0c, 17),
                                                          (0x20, 200), (0x00, 3))]


def kernels():
    """bzImages around a small ELF in each compression (zstd and lz4 when their commands are
    installed), the ELF itself and a dynamic one, and a gzipped arm64 Image."""
    sys.path.insert(0, os.path.join(HERE, "..", "tools"))
    import gzip
    import shutil as sh
    import mkbzimage
    elf = bytearray(64 + 56 + 64)
    elf[0:7] = b"\x7fELF\x02\x01\x01"
    elf[16], elf[18], elf[20] = 2, 62, 1
    elf[32], elf[52], elf[54], elf[56] = 64, 64, 56, 1
    elf = bytes(elf)
    # a dynamic one: its PT_INTERP names a loader after the program header
    dyn = bytearray(elf)
    dyn[16], dyn[64] = 3, 3
    dyn[72], dyn[96], dyn[104] = 120, 28, 28
    dyn[120:148] = b"/lib64/ld-linux-x86-64.so.2\0"
    out = [elf, bytes(dyn)]
    for how in ("gzip", "xz", "lzma", "zstd", "lz4"):
        if how in ("zstd", "lz4") and sh.which(how) is None:
            continue
        out.append(mkbzimage.bzimage(elf, how))
    image = bytearray(256)
    image[56:60] = b"ARM\x64"
    out.append(gzip.compress(bytes(image), mtime=0))
    return out


SEEDS = {
    "fuzz_json": [b'{"a":[1,-2.5e+3,true,false,null,"\\u00e9\\ud83d\\ude00\\n"],"b":{}}',
                  b"[]", b'"x"', b"0", b'{"a":1,"a":2}', b"[" * 70,
                  b'{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"' + D1.encode() +
                  b'","size":7,"annotations":{"org.opencontainers.image.ref.name":"a:1"}}]}'],
    "fuzz_escape": [b"plain text", b"\x1b[31mred\x1b[0m", "caf\u00e9 \u202e\u0085".encode(),
                    b"\xff\xfe\xc0\xaf\xed\xa0\x80", b"back\\slash", "\U0001f600".encode()],
    "fuzz_wwwauth": [b'Bearer realm="https://auth.example/token",service="registry.example",'
                     b'scope="repository:a/b:pull",error="invalid_token"',
                     b'Basic realm="x", Bearer realm="y"', b"Negotiate abc==, Basic",
                     b'Bearer realm="a\\"b,c"', b", , Bearer x=y"],
    "fuzz_ref": [b"debian", b"debian:bookworm", b"docker.io/library/debian@" + D1.encode(),
                 b"127.0.0.1:5000/a/b:tag", b"[::1]:5000/x", b"Foo/bar",
                 b"docker://index.docker.io/x/y:1", b"oci:/tmp/layout:ref:with:colons",
                 b"oci-archive:img.tar", b"docker-archive:img.tar:name:tag", b"localhost:5000"],
    "fuzz_digest": [D1.encode(), D2.encode(), b"sha512:" + b"a" * 128, b"sha256:ABC"],
    "fuzz_manifest": manifests(),
    "fuzz_config": configs(),
    "fuzz_rootfs": rootfs(),
    "fuzz_layer": layers(),
    "fuzz_tree": tree(),
    "fuzz_path": paths(),
    "fuzz_kernel": kernels(),
}


def main():
    out = sys.argv[1]
    for target, seeds in SEEDS.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for i, s in enumerate(seeds):
            with open(os.path.join(d, "seed-%02d" % i), "wb") as f:
                f.write(s)
        regress = os.path.join(HERE, "regress", target)
        if os.path.isdir(regress):
            for name in sorted(os.listdir(regress)):
                shutil.copyfile(os.path.join(regress, name), os.path.join(d, "regress-" + name))


if __name__ == "__main__":
    main()
