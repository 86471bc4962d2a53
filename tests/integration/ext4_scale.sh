#!/bin/bash
# Sizing at scale: trees of 1, 2 and 5 million inodes (built in-process) get a size from the model
# that builds, one MiB less is refused as too small, content-aware sizing never fails with a
# library error, and e2fsck and the kernel agree with what was asked. (Not in the sanitizer run:
# minutes there.)
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
command -v e2fsck >/dev/null || skip "e2fsprogs is not installed (make deps)"

cat > scale.lua <<'LUA'
local banger, tree, ext4 = require "banger", require "banger.tree", require "banger.ext4"
local runtime = require "banger.runtime"
local t <close> = tree.new()
local made = 0
-- millions of inodes: empty files, 999 to a directory, and every 100th a directory of its own
local function grow(to)
  while made < to do
    local d = made // 1000
    local dir = "/d" .. d
    if made % 1000 == 0 then assert(t:mkdir(dir)); made = made + 1 end
    for f = made % 1000, 999 do
      if made >= to then break end
      if f % 100 == 0 then assert(t:mkdir(dir .. "/s" .. f)) else assert(t:write(dir .. "/" .. f, "")) end
      made = made + 1
    end
  end
end
for _, millions in ipairs { 1, 2, 5 } do
  grow(millions * 1000000 - 1) -- with the root, millions of inodes
  local t0 = runtime.clock()
  local bytes, inodes = banger.size(t) -- content-aware, as the default recipe sizes
  assert(bytes > 64 << 20 and inodes > millions * 1000000, bytes)
  local need = assert(ext4.min_size(t))
  local t1 = runtime.clock()
  local small, msg = ext4.create("small.ext4", { size = need - (1 << 20), tree = t })
  assert(small == nil and msg == string.format("image too small: needs at least %d MiB",
    need >> 20), msg)
  local out = millions .. "m.ext4"
  local fs = assert(ext4.create(out, { size = need, tree = t, journal = false, seed = "s" }))
  assert(fs:close())
  print(out, need >> 20, string.format("%.1f", t1 - t0), string.format("%.1f", runtime.clock() - t1))
end
LUA
"$BANGER" -q scale.lua >scale.out 2>scale.err
expect_eq "$?" 0 "1, 2 and 5 million inodes are sized, refused one MiB smaller and built ($(cat scale.err))"
cat scale.out >&2
expect_file_absent small.ext4 "an image refused as too small"
for m in 1 2 5; do
  img=${m}m.ext4
  fsck_clean "$img" "$m million inodes at the model's size"
  mount_image "$img" mnt
  expect_eq "$(( $(stat -f -c '%c - %d' mnt) ))" "$((m * 1000000 + 10))" "the kernel counts $m million inodes in use (and 10 reserved)"
  expect_eq "$(ls mnt/d0 | wc -l) $(stat -c %F mnt/d0/s100) $(ls mnt | grep -c '^d')" "999 directory $((m * 1000))" "the kernel lists the tree ($m million)"
  unmount mnt
  rm -f "$img"
done

finish
