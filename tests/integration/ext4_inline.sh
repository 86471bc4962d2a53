#!/bin/bash
# inline_data: small regular files kept in their inodes, judged by the kernel (read-only and
# read-write loop mounts), e2fsck -fn and debugfs. Every file's content, mode, owner, times and
# xattrs are what the tree says; sizes at the edges (60, 61, 128, 129 bytes), empty files, hard
# links, symlinks, xattrs pushed out of the inode by the data, host files; the sizing model's
# size builds and one MiB less is refused; the editor and the kernel change such an image and
# e2fsck stays clean after each change.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
command -v e2fsck >/dev/null && command -v debugfs >/dev/null ||
  skip "e2fsprogs is not installed (make deps)"

run() { # recipe-file what
  "$BANGER" -q "$1" >"$1.out" 2>"$1.err"
  expect_eq "$?" 0 "$2 ($(cat "$1.err"))"
}

# every file of the tree, described once: written by Lua into the tree, checked by Python in the
# kernel's view (path, size, mode, uid, gid, mtime, mtime_nsec, xattr value length or 0)
cat > files.txt <<'EOF'
/s/empty 0 0644 0 0 1700000000 5 0
/s/one 1 0600 1 2 1700000001 0 0
/s/f59 59 0644 3 4 1700000002 999999999 0
/s/f60 60 0755 5 6 1700000003 1 0
/s/f61 61 0644 7 8 1700000004 2 0
/s/f100 100 04755 0 0 1700000005 3 0
/s/f128 128 0644 9 10 1700000006 4 0
/s/f129 129 0644 11 12 1700000007 5 0
/s/f4096 4096 0644 0 0 1700000008 6 0
/x/small 40 0644 0 0 1700000009 7 8
/x/pushed 100 0644 0 0 1700000010 8 60
/x/full 128 0640 13 14 1700000011 9 3000
EOF
cat > host128 <<'EOF'
A host file of exactly one hundred and twenty-eight bytes, read when the image is built: it
EOF
head -c 128 host128 > host.f && rm host128
# six runs of data 256 MiB apart: more extents than the inode holds, an extent tree beside the
# small inodes of its table block
truncate -s 1600M sparse6
for i in 0 1 2 3 4 5; do printf "run$i" | dd of=sparse6 bs=1 seek=$((i * 268435456)) conv=notrunc 2>/dev/null; done
cat > tree.lua <<'LUA'
local tree = require "banger.tree"
local M = {}
function M.content(path, size)
  local s = string.rep(path .. ":", size // (#path + 1) + 1)
  return s:sub(1, size)
end
function M.make()
  local t = tree.new()
  for line in io.lines("files.txt") do
    local p, size, mode, uid, gid, mt, ns, xl = line:match("^(%S+) (%d+) (%d+) (%d+) (%d+) (%d+) (%d+) (%d+)$")
    assert(t:write(p, M.content(p, tonumber(size)), { mode = tonumber(mode, 8), uid = tonumber(uid),
      gid = tonumber(gid), mtime = tonumber(mt), mtime_nsec = tonumber(ns) }))
    if tonumber(xl) > 0 then assert(t:xattr(p, "user.v", string.rep("x", tonumber(xl)))) end
  end
  assert(t:link("/s/link60", "/s/f60"))
  assert(t:symlink("/s/short", "f60"))
  assert(t:symlink("/s/long", "/" .. string.rep("l", 99)))
  assert(t:write("/s/host", nil, { from = "host.f" }))
  assert(t:write("/s/sparse6", nil, { from = "sparse6" }))
  assert(t:write("/s/zz-after", "after the extent tree\n"))
  -- directories among small files: their blocks' checksums ask libext2fs for their inodes
  for i = 1, 40 do assert(t:write(string.format("/t/d%02d/f", i), "in d" .. i)) end
  return t
end
return M
LUA

cat > build.lua <<'LUA'
local ext4, T = require "banger.ext4", dofile("tree.lua")
local t <close> = T.make()
local fs <close> = assert(ext4.create("inline.ext4", { size = 64 << 20, tree = t, inline_data = true,
  seed = "inline" }))
-- the editor's view, right after the build: every inode as written
for line in io.lines("files.txt") do
  local p, size, mode = line:match("^(%S+) (%d+) (%d+)")
  local st = fs:stat(p)
  assert(st.size == tonumber(size) and st.mode == tonumber(mode, 8), p)
  assert(fs:read(p) == T.content(p, tonumber(size)), p)
end
assert(fs:read("/s/zz-after") == "after the extent tree\n")
for i = 1, 40 do
  local p = string.format("/t/d%02d/f", i)
  assert(fs:stat(p).mode == 420 and fs:read(p) == "in d" .. i, p)
end
assert(fs:stat("/s/sparse6").size == 1600 << 20)
-- the editor's view: inline data is not an xattr
assert(fs:stat("/s/f60").xattrs == nil, "system.data is not listed")
assert(fs:stat("/x/small").xattrs["user.v"] == string.rep("x", 8))
assert(fs:read("/s/f128") == T.content("/s/f128", 128))
assert(fs:read("/s/f61") == T.content("/s/f61", 61))
local plain <close> = assert(ext4.create("plain.ext4", { size = 64 << 20, tree = t }))
LUA
run build.lua "a tree with small files builds with inline_data"
fsck_clean inline.ext4 "inline_data image"
fsck_clean plain.ext4 "the same tree without inline_data"

features() { debugfs -R features "$1" 2>/dev/null | grep -c inline_data; }
expect_eq "$(features inline.ext4)" 1 "the image has the inline_data feature"
expect_eq "$(features plain.ext4)" 0 "images have it only when asked for"
# debugfs: which files live in their inodes, and that they take no block
for f in /s/one /s/f59 /s/f60 /s/f61 /s/f100 /s/f128 /x/small /s/host; do
  expect_eq "$(debugfs -R "stat $f" inline.ext4 2>/dev/null | grep -c -e 'Flags: 0x10000000' -e 'Blockcount: 0$')" 2 "debugfs: $f is inline and takes no block"
done
for f in /x/pushed /x/full; do
  expect_eq "$(debugfs -R "stat $f" inline.ext4 2>/dev/null | grep -c -e 'Flags: 0x10000000' -e 'Blockcount: 8$')" 2 "debugfs: $f is inline, its xattrs in one block"
done
for f in /s/f129 /s/f4096; do
  expect_eq "$(debugfs -R "stat $f" inline.ext4 2>/dev/null | grep -c 'Flags: 0x80000$')" 1 "debugfs: $f is in extents"
done
expect_eq "$(debugfs -R "stat /x/pushed" inline.ext4 2>/dev/null | grep -c 'File ACL: [1-9]')" 1 "debugfs: the xattr the data pushed out of the inode is in a block"
expect_eq "$(debugfs -R "stat /x/small" inline.ext4 2>/dev/null | grep -c 'File ACL: 0')" 1 "debugfs: a small xattr stays in the inode beside the data"
expect_eq "$(debugfs -R "stat /s/f128" inline.ext4 2>/dev/null | grep -c 'Size of inline data: 128')" 1 "debugfs: 128 bytes inline"
debugfs -R "dump /s/f100 f100.debugfs" inline.ext4 2>/dev/null
expect_eq "$(head -c 100 f100.debugfs | sha256sum)" "$(printf '%s' "$(for i in $(seq 20); do printf '/s/f100:'; done)" | head -c 100 | sha256sum)" "debugfs reads /s/f100"

# the kernel's view: every file as files.txt says
check_view() { # dir what
  python3 - "$1" <<'PY'
import os, stat, sys
root, bad = sys.argv[1], []
def content(p, n):
    s = (p + ":") * (n // (len(p) + 1) + 1)
    return s[:n].encode()
for line in open("files.txt"):
    p, size, mode, uid, gid, mt, ns, xl = line.split()
    f = root + p
    st = os.lstat(f)
    got = (st.st_size, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns)
    want = (int(size), int(mode, 8), int(uid), int(gid), int(mt) * 10**9 + int(ns))
    if got != want: bad.append("%s: %s, not %s" % (p, got, want))
    if open(f, "rb").read() != content(p, int(size)): bad.append(p + ": content")
    xs = os.listxattr(f)
    wantx = ["user.v"] if int(xl) else []
    if xs != wantx: bad.append("%s: xattrs %s" % (p, xs))
    if wantx and os.getxattr(f, "user.v") != b"x" * int(xl): bad.append(p + ": xattr value")
if os.stat(root + "/s/link60").st_ino != os.stat(root + "/s/f60").st_ino or os.stat(root + "/s/f60").st_nlink != 2:
    bad.append("link60 is not a hard link of f60")
if os.readlink(root + "/s/short") != "f60" or os.readlink(root + "/s/long") != "/" + "l" * 99:
    bad.append("symlinks")
if open(root + "/s/host", "rb").read() != open("host.f", "rb").read(): bad.append("host file")
with open(root + "/s/sparse6", "rb") as f:
    for i in range(6):
        f.seek(i * 268435456)
        if f.read(4) != b"run%d" % i: bad.append("sparse6 run %d" % i)
if open(root + "/s/zz-after", "rb").read() != b"after the extent tree\n": bad.append("zz-after")
print("\n".join(bad) if bad else "ok")
PY
}
mount_image inline.ext4 m
expect_eq "$(check_view m)" ok "the kernel (read-only) sees every file as the tree says"
unmount m

# ---- the sizing model: xattrs pushed into blocks by inline data are counted ----
cat > size.lua <<'LUA'
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
for i = 1, 20000 do
  local p = string.format("/d%d/f%d", i % 50, i)
  assert(t:write(p, string.rep("b", 100)))
  assert(t:xattr(p, "user.a", string.rep("v", 60)))
end
local o = { inline_data = true }
local need = assert(ext4.min_size(t, o))
assert(need > 64 << 20, "above the floor: " .. need)
local small, msg = ext4.create("small.ext4", { size = need - (1 << 20), tree = t, inline_data = true })
assert(small == nil and msg == string.format("image too small: needs at least %d MiB", need >> 20),
  msg)
local fs <close> = assert(ext4.create("size.ext4", { size = need, tree = t, inline_data = true }))
print(need >> 20)
LUA
run size.lua "20,000 inline files whose xattrs go to blocks build at min_size, not one MiB below"
expect_file_absent small.ext4 "the refused image"
fsck_clean size.ext4 "inline files with xattr blocks at min_size"
mount_image size.ext4 m
expect_eq "$(cat m/d7/f19907)" "$(printf 'b%.0s' $(seq 100))" "the kernel reads an inline file"
expect_eq "$(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.a").decode())' m/d7/f19907)" "$(printf 'v%.0s' $(seq 60))" "and its xattr"
unmount m

# ---- the editor: overwrite, grow past the inode, shrink to nothing, remove, add ----
cat > edit.lua <<'LUA'
local ext4 = require "banger.ext4"
local steps = {
  function(fs) assert(fs:write("/s/f60", "rewritten in place\n")) end,
  function(fs) assert(fs:write("/s/f61", string.rep("g", 5000))) end,
  function(fs) assert(fs:write("/s/f128", "")) end,
  function(fs) assert(fs:remove("/s/f100")) end,
  function(fs) assert(fs:write("/s/new", string.rep("n", 90), { mode = 416, uid = 3 })) end,
  function(fs) assert(fs:write("/s/newhost", nil, { from = "host.f" })) end,
}
local i = tonumber(args.step)
local fs <close> = assert(ext4.open("inline.ext4", { write = true }))
steps[i](fs)
LUA
for step in 1 2 3 4 5 6; do
  "$BANGER" -q edit.lua step=$step 2>edit.err
  expect_eq "$?" 0 "editor step $step ($(cat edit.err))"
  fsck_clean inline.ext4 "after editor step $step"
done
expect_eq "$(debugfs -R "stat /s/new" inline.ext4 2>/dev/null | grep -c -e 'Flags: 0x10000000' -e 'Size of inline data: 90')" 2 "the editor writes a small file inline"
mount_image inline.ext4 m rw
expect_eq "$(cat m/s/f60)" "rewritten in place" "the overwritten file"
expect_eq "$(cat m/s/link60)" "$(head -c 60 <<<"$(printf '/s/f60:%.0s' $(seq 9))")" "its other name keeps the old inode"
expect_eq "$(stat -c %s m/s/f61) $(tr -d g < m/s/f61 | wc -c)" "5000 0" "the file grown past the inode"
expect_eq "$(stat -c %s m/s/f128)" 0 "the file shrunk to nothing"
expect_eq "$(ls m/s | grep -c f100)" 0 "the removed file"
expect_eq "$(stat -c '%s %a %u' m/s/new) $(tr -d n < m/s/new | wc -c)" "90 640 3 0" "the new file"
expect_eq "$(cmp m/s/newhost host.f && echo same)" same "the new host file"
# the kernel changes inline files: appends past the inode, truncates, removes, writes new ones
printf '%0200d' 0 >> m/s/f59 && truncate -s 10 m/s/one && truncate -s 3 m/s/f61 &&
  rm m/s/new && printf small > m/s/kernel && printf '%0150d' 0 >> m/x/small
expect_eq "$?" 0 "the kernel changes inline files"
unmount m
fsck_clean inline.ext4 "after the kernel's changes"
mount_image inline.ext4 m
expect_eq "$(stat -c %s m/s/f59 m/s/one m/s/f61 m/s/kernel m/x/small | tr '\n' ' ')" "259 10 3 5 190 " "the kernel's changes are there after a remount"
expect_eq "$(head -c 59 m/s/f59)" "$(head -c 59 <<<"$(printf '/s/f59:%.0s' $(seq 9))")" "the appended file keeps its start"
unmount m

# ---- the default recipe with inline_data=1, and without ----
demo_layout layout
for v in 1 0; do
  "$BANGER" -q --cache-dir "$PWD/cache" "$BANGER_SOURCE_DIR/recipes/default.lua" \
    "image=oci:$PWD/layout:demo" out=demo$v.ext4 \
    inline_data=$v cache=off provenance=0 2>demo.err
  expect_eq "$?" 0 "the default recipe with inline_data=$v ($(cat demo.err))"
  fsck_clean demo$v.ext4 "the default recipe's image, inline_data=$v"
  expect_eq "$(features demo$v.ext4)" "$v" "inline_data=$v: the feature is there or not"
done
inl=$(debugfs -R "stat /etc/hostname" demo1.ext4 2>/dev/null | grep -c 'Flags: 0x10000000')
expect_eq "$inl" 1 "a layer's small file is inline"
mount_image demo1.ext4 m
mount_image demo0.ext4 m0
expect_eq "$(cd m && find . -type f -exec sha256sum {} + | sort | sha256sum)" \
  "$(cd m0 && find . -type f -exec sha256sum {} + | sort | sha256sum)" "both images hold the same files"
unmount m0
unmount m

finish
