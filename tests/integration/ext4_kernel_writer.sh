#!/bin/bash
# The writer, judged by the kernel (loop mounts) and e2fsck: what ext4 cannot hold as given is
# split, replaced or clamped and the kernel shows exactly that; the sizing model's size builds and
# one MiB less is refused; a sparse host file keeps its holes.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
command -v e2fsck >/dev/null || skip "e2fsprogs is not installed (make deps)"

# ---- more names than one inode holds ----
cat > links.lua <<'LUA'
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
assert(t:write("/a/f", "shared content\n", { mode = 416, uid = 7, gid = 8 }))
for i = 1, 69999 do assert(t:link("/l/" .. i, "/a/f")) end
local fs <close> = assert(ext4.create("links.ext4", { size = 256 << 20, tree = t, seed = "l" }))
for _, w in ipairs(fs:warnings()) do print(w.kind, w.path, w.detail) end
LUA
"$BANGER" -q links.lua >links.out 2>links.err
expect_eq "$?" 0 "70,000 names build ($(cat links.err))"
expect_eq "$(cat links.out)" "$(printf 'hardlinks_split\t/a/f\t70000 names; ext4 holds 65000 per inode, so they are split over 2 copies that share nothing')" "the split is a warning"
fsck_clean links.ext4 "70,000 names"
mount_image links.ext4 m
expect_eq "$(stat -c %h m/a/f)" 65000 "the first copy has 65,000 links"
expect_eq "$(find m/a m/l -type f -printf '%i\n' | sort | uniq -c | awk '{print $1}' | sort -n | tr '\n' ' ')" "5000 65000 " "two inodes hold 65,000 and 5,000 names"
expect_eq "$(find m/a m/l -type f -printf '%i %n\n' | sort -u | awk '{s += $2} END {print s}')" 70000 "link counts add up to the names"
expect_eq "$(cat m/l/69999)" "shared content" "every name reads the content"
expect_eq "$(stat -c '%a %u %g' m/l/69999)" "640 7 8" "the copy has the metadata"
unmount m
# the kernel removes the first copy's 65,000 names: the other 5,000 still read, e2fsck agrees
mount_image links.ext4 m rw
first=$(stat -c %i m/a/f)
find m/a m/l -inum "$first" -delete
expect_eq "$(find m/l -type f | wc -l)" 5000 "5,000 names are left"
expect_eq "$(cat m/l/69999)" "shared content" "and still read"
unmount m
fsck_clean links.ext4 "after the kernel removed 65,000 names"

# ---- /lost+found that is not a directory ----
for kind in file symlink; do
  cat > lpf.lua <<LUA
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
if "$kind" == "file" then assert(t:write("/lost+found", "not a dir")) else assert(t:symlink("/lost+found", "/tmp")) end
assert(t:write("/etc/hostname", "box\n"))
local fs <close> = assert(ext4.create("lpf-$kind.ext4", { size = 64 << 20, tree = t }))
for _, w in ipairs(fs:warnings()) do print(w.kind) end
LUA
  "$BANGER" -q lpf.lua >lpf.out 2>lpf.err
  expect_eq "$?" 0 "a $kind at /lost+found builds ($(cat lpf.err))"
  expect_eq "$(cat lpf.out)" "lost+found_replaced" "replacing the $kind is a warning"
  fsck_clean "lpf-$kind.ext4" "a $kind at /lost+found"
  mount_image "lpf-$kind.ext4" m
  expect_eq "$(ls -a m | grep -c '^lost+found$')" 1 "one lost+found in the root ($kind)"
  expect_eq "$(stat -c '%F %a' m/lost+found)" "directory 700" "it is the image's directory ($kind)"
  unmount m
done
cat > lpfdir.lua <<'LUA'
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
assert(t:mkdir("/lost+found", { mode = 488, uid = 5 }))
assert(t:write("/lost+found/kept", "kept\n"))
local fs <close> = assert(ext4.create("lpf-dir.ext4", { size = 64 << 20, tree = t }))
assert(#fs:warnings() == 0)
LUA
"$BANGER" -q lpfdir.lua 2>lpf.err
expect_eq "$?" 0 "a /lost+found directory from the tree builds ($(cat lpf.err))"
fsck_clean lpf-dir.ext4 "the tree's /lost+found"
mount_image lpf-dir.ext4 m
expect_eq "$(stat -c '%F %a %u' m/lost+found) $(cat m/lost+found/kept)" "directory 750 5 kept" "the tree's lost+found is kept"
unmount m

# ---- the sizing model: the size it gives builds, one MiB less is refused ----
cat > xattrs.lua <<'LUA'
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
local v = string.rep("v", 72)
for i = 1, 20000 do
  local p = string.format("/x/%d/f%d", i % 100, i)
  assert(t:write(p, ""))
  assert(t:xattr(p, "user.a", v))
end
local need = assert(ext4.min_size(t))
local small, msg = ext4.create("small.ext4", { size = need - (1 << 20), tree = t })
assert(small == nil and msg == string.format("image too small: needs at least %d MiB", need >> 20),
  msg)
local fs <close> = assert(ext4.create("xattrs.ext4", { size = need, tree = t }))
print(need >> 20)
LUA
"$BANGER" -q xattrs.lua >xattrs.out 2>xattrs.err
expect_eq "$?" 0 "20,000 files with a 72-byte xattr build at min_size and not one MiB below ($(cat xattrs.err))"
expect_file_absent small.ext4 "the refused image"
fsck_clean xattrs.ext4 "xattrs at min_size"
mount_image xattrs.ext4 m
expect_eq "$(find m/x -type f | wc -l)" 20000 "every file is there"
expect_eq "$(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.a").decode())' m/x/7/f19907)" "$(printf 'v%.0s' $(seq 72))" "the kernel reads the xattr"
unmount m

# ---- a sparse host file keeps its holes and is not read in full ----
truncate -s 4G sparse
printf head | dd of=sparse conv=notrunc 2>/dev/null
printf tail | dd of=sparse bs=1 seek=3221225472 conv=notrunc 2>/dev/null
cat "$BANGER_SOURCE_DIR/tests/lib/measure.lua" - > sparse.lua <<'LUA'
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
assert(t:write("/in-tree", nil, { from = "sparse" }))
local need = assert(ext4.min_size(t))
assert(need == 64 << 20, "a sparse file's holes take no room: " .. need)
local before = bytes_read()
local fs <close> = assert(ext4.create("sparse.ext4", { size = need, tree = t }))
assert(fs:write("/edited", nil, { from = "sparse" }))
local read = bytes_read() - before
assert(read < 64 << 20, "read " .. read .. " bytes of two sparse 4 GiB files")
LUA
"$BANGER" -q sparse.lua 2>sparse.err
expect_eq "$?" 0 "sparse host files are written from their data only ($(cat sparse.err))"
fsck_clean sparse.ext4 "sparse host files"
mount_image sparse.ext4 m
for f in in-tree edited; do
  expect_eq "$(stat -c '%s %b' m/$f)" "4294967296 16" "/$f: 4 GiB with two blocks of data"
  expect_eq "$(python3 - m/$f <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
runs, off = [], 0
while True:
    try:
        s = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    e = os.lseek(fd, s, os.SEEK_HOLE)
    runs.append((s, os.pread(fd, 4, s if s == 0 else 3221225472)))
    off = e
print(runs)
PY
)" "[(0, b'head'), (3221225472, b'tail')]" "/$f: the kernel sees the data where it was and holes between"
done
unmount m

# ---- times past what ext4 holds are clamped, and said so ----
cat > times.lua <<'LUA'
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
assert(t:write("/far", "x", { mtime = 1 << 40 }))
assert(t:write("/before", "x", { mtime = -(1 << 40) }))
local fs <close> = assert(ext4.create("times.ext4", { size = 64 << 20, tree = t }))
for _, w in ipairs(fs:warnings()) do print(w.kind, w.path) end
LUA
"$BANGER" -q times.lua >times.out 2>times.err
expect_eq "$?" 0 "far times build ($(cat times.err))"
expect_eq "$(cat times.out)" "$(printf 'time_clamped\t/before\ntime_clamped\t/far')" "each clamp is a warning"
fsck_clean times.ext4 "clamped times"
mount_image times.ext4 m
expect_eq "$(stat -c %Y m/far) $(stat -c %Y m/before)" "15032385535 -2147483648" "the kernel shows the clamped times"
unmount m

finish
