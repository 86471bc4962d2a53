#!/bin/bash
# Oracles: a three-layer image built with umoci, unpacked by `umoci raw unpack`, must list the
# same (path, type, mode, uid, gid, size, nlink, sha256 or link target) as the tree
# banger.tree.from_layers makes of the same layer blobs. Run as root, ownership and devices are
# real and compared; otherwise umoci unpacks rootless, devices are skipped on both sides and
# owners are left out of the comparison (the policy difference the listing explains). Then the
# kernel judges the image made of the same layers (tests/lib/kernel_view.sh).
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/kernel_view.sh"

command -v umoci >/dev/null || skip "umoci is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"

if [ "$(id -u)" = 0 ]; then
  rootless=""
  devices=keep
else
  rootless=--rootless
  devices=skip
fi

# The layers, as uncompressed tarballs (umoci compresses them as it adds them).
python3 - <<'PY' || exit 1
import io, tarfile

def layer(path, entries):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            name, kind = e[0], e[1]
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.uid, ti.gid = e[3] if len(e) > 3 else (0, 0)
            ti.uname = ti.gname = ""
            data = None
            if kind == "d":
                ti.type, ti.mode = tarfile.DIRTYPE, e[2] if len(e) > 2 else 0o755
            elif kind == "f":
                data = e[2] if isinstance(e[2], bytes) else e[2].encode()
                ti.size, ti.mode = len(data), e[4] if len(e) > 4 else 0o644
            elif kind == "l":
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, e[2], 0o777
            elif kind == "h":
                ti.type, ti.linkname, ti.mode = tarfile.LNKTYPE, e[2], 0o600
                ti.uid = ti.gid = 4242  # a hardlink's own fields never change the inode
            elif kind == "c":
                ti.type, ti.devmajor, ti.devminor, ti.mode = tarfile.CHRTYPE, 1, 3, 0o666
            elif kind == "p":
                ti.type, ti.mode = tarfile.FIFOTYPE, 0o600
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)

big = bytes((i * 7 + i // 251) % 256 for i in range(300000))
layer("l1.tar", [
    ("etc", "d"), ("etc/os-release", "f", "ID=debian\n"), ("etc/motd", "f", "hello\n"),
    ("etc/alternatives", "d"), ("etc/alternatives/awk", "l", "/usr/bin/mawk"),
    ("usr", "d"), ("usr/bin", "d"), ("usr/lib", "d"), ("usr/lib64", "l", "lib"),
    ("bin", "l", "usr/bin"),
    ("usr/bin/sudo", "f", "sudo", (0, 0), 0o4755), ("usr/bin/wall", "f", "wall", (0, 5), 0o2755),
    ("usr/bin/gzip", "f", "gzip-1"), ("usr/bin/gunzip", "h", "usr/bin/gzip"),
    ("usr/bin/zcat", "h", "usr/bin/gzip"),
    ("usr/lib/blob", "f", big),
    ("usr/lib/sl", "l", "../../etc/os-release"), ("usr/lib/sl2", "h", "usr/lib/sl"),
    ("var", "d"), ("var/tmp", "d", 0o1777),
    ("home", "d"), ("home/u", "d", 0o700, (1000, 1000)),
    ("home/u/f", "f", "x", (100000, 70000)),
    ("opq", "d"), ("opq/a", "f", "a"), ("opq/sub", "d"), ("opq/sub/b", "f", "b"),
    ("wh", "d"), ("wh/gone", "f", "gone", (7, 7), 0o600), ("wh/dir", "d"), ("wh/dir/x", "f", "x"),
    ("wh/stay", "f", "stay"),
    ("dev", "d"), ("dev/null", "c"), ("dev/fifo", "p"),
])
layer("l2.tar", [
    ("opq", "d", 0o750), ("opq/new", "f", "new"), ("opq/sub", "d"), ("opq/sub/c", "f", "c"),
    ("opq/.wh..wh..opq", "f", ""),
    ("wh/.wh.gone", "f", ""), ("wh/.wh.dir", "f", ""),
    ("usr/bin/gzip", "f", "gzip-2", (0, 0), 0o755),
    ("etc/os-release", "f", "ID=debian\nVERSION_ID=12\n"),
    ("etc/motd", "d"), ("etc/motd/part", "f", "p"),
    ("var/tmp", "l", "/tmp"),
    ("home/u", "d", 0o750, (1001, 1001)),
])
layer("l3.tar", [
    ("wh/gone", "f", "back", (0, 0), 0o640),
    ("usr/bin/zcat2", "h", "usr/bin/zcat"),
    ("usr/bin/.wh.gunzip", "f", ""),
    ("late/child/deep", "f", "d"), ("late", "d", 0o711),
])
PY

umoci init --layout img >/dev/null || exit 1
umoci new --image img:t >/dev/null || exit 1
for l in l1 l2 l3; do
  umoci raw add-layer --image img:t $l.tar >/dev/null || exit 1
done
umoci raw unpack $rootless --image img:t rootfs >umoci.log 2>&1 || { cat umoci.log; exit 1; }

# The same listing of a directory, from the host's view of it.
python3 - "$devices" <<'PY' > want.txt || exit 1
import hashlib, os, stat, sys
devices = sys.argv[1]
root = "rootfs"
rows = []
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n)
        st = os.lstat(p)
        m = st.st_mode
        kind = ("dir" if stat.S_ISDIR(m) else "file" if stat.S_ISREG(m) else
                "symlink" if stat.S_ISLNK(m) else "chr" if stat.S_ISCHR(m) else
                "blk" if stat.S_ISBLK(m) else "fifo" if stat.S_ISFIFO(m) else "other")
        if kind in ("chr", "blk", "fifo") and devices == "skip":
            continue
        if kind == "file":
            what = hashlib.sha256(open(p, "rb").read()).hexdigest()
        elif kind == "symlink":
            what = "-> " + os.readlink(p)
        elif kind in ("chr", "blk"):
            what = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        else:
            what = "-"
        size = st.st_size if kind in ("file", "symlink") else 0
        nlink = st.st_nlink if kind != "dir" else 0
        rows.append("%s %s %04o %d %d %d %d %s" % (p[len(root):], kind, stat.S_IMODE(m),
                    st.st_uid, st.st_gid, size, nlink, what))
rows.sort(key=lambda r: r.split(" ")[0].encode())
print("\n".join(rows))
PY

cat > list.lua <<'LUA'
local cjson, tree, digest = require "cjson", require "banger.tree", require "banger.digest"
local function slurp(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
local function blob(d) return args.layout .. "/blobs/sha256/" .. d:sub(8) end
local index = cjson.decode(slurp(args.layout .. "/index.json"))
local manifest = cjson.decode(slurp(blob(index.manifests[1].digest)))
local config = cjson.decode(slurp(blob(manifest.config.digest)))
local layers = {}
for i, l in ipairs(manifest.layers) do
  layers[i] = { path = blob(l.digest), media_type = l.mediaType, digest = l.digest,
    diff_id = config.rootfs.diff_ids[i] }
end
local t <close> = assert(tree.from_layers(layers, { image = "oracle", devices = args.devices }))
local rows = {}
for path, st in t:walk() do
  if path ~= "/" then
    local what = "-"
    if st.type == "file" then
      what = digest.sha256(assert(t:read(path, st.size))):sub(8)
    elseif st.type == "symlink" then
      what = "-> " .. st.target
    elseif st.type == "chr" or st.type == "blk" then
      what = st.major .. ":" .. st.minor
    end
    local size = (st.type == "file" or st.type == "symlink") and st.size or 0
    rows[#rows + 1] = string.format("%s %s %04o %d %d %d %d %s", path, st.type, st.mode, st.uid,
      st.gid, size, st.type == "dir" and 0 or st.nlink, what)
  end
end
io.write(table.concat(rows, "\n"), "\n")
LUA
"$BANGER" -q list.lua layout=img devices=$devices > got.txt 2>err.txt; rc=$?
expect_eq "$rc" 0 "listing the tree ($(cat err.txt))"

if [ -n "$rootless" ]; then
  # rootless: the host cannot hold the owners, so they are not compared
  for f in want.txt got.txt; do awk '{ $4 = "-"; $5 = "-"; print }' $f > $f.cmp; done
else
  cp want.txt want.txt.cmp; cp got.txt got.txt.cmp
fi
expect_eq "$(diff -u want.txt.cmp got.txt.cmp)" "" "tree listing equals umoci's unpack"
# the listing holds what the layers were chosen to exercise
expect_contains "$(cat got.txt)" "/usr/bin/sudo file 4755 0 0 4 1" "setuid kept"
expect_contains "$(cat got.txt)" "/etc/alternatives/awk symlink 0777 0 0 13 1 -> /usr/bin/mawk" \
  "absolute symlink kept"
expect_eq "$(grep -c '^/opq/' got.txt)" 3 "opaque directory: only the upper layer's entries"
expect_eq "$(grep -c '^/wh/' got.txt)" 2 "whiteouts applied"
expect_contains "$(cat got.txt)" "/usr/bin/zcat2 file 0644 0 0 6 2" "cross-layer hardlink"
# and the kernel agrees with the tree made of the same layers, once it is an image
kernel_view oracle l1.tar l2.tar l3.tar
finish
