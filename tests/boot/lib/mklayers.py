#!/usr/bin/env python3
"""Split a guest root filesystem tar into the image layers of the boot tests.

  mklayers.py ROOTFS.tar GUESTFILES_DIR OUTDIR [systemd|openrc]

Writes OUTDIR/base.tar (everything but the kernel), OUTDIR/kernel.tar (/boot and the modules)
and OUTDIR/test.tar (the boot report from GUESTFILES_DIR: a unit enabled for multi-user.target
on a systemd guest, an OpenRC service in the default runlevel on an openrc one).
Ownership, modes, times and xattrs pass through as the tar headers say (numeric ids only).
"""
import io
import os
import sys
import tarfile

KERNEL_PREFIXES = ("boot/", "usr/lib/modules/", "lib/modules/")
# Per init system: (path in the image, file in GUESTFILES_DIR, mode) and the enabling symlink.
TEST_FILES = {
    "systemd": [
        ("usr/local/libexec/banger-test-report", "banger-test-report", 0o755),
        ("etc/systemd/system/banger-test-report.service", "banger-test-report.service", 0o644),
    ],
    "openrc": [
        ("usr/local/libexec/banger-test-report", "banger-test-report-openrc", 0o755),
        ("etc/init.d/banger-test-report", "banger-test-report-openrc.initd", 0o755),
    ],
}
TEST_LINK = {
    "systemd": ("etc/systemd/system/multi-user.target.wants/banger-test-report.service",
                "/etc/systemd/system/banger-test-report.service"),
    "openrc": ("etc/runlevels/default/banger-test-report", "/etc/init.d/banger-test-report"),
}


def norm(name):
    while name.startswith("./"):
        name = name[2:]
    return name.strip("/")


def layer_of(name):
    return "kernel" if any((name + "/").startswith(p) and name + "/" != p
                           for p in KERNEL_PREFIXES) else "base"


def new_tar(path):
    return tarfile.open(path, "w", format=tarfile.PAX_FORMAT)


def clean(info, name):
    info.name = name
    info.uname = ""
    info.gname = ""
    return info


def main():
    rootfs, guest, out = sys.argv[1:4]
    init = sys.argv[4] if len(sys.argv) > 4 else "systemd"
    files, link = TEST_FILES[init], TEST_LINK[init]
    outs = {n: new_tar(os.path.join(out, n + ".tar")) for n in ("base", "kernel")}
    where = {}
    dirs = {}
    counts = {"base": 0, "kernel": 0}
    with tarfile.open(rootfs) as src:
        for info in src:
            name = norm(info.name)
            if not name:
                continue
            layer = layer_of(name)
            if info.islnk():
                info.linkname = norm(info.linkname)
                # A hard link must sit in the same layer as the file it names.
                layer = where.get(info.linkname, layer)
            where[name] = layer
            info = clean(info, name)
            if info.isdir():
                dirs[name] = info
            data = src.extractfile(info) if info.isreg() else None
            outs[layer].addfile(info, data)
            counts[layer] += 1
    for t in outs.values():
        t.close()

    with new_tar(os.path.join(out, "test.tar")) as t:
        emitted = set()

        def parents(path):
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d in emitted:
                    continue
                emitted.add(d)
                info = dirs.get(d)
                if info is None:
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = 0
                t.addfile(info)
        added = set()
        for path, source, mode in sorted(files):
            with open(os.path.join(guest, source), "rb") as f:
                body = f.read()
            parents(path)
            info = tarfile.TarInfo(path)
            info.size = len(body)
            info.mode = mode
            info.mtime = 0
            t.addfile(info, io.BytesIO(body))
            added.add(path)
        parents(link[0])
        info = tarfile.TarInfo(link[0])
        info.type = tarfile.SYMTYPE
        info.linkname = link[1]
        info.mode = 0o777
        t.addfile(info)
    print("layers: base %d entries, kernel %d entries, test %d files"
          % (counts["base"], counts["kernel"], len(added) + 1))


if __name__ == "__main__":
    main()
