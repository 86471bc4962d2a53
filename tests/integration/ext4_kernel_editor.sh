#!/bin/bash
# The editor on images made by mkfs.ext4 and by banger, judged by the kernel: each image is
# edited, mounted read-write, read and changed by the kernel, unmounted, and checked with
# e2fsck -fn.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
command -v e2fsck >/dev/null && command -v mkfs.ext4 >/dev/null ||
  skip "e2fsprogs is not installed (make deps)"

edit() { # recipe-file what: runs it, expecting success
  "$BANGER" -q "$1" >"$1.out" 2>"$1.err"
  expect_eq "$?" 0 "$2 ($(cat "$1.err"))"
}

# the kernel adds and removes names in the edited image, then e2fsck judges it
kernel_changes() { # image dir what
  mount_image "$1" "$2" rw
  mkdir "$2/kernel-dir" && echo kernel > "$2/kernel-dir/f" && rm "$2/kernel-dir/f" &&
    rmdir "$2/kernel-dir"
  expect_eq "$?" 0 "the kernel changes $3"
  unmount "$2"
  fsck_clean "$1" "$3 after the kernel's changes"
}

# ---- symlink targets on 1 KiB blocks ----
mkfs.ext4 -q -F -b 1024 k1.ext4 16M
cat > k1.lua <<'LUA'
local ext4 = require "banger.ext4"
local fs <close> = assert(ext4.open("k1.ext4", { write = true }))
assert(fs:symlink("/ok", "/" .. string.rep("t", 1022)))
local ok, msg = fs:symlink("/long", "/" .. string.rep("t", 1023))
assert(not ok and msg == "/long: symlink target of 1024 bytes; this image holds 1 to 1023", msg)
LUA
edit k1.lua "a 1023-byte target fits a 1 KiB block, 1024 bytes are refused"
fsck_clean k1.ext4 "1 KiB-block symlinks"
mount_image k1.ext4 m rw
expect_eq "$(readlink m/ok | wc -c)" 1024 "the kernel reads the whole 1023-byte target"
expect_eq "$(ls m | grep -c long)" 0 "the refused link is not there"
unmount m
kernel_changes k1.ext4 m "the 1 KiB-block image"

# ---- bigalloc: refused, untouched ----
mkfs.ext4 -q -F -b 4096 -O bigalloc -C 16384 big.ext4 64M
cp big.ext4 big.before
cat > big.lua <<'LUA'
local ext4 = require "banger.ext4"
local fs, msg = ext4.open("big.ext4", { write = true })
assert(fs == nil and msg == "cannot open big.ext4 for writing: it uses bigalloc (clusters of 4 " ..
  "blocks), which this editor does not write", msg)
local ro <close> = assert(ext4.open("big.ext4"))
assert(ro:stat("/lost+found").type == "dir")
LUA
edit big.lua "a bigalloc image is refused for writing, read fine"
cmp -s big.ext4 big.before
expect_eq "$?" 0 "the bigalloc image is unchanged"
fsck_clean big.ext4 "the refused bigalloc image"
mount_image big.ext4 m
expect_eq "$(ls m)" "lost+found" "the kernel sees the image as it was"
unmount m

# ---- ext3 and ext4 without extents: block-mapped files ----
head -c $((5 << 20)) /dev/urandom > five
for kind in ext3 noextent; do
  if [ $kind = ext3 ]; then mkfs.ext3 -q -F $kind.ext4 64M; else mkfs.ext4 -q -F -O ^extent,^64bit $kind.ext4 64M; fi
  cat > bm.lua <<LUA
local ext4 = require "banger.ext4"
local fs <close> = assert(ext4.open("$kind.ext4", { write = true }))
assert(fs:write("/usr/bin/five", nil, { from = "five", parents = true, mode = 493 }))
assert(fs:write("/small", "small\n"))
assert(fs:symlink("/slow", "/" .. string.rep("s", 300)))
assert(fs:mkdir("/var/lib/banger", { parents = true }))
assert(fs:write("/small", "replaced\n"))
LUA
  edit bm.lua "edits of the $kind image"
  fsck_clean $kind.ext4 "the $kind image's block-mapped files"
  mount_image $kind.ext4 m rw
  cmp -s m/usr/bin/five five
  expect_eq "$?" 0 "$kind: the kernel reads the 5 MiB file"
  expect_eq "$(cat m/small) $(readlink m/slow | wc -c) $(stat -c %F m/var/lib/banger)" "replaced 302 directory" "$kind: small file, slow symlink, directory"
  cat five >> m/usr/bin/five
  unmount m
  fsck_clean $kind.ext4 "$kind after the kernel grew the file"
  kernel_changes $kind.ext4 m "the $kind image"
done

# ---- a write that runs out of space leaves everything as it was ----
cat > full.lua <<'LUA'
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
assert(t:write("/victim", "old content\n"))
assert(t:write("/filler", string.rep("f", 30 << 20)))
local fs <close> = assert(ext4.create("full.ext4", { size = 64 << 20, tree = t, journal = false }))
local ok, msg, code = fs:write("/victim", string.rep("n", 40 << 20))
assert(not ok and code == "nospace", msg)
assert(fs:read("/victim") == "old content\n")
ok, msg, code = fs:write("/new/deeper/victim", string.rep("n", 40 << 20), { parents = true })
assert(not ok and code == "nospace", msg)
assert(not fs:exists("/new"), "the directories made on the way are gone")
LUA
edit full.lua "a write too big for the image fails cleanly"
fsck_clean full.ext4 "after the failed write"
mount_image full.ext4 m rw
expect_eq "$(cat m/victim) $(ls m | tr '\n' ' ')" "old content filler lost+found victim " "the kernel reads the old content, and nothing new"
unmount m
kernel_changes full.ext4 m "the image after a failed write"

# ---- a directory with the most subdirectories ext4 counts keeps "many" ----
cat > nlink.lua <<'LUA'
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
for i = 1, 64998 do assert(t:mkdir("/big/" .. i)) end
local fs <close> = assert(ext4.create("nlink.ext4", { size = 512 << 20, tree = t, journal = false }))
assert(fs:stat("/big").links == 65000)
assert(fs:mkdir("/big/one-more"))
assert(fs:stat("/big").links == 1, fs:stat("/big").links)
assert(fs:mkdir("/big/two-more"))
assert(fs:stat("/big").links == 1)
LUA
edit nlink.lua "mkdir past 65,000 links"
fsck_clean nlink.ext4 "a directory with 65,000 subdirectories and two more"
mount_image nlink.ext4 m rw
expect_eq "$(stat -c %h m/big)" 1 "the kernel sees the count of many"
expect_eq "$(find m/big -mindepth 1 -maxdepth 1 -type d | wc -l)" 65000 "every subdirectory is there"
mkdir m/big/kernel && rmdir m/big/kernel
unmount m
fsck_clean nlink.ext4 "after the kernel's mkdir and rmdir there"

# ---- times: clamped on 128-byte inodes, stored as given everywhere ----
mkfs.ext4 -q -F -I 128 small-inodes.ext4 64M 2>/dev/null
cat > times.lua <<'LUA'
local ext4 = require "banger.ext4"
local fs <close> = assert(ext4.open("small-inodes.ext4", { write = true }))
assert(fs:write("/f2100", "x", { mtime = 4102444800 }))
assert(fs:mkdir("/d2100", { mtime = 4102444800 }))
local w = fs:warnings()
assert(#w == 2 and w[1].kind == "time_clamped" and w[1].path == "/f2100", #w)
LUA
edit times.lua "times past 2038 on 128-byte inodes"
fsck_clean small-inodes.ext4 "128-byte inodes"
mount_image small-inodes.ext4 m rw
expect_eq "$(stat -c %Y m/f2100) $(stat -c %Y m/d2100)" "2147483647 2147483647" "the kernel shows the clamped time, not 1963"
unmount m
kernel_changes small-inodes.ext4 m "the 128-byte-inode image"
mkfs.ext4 -q -F given.ext4 64M
cat > given.lua <<'LUA'
local ext4 = require "banger.ext4"
local fs <close> = assert(ext4.open("given.ext4", { write = true }))
for i, t in ipairs { 0, 1 << 32, 1 << 33 } do
  assert(fs:write("/f" .. i, "x", { mtime = t }))
  assert(fs:symlink("/l" .. i, "f" .. i, { mtime = t }))
end
LUA
SOURCE_DATE_EPOCH=1700000000 edit given.lua "writes with times whose low 32 bits are zero"
fsck_clean given.ext4 "given times"
mount_image given.ext4 m rw
expect_eq "$(stat -c %Y m/f1 m/f2 m/f3 m/l1 m/l2 m/l3 | tr '\n' ' ')" "0 4294967296 8589934592 0 4294967296 8589934592 " "the kernel shows the times as given"
unmount m

# ---- a big directory: edits go through its index ----
cat "$BANGER_SOURCE_DIR/tests/lib/measure.lua" - > bigdir.lua <<'LUA'
local tree, ext4, runtime = require "banger.tree", require "banger.ext4", require "banger.runtime"
local t <close> = tree.new()
for i = 1, 35000 do assert(t:write(string.format("/big/entry-%06d", i), "")) end
local fs <close> = assert(ext4.create("bigdir.ext4", { size = 512 << 20, tree = t,
  inodes = 100000 }))
local r0, t0 = bytes_read(), runtime.clock()
for i = 1, 15000 do assert(fs:write(string.format("/big/new-%06d", i), "x")) end
for i = 1, 6700 do assert(fs:remove(string.format("/big/entry-%06d", i * 5))) end
for i = 1, 3000 do assert(fs:write(string.format("/grown/name-%05d", i), "g", { parents = true })) end
local read, took = bytes_read() - r0, runtime.clock() - t0
-- a scan of the whole directory per lookup reads gigabytes here
assert(read < 256 << 20, string.format("%d bytes read for the edits", read))
assert(took < 20, string.format("%.1f s for the edits", took))
print(string.format("%.2f", took))
LUA
edit bigdir.lua "15,000 creates and 6,700 removes in a 35,000-entry directory"
fsck_clean bigdir.ext4 "the edited big directory"
mount_image bigdir.ext4 m rw
expect_eq "$(ls m/big | wc -l) $(ls m/grown | wc -l)" "43300 3000" "the kernel lists every name"
expect_eq "$(cat m/big/new-014999 m/grown/name-02999) $(ls m/big/entry-000005 2>&1 | grep -c 'No such')" "xg 1" "new names read, removed names are gone"
expect_eq "$(lsattr -d m/grown | awk '{print $1}' | grep -c I)" 1 "the grown directory got an index"
unmount m
kernel_changes bigdir.ext4 m "the big directory's image"

finish
