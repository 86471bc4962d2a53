#!/bin/bash
# The kernel judges every kind of layer the flattener accepts: for each set of layers below, the
# image passes `e2fsck -fn` and a read-only loop mount shows exactly the tree's walk (see
# tests/lib/kernel_view.sh). The sets: tars written by Python's tarfile (PAX, GNU and ustar),
# by GNU tar from a real directory (sparse files in all four formats, times before the epoch,
# hardlinks, a big directory), compressed with gzip and zstd (a skippable frame first), stacked
# with whiteouts and opaque directories; and the demo image's layers.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/kernel_view.sh"

python3 - <<'PY' || exit 1
import io, os, tarfile

def acl(*entries):
    out = b"\x02\x00\x00\x00"
    for tag, perm, ident in entries:
        out += tag.to_bytes(2, "little") + perm.to_bytes(2, "little") + ident.to_bytes(4, "little")
    return out

def raw(b):  # bytes as a PAX value: tarfile then writes them as they are (hdrcharset=BINARY)
    return b.decode("utf-8", "surrogateescape")

ACL = raw(acl((1, 7, 0), (2, 5, 1000), (4, 5, 0), (0x10, 5, 0), (0x20, 4, 0)))
CAP2 = raw(b"\x00\x00\x00\x02\x00\x04\x00\x00" + b"\x00" * 12)  # cap_net_bind_service, v2
CAP3 = raw(b"\x00\x00\x00\x03\x00\x04\x00\x00" + b"\x00" * 12 + b"\xe8\x03\x00\x00")  # rootid 1000
DEEP = "/".join(["d%03d" % i + "x" * 195 for i in range(20)])  # 20 components, 3999 bytes

def layer(path, entries, fmt=tarfile.PAX_FORMAT):
    with tarfile.open(path, "w", format=fmt) as tf:
        for e in entries:
            name, kind = e[0], e[1]
            opt = e[2] if len(e) > 2 else {}
            ti = tarfile.TarInfo(name)
            ti.mtime = opt.get("mtime", 1700000000)
            ti.uid, ti.gid = opt.get("owner", (0, 0))
            ti.uname = ti.gname = ""
            data = None
            if kind == "d":
                ti.type, ti.mode = tarfile.DIRTYPE, opt.get("mode", 0o755)
            elif kind == "f":
                data = opt.get("data", b"")
                ti.size, ti.mode = len(data), opt.get("mode", 0o644)
            elif kind == "l":
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, opt["to"], 0o777
            elif kind == "h":
                ti.type, ti.linkname = tarfile.LNKTYPE, opt["to"]
            elif kind in ("c", "b"):
                ti.type = tarfile.CHRTYPE if kind == "c" else tarfile.BLKTYPE
                ti.devmajor, ti.devminor = opt["dev"]
                ti.mode = 0o660
            elif kind == "p":
                ti.type, ti.mode = tarfile.FIFOTYPE, 0o600
            if "pax" in opt:
                ti.pax_headers = opt["pax"]
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)

zeros = bytes(1 << 20) + b"end" + bytes(70000)
mixed = bytes((i * 7 + i // 251) % 256 for i in range(300000))
layer("p1.tar", [
    ("etc", "d"), ("etc/os-release", "f", {"data": b"ID=debian\n"}),
    ("etc/alternatives/awk", "l", {"to": "/usr/bin/mawk"}),
    ("usr/bin", "d"), ("bin", "l", {"to": "usr/bin"}),
    ("usr/bin/sudo", "f", {"data": b"sudo", "mode": 0o4755}),
    ("usr/bin/wall", "f", {"data": b"wall", "mode": 0o2755, "owner": (0, 5)}),
    ("usr/bin/gzip", "f", {"data": b"gzip"}), ("usr/bin/gunzip", "h", {"to": "usr/bin/gzip"}),
    ("usr/bin/zcat", "h", {"to": "/usr/bin/gzip"}),  # absolute: inside the image root
    ("usr/lib/sl", "l", {"to": "../../etc/os-release"}), ("usr/lib/sl2", "h", {"to": "usr/lib/sl"}),
    ("usr/lib/fast", "l", {"to": "f" * 59}), ("usr/lib/slow", "l", {"to": "s" * 60}),
    ("usr/lib/longest", "l", {"to": "/" + "t" * 4094}),
    ("usr/lib/zeros", "f", {"data": zeros}), ("usr/lib/mixed", "f", {"data": mixed}),
    ("usr/lib/small", "f", {"data": b"m" * 512}), ("usr/lib/spooled", "f", {"data": b"s" * 513}),
    ("usr/lib/empty", "f"),
    ("var/tmp", "d", {"mode": 0o1777}), ("srv", "d", {"mode": 0o2775, "owner": (0, 50)}),
    ("home/u", "d", {"mode": 0o700, "owner": (1000, 1000)}),
    ("home/u/f", "f", {"data": b"x", "owner": (100000, 70000), "mode": 0o600}),
    ("n" * 255, "f", {"data": b"longest name"}),
    (DEEP + "/" + "e" * 94, "f", {"data": b"4095 bytes of path"}),
    ("caf\u00e9", "f", {"data": b"utf8"}),
    ("old", "f", {"mtime": -1.5, "data": b"1969"}),
    ("older", "f", {"data": b"1906", "pax": {"mtime": "-2000000000.25", "atime": "-86400.125",
                                              "ctime": "-1.5"}}),
    ("future", "f", {"data": b"2100", "pax": {"mtime": "4102444800.999999999",
                                               "atime": "2147483648.5", "ctime": "1700000000.1"}}),
    ("dev/null", "c", {"dev": (1, 3)}), ("dev/sda", "b", {"dev": (8, 0)}),
    ("dev/max", "c", {"dev": (4095, 1048575)}), ("dev/toobig", "c", {"dev": (4096, 0)}),
    ("run/fifo", "p"),
    ("x/cap", "f", {"data": b"c", "pax": {"SCHILY.xattr.security.capability": CAP2,
                                          "SCHILY.xattr.user.note": "hi",
                                          "SCHILY.xattr.trusted.t": "t"}}),
    ("x/cap3", "f", {"data": b"c", "pax": {"SCHILY.xattr.security.capability": CAP3}}),
    ("x/acl", "f", {"data": b"a", "pax": {"SCHILY.xattr.system.posix_acl_access": ACL}}),
    ("x/dacl", "d", {"pax": {"SCHILY.xattr.system.posix_acl_default": ACL,
                             "SCHILY.xattr.user.dir": "d"}}),
    ("x/link", "l", {"to": "cap", "pax": {"SCHILY.xattr.user.onlink": "dropped",
                                          "SCHILY.xattr.trusted.onlink": "kept"}}),
    ("x/odd", "f", {"data": b"o", "pax": {"SCHILY.xattr.foo.bar": "dropped",
                                          "SCHILY.xattr.user.": "dropped"}}),
    ("opq/a", "f", {"data": b"a"}), ("opq/sub/b", "f", {"data": b"b"}),
    ("wh/gone", "f", {"data": b"gone"}), ("wh/dir/x", "f", {"data": b"x"}),
    ("wh/stay", "f", {"data": b"stay"}),
])
layer("p2.tar", [
    ("opq", "d", {"mode": 0o750}), ("opq/new", "f", {"data": b"new"}),
    ("opq/.wh..wh..opq", "f"), ("opq/.wh..wh..opq", "f"),
    ("wh/.wh.gone", "f"), ("wh/.wh.dir", "f"),
    (".wh.etc/somefile", "f", {"data": b"an ordinary file"}),
    ("usr/bin/gzip", "f", {"data": b"gzip-2", "mode": 0o755}),
    ("etc/os-release", "f", {"data": b"ID=debian\nVERSION_ID=12\n"}),
    ("var/tmp", "l", {"to": "/tmp"}),
    ("usr/bin/zcat2", "h", {"to": "usr/bin/zcat"}),
], fmt=tarfile.GNU_FORMAT)
layer("p3.tar", [
    ("wh/gone", "f", {"data": b"back", "mode": 0o640}), ("usr/bin/.wh.gunzip", "f"),
    ("late/child/deep", "f", {"data": b"d"}), ("late", "d", {"mode": 0o711}),
], fmt=tarfile.USTAR_FORMAT)
PY
gzip -kn p2.tar && zstd -q p3.tar -o p3.body.zst &&
  python3 -c "import sys; sys.stdout.buffer.write(b'\x50\x2a\x4d\x18\x04\x00\x00\x00meta')" > p3.tar.zst &&
  cat p3.body.zst >> p3.tar.zst || exit 1
kernel_view tarfile p1.tar p2.tar.gz p3.tar.zst

# GNU tar from a real directory: sparse files in its four formats, times before the epoch with a
# fraction, hardlinks it finds itself, a directory of 3000 names
mkdir -p src/big src/times && cd src || exit 1
truncate -s 64M sparse && printf begin | dd of=sparse conv=notrunc status=none &&
  printf middle | dd of=sparse bs=1 seek=33554432 conv=notrunc status=none &&
  printf end | dd of=sparse bs=1 seek=67108861 conv=notrunc status=none || exit 1
for i in $(seq 3000); do : > big/f$i; done
printf linked > times/a && ln times/a times/b && chown 1234:5678 times/b &&
  touch -h -d @-1.5 times/a && touch -d @-2000000000.25 times/old && touch -d @4102444800.5 big || exit 1
cd .. || exit 1
n=0
for fmt in "--format=gnu" "--format=pax --sparse-version=0.0" "--format=pax --sparse-version=0.1" \
  "--format=pax --sparse-version=1.0"; do
  n=$((n + 1))
  mkdir -p "s$n" && cp --sparse=always src/sparse "s$n/sparse$n" &&
    tar $fmt --sparse --numeric-owner -C "s$n" -cf "sparse$n.tar" . || exit 1
done
tar --format=pax --numeric-owner -C src --exclude=sparse -cf gnu.tar . || exit 1
kernel_view gnutar gnu.tar sparse1.tar sparse2.tar sparse3.tar sparse4.tar

demo=$BANGER_SOURCE_DIR/examples/demo
python3 "$BANGER_SOURCE_DIR/tests/tools/mktar.py" "$demo/base.layer" demo-base.tar &&
  python3 "$BANGER_SOURCE_DIR/tests/tools/mktar.py" "$demo/update.layer" demo-update.tar || exit 1
kernel_view demo demo-base.tar demo-update.tar

# what the sets hold, so a layer that silently lost its point shows
t=tarfile/tree.txt
line() { grep "^$2 " "$1"; }
expect_contains "$(line $t /usr/bin/zcat)" "/usr/bin/zcat file 0644 0 0 4 2 " \
  "absolute hardlink target, inside the root; the old inode kept when gzip was replaced"
expect_contains "$(line $t /.wh.etc/somefile)" " file 0644 0 0 16 1 " \
  "a name under .wh.etc is an ordinary file"
expect_contains "$(line $t /etc/os-release)" " file 0644 0 0 24 1 " "etc survives .wh.etc/somefile"
expect_contains "$(line $t /old)" " -2:500000000 " "mtime -1.5 s"
expect_contains "$(line $t /older)" " -2000000001:750000000 -86401:875000000 -2:500000000 " \
  "PAX mtime, atime and ctime before the epoch"
expect_contains "$(line $t /future)" " 4102444800:999999999 2147483648:500000000 " "after 2038"
expect_contains "$(line $t /x/cap3)" "security.capability=0000000200040000000000000000000000000000" \
  "capability v3 kept as v2"
expect_contains "$(line $t /x/acl)" "system.posix_acl_access=0200000001000700ffffffff02000500e8030000" \
  "ACL kept, in the form the kernel gives back"
expect_contains "$(line $t /x/dacl)" "system.posix_acl_default=" "default ACL kept"
expect_contains "$(line $t /x/link)" "/x/link symlink 0777 0 0 3 1 " "symlink"
expect_contains "$(line $t /x/link)" "trusted.onlink=6b657074" "trusted xattr on a symlink kept"
expect_eq "$(grep -c 'user.onlink\|foo.bar\|user.=' $t)" 0 "xattrs Linux would not show dropped"
expect_contains "$(line $t /dev/max)" " chr 0660 0 0 0 1 " "device 4095:1048575 kept"
expect_eq "$(grep -c '^/dev/toobig' $t)" 0 "device Linux cannot encode dropped"
expect_eq "$(grep -c '^/opq/' $t)" 1 "opaque directory: only the upper layer's entries"
expect_eq "$(grep -c '^/wh/' $t)" 2 "whiteouts applied"
expect_contains "$(line $t /usr/lib/longest)" " symlink 0777 0 0 4095 1 " "a 4095-byte target"
expect_eq "$(awk 'length($1) == 4095' $t | wc -l)" 1 "a 4095-byte path"
t=gnutar/tree.txt
expect_contains "$(line $t /times/a)" " file 0644 1234 5678 6 2 -2:500000000 " "GNU tar, -1.5 s"
expect_contains "$(line $t /times/old)" " -2000000001:750000000 " "GNU tar, -2000000000.25 s"
expect_eq "$(grep -c '^/sparse[1-4] file 0644 0 0 67108864 1 ' $t)" 4 "four sparse formats"
expect_eq "$(grep -c '^/big/f' $t)" 3000 "a big directory"
finish
