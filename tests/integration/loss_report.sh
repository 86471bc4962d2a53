#!/bin/bash
# The loss report end to end: an image on a registry on loopback whose layers hold what the
# policy drops or changes (devices, a fifo, an overlayfs whiteout, xattrs, trusted.overlay.*, a
# v3 capability, a far-future time, a file at /lost+found, a file the payload replaces, no mount
# points), built by the default recipe. The summary line, --json's losses and report=FILE must
# say the same, and debugfs, e2fsck and the kernel (a loop mount) must agree with each entry.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need e2fsck debugfs python3
registry_start
export SOURCE_DATE_EPOCH=1700000000
cache=$PWD/cache
recipe=$BANGER_SOURCE_DIR/recipes/default.lua

python3 - <<'PY' || exit 1
import io, tarfile

def raw(b):
    return b.decode("utf-8", "surrogateescape")

CAP3 = raw(b"\x00\x00\x00\x03\x00\x04\x00\x00" + b"\x00" * 12 + b"\xe8\x03\x00\x00")

def layer(path, entries):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, opt in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = opt.get("mtime", 1700000000)
            ti.uid, ti.gid = opt.get("owner", (0, 0))
            data = None
            if kind == "d":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            elif kind == "f":
                data = opt.get("data", b"x")
                ti.size, ti.mode = len(data), opt.get("mode", 0o644)
            elif kind in ("c", "b"):
                ti.type = tarfile.CHRTYPE if kind == "c" else tarfile.BLKTYPE
                ti.devmajor, ti.devminor = opt["dev"]
                ti.mode = 0o660
            elif kind == "p":
                ti.type, ti.mode = tarfile.FIFOTYPE, 0o600
            ti.pax_headers = opt.get("pax", {})
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)

layer("base.tar", [
    ("etc", "d", {}), ("etc/os-release", "f", {"data": b"ID=debian\n"}),
    ("dev", "d", {}), ("dev/null", "c", {"dev": (1, 3)}), ("dev/sda", "b", {"dev": (8, 0)}),
    ("var/run/fifo", "p", {}),
    ("usr/bin/ping", "f", {"mode": 0o755, "pax": {
        "SCHILY.xattr.security.capability": CAP3, "SCHILY.xattr.user.origin": "layer"}}),
    ("usr/share/opaque", "d", {"pax": {"SCHILY.xattr.trusted.overlay.opaque": "y"}}),
    ("usr/local/bin/banger-vsock-agent", "f", {"data": b"an old agent", "mode": 0o755}),
    ("home/u", "d", {"owner": (1000, 1000)}), ("home/u/file", "f", {"owner": (1000, 1000)}),
])
layer("top.tar", [
    ("gone", "c", {"dev": (0, 0)}),
    ("lost+found", "f", {"data": b"a file where ext4 keeps its directory"}),
    ("far", "f", {"pax": {"mtime": "1099511627776"}}),
])
PY
python3 "$BANGER_SOURCE_DIR/tests/tools/mkimage.py" oci --tag 1 --layer base.tar --layer top.tar \
  >/dev/null || exit 1
registry_push oci 1 loss/img:1
image=$REGISTRY/loss/img:1

# ---- the default policy: devices, fifos and xattrs dropped ----
"$BANGER" --json --cache-dir "$cache" "$recipe" "image=$image" out=$PWD/a.ext4 \
  report=$PWD/a.losses provenance=0 >a.json 2>a.err
expect_eq "$?" 0 "the build ($(tail -3 a.err))"
fsck_clean a.ext4 "the default build"
summary="dropped 2 device nodes, 1 fifo, 1 overlayfs whiteout, 2 xattrs, 1 trusted.overlay xattr; clamped 1 inode's times to ext4's range; replaced /lost+found, 1 entry of the layers by the payload's; created 4 mount points; kept everything else"
expect_eq "$(grep -c "^banger-build: $summary\$" a.err)" 1 "one summary line"
expect_eq "$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
l = r["losses"]
print(l["summary"])
print(l["total"], " ".join("%s=%d" % (k, v["count"]) for k, v in sorted(l["kinds"].items())))
print(" ".join(l["kinds"]["device"]["examples"]), "|", " ".join(l["kinds"]["mountpoint_created"]["examples"]))
print(r["report"], "provenance" in r, "unlisted" in l)' a.json)" "$summary
14 device=2 fifo=1 lost+found_replaced=1 mountpoint_created=4 overlay_whiteout=1 overlay_xattr=1 replaced=1 time_clamped=1 xattr=2
/dev/null /dev/sda | /proc /sys /run /tmp
$PWD/a.losses False False" "--json losses: the summary, counts and examples"
expect_eq "$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    assert sorted(e) == ["detail", "kind", "layer", "path"], e
    print(e["kind"], e["layer"], e["path"], "|", e["detail"])' a.losses)" \
"device 1 /dev/null | character device 1:3 (devices=skip)
device 1 /dev/sda | block device 8:0 (devices=skip)
fifo 1 /var/run/fifo | fifo (devices=skip)
xattr 1 /usr/bin/ping | xattr user.origin (xattrs=drop)
xattr 1 /usr/bin/ping | xattr security.capability (xattrs=drop)
overlay_xattr 1 /usr/share/opaque | xattr trusted.overlay.opaque: overlayfs' own, never copied
overlay_whiteout 2 /gone | character device 0:0, an overlayfs whiteout, which OCI layers do not define
mountpoint_created 0 /proc | made 0755 0:0: the guest mounts a filesystem here
mountpoint_created 0 /sys | made 0755 0:0: the guest mounts a filesystem here
mountpoint_created 0 /run | made 0755 0:0: the guest mounts a filesystem here
mountpoint_created 0 /tmp | made 1777 0:0: the guest mounts a filesystem here
replaced 0 /usr/local/bin/banger-vsock-agent | the layers' file, replaced by the payload's file
lost+found_replaced 0 /lost+found | the tree has a non-directory there; the image needs a directory, so it takes its place
time_clamped 0 /far | mtime 1099511627776 stored as 15032385535, atime 1099511627776 stored as 15032385535, ctime 1099511627776 stored as 15032385535 (ext4 holds 1901..2446)" \
  "report=FILE: every entry, in order, as JSON lines"

# the judges: what the report says is gone is gone, what it says was made or changed is so
for p in /dev/null /dev/sda /var/run/fifo /gone; do
  debugfs -R "stat $p" a.ext4 2>&1 | grep -q "File not found"
  expect_eq "$?" 0 "debugfs: $p is not in the image"
done
for p in /proc /sys /run /tmp /lost+found; do
  expect_eq "$(debugfs -R "stat $p" a.ext4 2>/dev/null | grep -o 'Type: directory')" \
    "Type: directory" "debugfs: $p is a directory"
done
expect_eq "$(debugfs -R 'stat /far' a.ext4 2>/dev/null | grep -c '^ *[acm]time: 0x7fffffff:00000003')" 3 \
  "debugfs: /far's times are the clamped ones"
mount_image a.ext4 m
expect_eq "$(python3 -c '
import os, sys
m = sys.argv[1]
print(sorted(os.listxattr(m + "/usr/bin/ping")), sorted(os.listxattr(m + "/usr/share/opaque")),
      open(m + "/usr/local/bin/banger-vsock-agent", "rb").read(4) == b"\x7fELF",
      int(os.stat(m + "/far").st_mtime), oct(os.stat(m + "/tmp").st_mode & 0o7777))' m)" \
  "[] [] True 15032385535 0o1777" "the kernel: no xattrs, the payload's agent, the clamped time, /tmp"
unmount m

# ---- xattrs kept: the capability is rewritten as v2, the overlay's own still dropped; a remap ----
cat > remap.lua <<'LUA'
local banger = require "banger"
local args = banger.arguments(banger.BUILD_ARGS, { xattrs = "keep", devices = "keep" })
return banger.run {
  args = args,
  remap = function(uid, gid) if uid == 1000 then return 2000, 3000 end end,
}
LUA
"$BANGER" --json --cache-dir "$cache" remap.lua "image=$image" out=$PWD/b.ext4 provenance=0 \
  >b.json 2>b.err
expect_eq "$?" 0 "a build that keeps xattrs and devices, with a remap ($(tail -3 b.err))"
fsck_clean b.ext4 "the build with xattrs"
expect_eq "$(python3 -c '
import json, sys
l = json.load(open(sys.argv[1]))["losses"]
print(l["summary"])
print(l["kinds"]["owner_remapped"]["examples"])' b.json)" "dropped 1 overlayfs whiteout, 1 trusted.overlay xattr; rewrote 1 v3 capability as v2; clamped 1 inode's times to ext4's range; changed 2 owners (remap); replaced /lost+found, 1 entry of the layers by the payload's; created 4 mount points; kept everything else
['/home/u', '/home/u/file']" "the loss report of a build that keeps xattrs and devices"
mount_image b.ext4 m
expect_eq "$(python3 -c '
import os, sys
m = sys.argv[1]
cap = os.getxattr(m + "/usr/bin/ping", "security.capability")
st = os.stat(m + "/home/u/file")
print(len(cap), cap[3], sorted(os.listxattr(m + "/usr/share/opaque")), st.st_uid, st.st_gid,
      os.path.exists(m + "/dev/null"))' m)" "20 2 [] 2000 3000 True" \
  "the kernel: a v2 capability, no overlay xattr, the remapped owner, the device kept"
unmount m

# ---- nothing lost says so; --quiet prints no summary ----
cat > plain.spec <<'SPEC'
dir  /etc  0755 0 0
file /etc/os-release 0644 0 0 =ID=debian
dir  /dev  0755 0 0
dir  /proc 0755 0 0
dir  /sys  0755 0 0
dir  /run  0755 0 0
dir  /tmp  1777 0 0
SPEC
python3 "$BANGER_SOURCE_DIR/tests/tools/mktar.py" plain.spec plain.tar &&
  python3 "$BANGER_SOURCE_DIR/tests/tools/mkimage.py" plain --tag 1 --layer plain.tar >/dev/null ||
  exit 1
registry_push plain 1 loss/plain:1
"$BANGER" --json --cache-dir "$cache" "$recipe" "image=$REGISTRY/loss/plain:1" out=$PWD/c.ext4 \
  report=$PWD/c.losses provenance=0 >c.json 2>c.err
expect_eq "$?" 0 "a build that loses nothing ($(tail -3 c.err))"
expect_eq "$(grep -c '^banger-build: nothing lost: the image holds everything the layers say$' c.err)" \
  1 "a build with nothing lost says so"
expect_eq "$(python3 -c 'import json, sys; l = json.load(open(sys.argv[1]))["losses"]; print(l["total"], l["kinds"])' c.json)" \
  "0 {}" "--json: nothing lost"
expect_eq "$(wc -c < c.losses)" 0 "the report file of nothing lost is empty"
"$BANGER" -q --cache-dir "$cache" "$recipe" "image=$image" out=$PWD/d.ext4 provenance=0 2>d.err
expect_eq "$?" 0 "a quiet build"
expect_eq "$(grep -c 'kept everything else' d.err)" 0 "--quiet prints no summary"

# ---- the report file is part of the result: when it cannot be written, no image is left ----
mkdir e.losses
"$BANGER" -q --cache-dir "$cache" "$recipe" "image=$image" out=$PWD/e.ext4 report=$PWD/e.losses \
  provenance=0 2>e.err
expect_eq "$?" 1 "a report that cannot be written fails the build"
expect_contains "$(cat e.err)" "writing $PWD/e.losses" "the error names the report file"
expect_file_absent e.ext4 "no image without its report"
expect_eq "$(ls -A | grep -c '\.tmp-')" 0 "no temporary file left"
finish
