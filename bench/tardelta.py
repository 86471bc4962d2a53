#!/usr/bin/env python3
"""The upper layer that turns one root filesystem tar into another, as `docker commit` would
make it: every entry of NEW that OLD lacks or holds differently (type, mode, owner, times,
content, link target), a whiteout for every name of OLD that NEW lacks (one for a removed
directory, not one per child), hardlinks kept when their target is in the layer too.

  tardelta.py OLD.tar NEW.tar OUT.tar
"""
import hashlib
import sys
import tarfile


def norm(name):
    name = name.lstrip("./") if name not in (".", "./") else ""
    return name.rstrip("/")


def index(path):
    out = {}
    with tarfile.open(path) as t:
        for m in t:
            key = norm(m.name)
            digest = None
            if m.isreg():
                h = hashlib.sha256()
                f = t.extractfile(m)
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
                digest = h.hexdigest()
            out[key] = (m.type, m.mode, m.uid, m.gid, int(m.mtime), m.size, m.linkname,
                        m.devmajor, m.devminor, digest)
    return out


def same_but_mtime(a, b):
    return a is not None and a[:4] + a[5:] == b[:4] + b[5:]


def main():
    old_path, new_path, out_path = sys.argv[1:4]
    old = index(old_path)
    new = index(new_path)
    # an entry that differs only in its mtime is the same file unpacked again (one root made
    # with SOURCE_DATE_EPOCH, the other without, differ in every mtime): not a change
    changed = {k for k, v in new.items() if old.get(k) != v and not same_but_mtime(old.get(k), v)}
    gone = sorted(k for k in old if k not in new and k != "")
    with tarfile.open(new_path) as src, tarfile.open(out_path, "w",
                                                      format=tarfile.PAX_FORMAT) as dst:
        for m in src:
            key = norm(m.name)
            if key not in changed and not (m.islnk() and norm(m.linkname) in changed):
                continue
            dst.addfile(m, src.extractfile(m) if m.isreg() else None)
        covered = set()
        for k in gone:
            parent = k.rpartition("/")[0]
            if any(parent == c or parent.startswith(c + "/") for c in covered):
                continue
            covered.add(k)
            d, _, base = k.rpartition("/")
            wh = tarfile.TarInfo((d + "/" if d else "") + ".wh." + base)
            wh.mtime = 0
            dst.addfile(wh)


if __name__ == "__main__":
    main()
