#!/usr/bin/env python3
"""Wraps a file in the x86 boot protocol's bzImage layout, compressed the way kernel builds do,
for tests of kernel unpacking (the encoders are Python's and Debian's, not banger's).

  mkbzimage.py PAYLOAD OUT [--compress gzip|xz|lzma|zstd|lz4] [--version STRING]

PAYLOAD is what the bzImage carries (a vmlinux stand-in: any ELF). gzip, xz and lzma come from
Python's gzip and lzma modules, zstd and lz4 from the zstd and lz4 commands (lz4 -l: the legacy
format kernels use). As kernel builds do, every payload but gzip is followed by its
uncompressed size as a little-endian 32-bit word. One setup sector follows the boot sector;
the payload starts 0x100 bytes into the protected-mode part; the boot protocol is 2.15.
"""
import argparse
import gzip
import lzma
import struct
import subprocess
import sys

SETUP_SECTS = 1
PAYLOAD_OFFSET = 0x100


def compress(data, how):
    if how == "gzip":
        return gzip.compress(data, 9, mtime=0)
    if how == "xz":
        return lzma.compress(data, lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    if how == "lzma":
        return lzma.compress(data, lzma.FORMAT_ALONE)
    if how == "zstd":
        return subprocess.run(["zstd", "-19", "-q", "-c"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    if how == "lz4":
        return subprocess.run(["lz4", "-l", "-9", "-q", "-c"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    raise SystemExit("unknown compression " + how)


def bzimage(payload, how="gzip", version="6.1.0-9-test (banger@test) #1 SMP"):
    z = compress(payload, how)
    if how != "gzip":
        z += struct.pack("<I", len(payload) & 0xffffffff)
    pm = (SETUP_SECTS + 1) * 512
    setup = bytearray(pm + PAYLOAD_OFFSET)
    setup[0x1f1] = SETUP_SECTS
    struct.pack_into("<H", setup, 0x1fe, 0xaa55)
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x020f)
    setup[0x211] = 1  # loadflags: LOADED_HIGH
    v = version.encode() + b"\0"
    setup[0x300:0x300 + len(v)] = v
    struct.pack_into("<H", setup, 0x20e, 0x300 - 0x200)
    struct.pack_into("<I", setup, 0x248, PAYLOAD_OFFSET)
    struct.pack_into("<I", setup, 0x24c, len(z))
    return bytes(setup) + z + b"\0" * 16


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("payload")
    ap.add_argument("out")
    ap.add_argument("--compress", default="gzip", choices=["gzip", "xz", "lzma", "zstd", "lz4"])
    ap.add_argument("--version", default="6.1.0-9-test (banger@test) #1 SMP")
    a = ap.parse_args()
    with open(a.payload, "rb") as f:
        data = f.read()
    with open(a.out, "wb") as f:
        f.write(bzimage(data, a.compress, a.version))


if __name__ == "__main__":
    sys.exit(main())
