#!/bin/bash
# Sizes past 16 TiB: a 64 TiB sparse image (on a tmpfs of its own, which holds files of any size)
# is a 64 TiB filesystem to e2fsck and the kernel, built in memory that grows with the tree, not
# with the image; above the documented maximum (128 TiB) the writer refuses clearly.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
command -v e2fsck >/dev/null || skip "e2fsprogs is not installed (make deps)"
command -v /usr/bin/time >/dev/null || skip "GNU time is not installed (make deps)"

mount_tmpfs big 3g
cat > huge.lua <<'LUA'
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
assert(t:write("/etc/hostname", "huge\n"))
assert(t:mkdir("/srv/data", { mode = 488 }))
local fs <close> = assert(ext4.create(args.out, { size = (args.tib + 0) << 40, tree = t,
  seed = "huge" }))
assert(fs:mkdir("/srv/data/edited"))
LUA
/usr/bin/time -f %M -o huge.rss "$BANGER" -q huge.lua out=big/huge.ext4 tib=64 2>huge.err
expect_eq "$?" 0 "a 64 TiB image builds ($(cat huge.err))"
rss=$(tail -n 1 huge.rss)
expect_eq "$([ "$rss" -lt 262144 ] && echo under)" under "peak RSS of the 64 TiB build under 256 MiB ($rss KiB)"
expect_eq "$(stat -c %s big/huge.ext4)" 70368744177664 "the file is 64 TiB"
expect_contains "$(dumpe2fs -h big/huge.ext4 2>/dev/null | grep '^Block count:')" "17179869184" "the filesystem has 2^34 blocks"
fsck_clean big/huge.ext4 "64 TiB"
mount_image big/huge.ext4 m
expect_eq "$(df -B1T --output=size m | tail -n 1 | tr -d ' ')" 64 "the kernel mounts 64 TiB"
expect_eq "$(cat m/etc/hostname) $(stat -c %F m/srv/data/edited)" "huge directory" "and reads the tree and the edit"
unmount m
rm -f big/huge.ext4

cat > over.lua <<'LUA'
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
local fs, msg = ext4.create("big/over.ext4", { size = (128 << 40) + (1 << 20), tree = t })
assert(fs == nil and msg == "image size 140737489403904 is above the maximum of 128 TiB", msg)
LUA
"$BANGER" -q over.lua 2>over.err
expect_eq "$?" 0 "above 128 TiB the writer refuses ($(cat over.err))"
expect_eq "$(ls -A big)" "" "and leaves nothing"

finish
