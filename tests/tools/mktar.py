#!/usr/bin/env python3
"""Writes a layer tar from a spec, with exactly the owners, modes and names the spec says.

  mktar.py SPEC OUT.tar [--mtime SECONDS]

One entry a line; blank lines and lines starting with # are skipped:
  dir      PATH MODE UID GID
  file     PATH MODE UID GID [=INLINE TEXT | @FILE relative to the spec | %SIZE zero bytes]
  symlink  PATH MODE UID GID TARGET
  hardlink PATH TARGET
  char|block PATH MODE UID GID MAJOR MINOR
  fifo     PATH MODE UID GID
  whiteout PATH            (writes DIR/.wh.NAME)
  opaque   DIR             (writes DIR/.wh..wh..opq)
  raw      NAME TYPE [LINKNAME]  (an entry with an arbitrary name, for hostile-input tests;
                                  TYPE is a tar type flag: 0 file, 1 hardlink, 2 symlink, 5 dir)
MODE is octal; PATH is written without a leading slash. Names are taken as UTF-8 bytes.
"""
import argparse
import io
import os
import shlex
import sys
import tarfile

TYPES = {"0": tarfile.REGTYPE, "1": tarfile.LNKTYPE, "2": tarfile.SYMTYPE, "5": tarfile.DIRTYPE}


def entry(name, kind, mtime, mode=0o644, uid=0, gid=0):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid = uid
    info.gid = gid
    info.uname = ""
    info.gname = ""
    info.mtime = mtime
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("out")
    ap.add_argument("--mtime", type=int, default=1700000000)
    a = ap.parse_args()
    base = os.path.dirname(os.path.abspath(a.spec))
    buf = io.BytesIO()
    with open(a.spec) as f, tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for lineno, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            w = shlex.split(line)
            kind, path = w[0], w[1].lstrip("/")
            where = "%s:%d" % (a.spec, lineno)
            if kind == "dir":
                t.addfile(entry(path + "/", tarfile.DIRTYPE, a.mtime, int(w[2], 8), int(w[3]),
                                int(w[4])))
            elif kind == "file":
                data = b""
                if len(w) > 5:
                    src = w[5]
                    if src.startswith("="):
                        data = src[1:].encode() + b"\n"
                    elif src.startswith("@"):
                        with open(os.path.join(base, src[1:]), "rb") as s:
                            data = s.read()
                    elif src.startswith("%"):
                        data = bytes(int(src[1:]))
                    else:
                        sys.exit("%s: file content must start with =, @ or %%" % where)
                info = entry(path, tarfile.REGTYPE, a.mtime, int(w[2], 8), int(w[3]), int(w[4]))
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            elif kind == "symlink":
                info = entry(path, tarfile.SYMTYPE, a.mtime, int(w[2], 8), int(w[3]), int(w[4]))
                info.linkname = w[5]
                t.addfile(info)
            elif kind == "hardlink":
                info = entry(path, tarfile.LNKTYPE, a.mtime)
                info.linkname = w[2].lstrip("/")
                t.addfile(info)
            elif kind in ("char", "block"):
                info = entry(path, tarfile.CHRTYPE if kind == "char" else tarfile.BLKTYPE,
                             a.mtime, int(w[2], 8), int(w[3]), int(w[4]))
                info.devmajor, info.devminor = int(w[5]), int(w[6])
                t.addfile(info)
            elif kind == "fifo":
                t.addfile(entry(path, tarfile.FIFOTYPE, a.mtime, int(w[2], 8), int(w[3]),
                                int(w[4])))
            elif kind == "whiteout":
                d, n = os.path.split(path)
                t.addfile(entry(os.path.join(d, ".wh." + n), tarfile.REGTYPE, a.mtime))
            elif kind == "opaque":
                t.addfile(entry(path + "/.wh..wh..opq", tarfile.REGTYPE, a.mtime))
            elif kind == "raw":
                info = entry(w[1], TYPES[w[2]], a.mtime)
                if len(w) > 3:
                    info.linkname = w[3]
                t.addfile(info)
            else:
                sys.exit("%s: unknown entry kind %r" % (where, kind))
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(buf.getvalue())
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
