#!/usr/bin/env python3
"""The kernel's view of a mounted image, in the form tests/tools/view_tree.lua prints the tree's.

  view_mount.py MOUNTPOINT

Walks with directory descriptors and short relative names, so paths of any length are read;
lost+found (the writer's own) is left out, and the root's times (the writer's too).
"""
import hashlib
import os
import stat
import sys

KINDS = [(stat.S_ISDIR, "dir"), (stat.S_ISREG, "file"), (stat.S_ISLNK, "symlink"),
         (stat.S_ISCHR, "chr"), (stat.S_ISBLK, "blk"), (stat.S_ISFIFO, "fifo"),
         (stat.S_ISSOCK, "sock")]


def show(b):
    out = []
    for c in b:
        if 33 <= c <= 126 and c != 0x5C:
            out.append(chr(c))
        elif c == 0x5C:
            out.append("\\\\")
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def ts(ns):
    return "%d:%09d" % (ns // 1000000000, ns % 1000000000)


def row(path, name, st):
    m = st.st_mode
    kind = next(k for f, k in KINDS if f(m))
    what = "-"
    if kind == "file":
        h = hashlib.sha256()
        with open(name, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        what = h.hexdigest()
    elif kind == "symlink":
        what = "-> " + show(os.readlink(name))
    elif kind in ("chr", "blk"):
        what = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    xs = []
    for x in sorted(os.listxattr(name, follow_symlinks=False), key=os.fsencode):
        v = os.getxattr(name, x, follow_symlinks=False)
        xs.append(show(os.fsencode(x)) + "=" + v.hex())
    root = path == b"/"
    times = "- - -" if root else "%s %s %s" % (ts(st.st_mtime_ns), ts(st.st_atime_ns),
                                               ts(st.st_ctime_ns))
    d = kind == "dir"
    return "%s %s %04o %d %d %d %d %s %s %s" % (
        show(path), kind, stat.S_IMODE(m), st.st_uid, st.st_gid, 0 if d else st.st_size,
        0 if d else st.st_nlink, times, what, ",".join(xs) if xs else "-")


def main():
    top = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
    rows = []
    os.fchdir(top)
    rows.append((b"/", row(b"/", ".", os.lstat("."))))
    stack = [(b"", top)]
    while stack:
        prefix, fd = stack.pop()
        os.fchdir(fd)
        for name in sorted(os.listdir(b".")):
            if prefix == b"" and name == b"lost+found":
                continue
            path = prefix + b"/" + name
            st = os.lstat(name)
            rows.append((path, row(path, name, st)))
            if stat.S_ISDIR(st.st_mode):
                stack.append((path, os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)))
        if fd != top:
            os.close(fd)
    rows.sort(key=lambda r: r[0])
    sys.stdout.write("".join(r + "\n" for _, r in rows))


if __name__ == "__main__":
    main()
