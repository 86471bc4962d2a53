#!/bin/bash
# A recipe builds and edits an image through banger.ext4; e2fsck and debugfs judge the result.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
command -v e2fsck >/dev/null && command -v debugfs >/dev/null || skip "e2fsprogs is not installed"

cat > build.lua <<'LUA'
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
t:write("/usr/bin/sudo", "ELF", { mode = 3565, uid = 0, gid = 0, mtime = 1234567890,
  mtime_nsec = 987654321 })
t:write("/home/u/.profile", "x", { uid = 123456, gid = 654321 })
t:symlink("/bin", "usr/bin")
local img <close> = assert(ext4.create(args.out, { size = 64 * 1024 * 1024, tree = t,
  seed = args.seed }))
assert(img:write("/usr/local/bin/banger-vsock-agent", "\127ELF", { mode = 493, parents = true }))
assert(img:symlink("/etc/systemd/system/multi-user.target.wants/banger-network.service",
  "/etc/systemd/system/banger-network.service", { parents = true }))
assert(img:mkdir("/tmp", { mode = 1023 }))
LUA

SOURCE_DATE_EPOCH=1700000000 "$BANGER" build.lua out=a.ext4 seed=one 2>err; rc=$?
expect_eq "$rc" 0 "recipe exit status ($(cat err))"
e2fsck -fn a.ext4 >fsck.out 2>&1; rc=$?
expect_eq "$rc" 0 "e2fsck -fn ($(cat fsck.out))"
st=$(debugfs -R 'stat /usr/bin/sudo' a.ext4 2>/dev/null)
expect_contains "$st" "Mode:  06755" "setuid and setgid kept"
expect_contains "$st" "mtime: 0x499602d2:eb79a2c4" "mtime with nanoseconds"
st=$(debugfs -R 'stat /home/u/.profile' a.ext4 2>/dev/null)
expect_contains "$st" "User: 123456   Group: 654321" "ids above 65535"
st=$(debugfs -R 'stat /usr/local/bin/banger-vsock-agent' a.ext4 2>/dev/null)
expect_contains "$st" "Mode:  0755" "injected binary mode"
expect_contains "$st" "mtime: 0x6553f100:00000000" "injected file time from SOURCE_DATE_EPOCH"
st=$(debugfs -R 'stat /tmp' a.ext4 2>/dev/null)
expect_contains "$st" "Mode:  01777" "sticky /tmp"
st=$(debugfs -R 'stat /etc/systemd/system/multi-user.target.wants/banger-network.service' a.ext4 2>/dev/null)
expect_contains "$st" 'Fast link dest: "/etc/systemd/system/banger-network.service"' "unit symlink"

sleep 1
SOURCE_DATE_EPOCH=1700000000 "$BANGER" build.lua out=b.ext4 seed=one 2>err
cmp -s a.ext4 b.ext4; expect_eq "$?" 0 "same recipe, seed and SOURCE_DATE_EPOCH: same bytes"
SOURCE_DATE_EPOCH=1700000000 "$BANGER" build.lua out=c.ext4 seed=two 2>err
ua=$(dumpe2fs -h a.ext4 2>/dev/null | grep UUID); uc=$(dumpe2fs -h c.ext4 2>/dev/null | grep UUID)
[ "$ua" != "$uc" ]; expect_eq "$?" 0 "another seed, another UUID"

(umask 027; SOURCE_DATE_EPOCH=1700000000 "$BANGER" build.lua out=masked.ext4 seed=one 2>err)
expect_eq "$(stat -c %a masked.ext4)" "640" "the image's mode follows the umask"

printf 'local t = require("banger.tree").new()\nfor i = 1, 80 do t:write("/f" .. i, string.rep("x", 1048576)) end\nassert(require("banger.ext4").create("small.ext4", { size = 64 * 1048576, tree = t }))\n' > small.lua
"$BANGER" small.lua 2>err; rc=$?
expect_eq "$rc" 1 "a tree that does not fit fails"
expect_contains "$(cat err)" "image too small: needs at least 86 MiB" "too small message"
expect_eq "$(ls -A | grep -c small.ext4)" 0 "no image and no temporary file left"

finish
