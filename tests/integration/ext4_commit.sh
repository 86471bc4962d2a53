#!/bin/bash
# An image reaches its final name only when every edit is done and it is written back and synced:
# a write-back that fails (a full disk, here a full tmpfs) fails the close and the build, and a
# build that fails or is killed during its edits leaves nothing that looks like a result.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
command -v e2fsck >/dev/null || skip "e2fsprogs is not installed (make deps)"

mount_tmpfs full 80m

# ---- close() on an opened image: nil, message; <close>: raises ----
mkfs.ext4 -q -F -b 4096 full/opened.ext4 64M
cat "$BANGER_SOURCE_DIR/tests/lib/measure.lua" - > opened.lua <<'LUA'
local ext4 = require "banger.ext4"
local fs = assert(ext4.open("full/opened.ext4", { write = true }))
fill("full/filler")
assert(fs:write("/x", "one block")) -- cached by libext2fs: written back at close
local ok, msg, code = fs:close()
assert(ok == nil and code == "nospace" and msg:find("No space left on device", 1, true), msg)
print(msg)
assert(fs:close()) -- closed now; a second close is a no-op
LUA
"$BANGER" -q opened.lua >opened.out 2>opened.err
expect_eq "$?" 0 "close() reports the failed write-back ($(cat opened.err))"
expect_contains "$(cat opened.out)" "full/opened.ext4" "the message names the image"
rm -f full/filler

mkfs.ext4 -q -F -b 4096 full/scoped.ext4 64M
cat "$BANGER_SOURCE_DIR/tests/lib/measure.lua" - > scoped.lua <<'LUA'
local ext4 = require "banger.ext4"
do
  local fs <close> = assert(ext4.open("full/scoped.ext4", { write = true }))
  fill("full/filler")
  assert(fs:mkdir("/d"))
end
print("not reached")
LUA
"$BANGER" -q scoped.lua >scoped.out 2>scoped.err
expect_eq "$?" 1 "a failed write-back at the end of a <close> scope raises"
expect_contains "$(cat scoped.err)" "No space left on device" "with the reason"
expect_eq "$(cat scoped.out)" "" "and stops the recipe"
rm -f full/filler full/*.ext4

# ---- banger.run: a failed write-back fails the build and leaves no output ----
demo_layout layout
cat "$BANGER_SOURCE_DIR/tests/lib/measure.lua" - > run.lua <<'LUA'
local banger = require "banger"
return banger.run {
  image = args.image, out = "full/out.ext4",
  edit_image = function(fs)
    fill("full/filler")
    fs:mkdir("/var/lib/after-the-disk-filled", { parents = true }) -- its result unchecked
  end,
}
LUA
"$BANGER" -q --cache-dir "$PWD/cache" run.lua "image=oci:$PWD/layout:demo" >run.out 2>run.err
expect_eq "$?" 1 "the build fails when the image cannot be written back"
expect_contains "$(cat run.err)" "writing full/out.ext4: " "the error says which output"
expect_contains "$(cat run.err)" "No space left on device" "and why"
expect_eq "$(ls -A full | grep -v filler)" "" "no output and no temporary file are left"
rm -f full/filler

# ---- an edit that fails: no output ----
cat > fails.lua <<'LUA'
local banger = require "banger"
return banger.run {
  image = args.image, out = "out.ext4",
  edit_image = function(fs)
    assert(fs:write("/etc/edited", "half\n"))
    error("the recipe's edit failed")
  end,
}
LUA
"$BANGER" -q --cache-dir "$PWD/cache" fails.lua "image=oci:$PWD/layout:demo" 2>fails.err
expect_eq "$?" 1 "a failing edit fails the build"
expect_contains "$(cat fails.err)" "the recipe's edit failed" "with the edit's error"
expect_eq "$(ls -A | grep -c 'out\.ext4')" 0 "no output and no temporary file"

# ---- a build killed during its edits: nothing that looks like a result ----
cat > slow.lua <<'LUA'
local banger = require "banger"
return banger.run {
  image = args.image, out = "slow.ext4",
  edit_image = function(fs)
    assert(fs:write("/etc/edited", "half\n"))
    local f = assert(io.open("editing", "w"))
    f:close()
    while true do end -- killed here
  end,
}
LUA
for sig in TERM KILL; do
  rm -f editing
  "$BANGER" -q --cache-dir "$PWD/cache" slow.lua "image=oci:$PWD/layout:demo" 2>slow.err &
  pid=$!
  for _ in $(seq 300); do [ -e editing ] && break; sleep 0.1; done
  expect_eq "$([ -e editing ] && echo editing)" editing "the build reached its edits ($sig)"
  expect_file_absent slow.ext4 "the output while the edits run ($sig)"
  kill -$sig $pid
  wait $pid 2>/dev/null
  expect_file_absent slow.ext4 "the output after SIG$sig during the edits"
done
expect_eq "$(ls -A | grep -c '^\.slow\.ext4\.tmp-')" 1 "only SIGKILL leaves a temporary file, under a hidden name"

# ---- and when every edit succeeds, the output is complete; what was changed to keep the image
# valid (by the writer and by the edits) is in the loss report, and its file has every entry,
# one {kind, path, layer, detail} a line ----
cat > ok.lua <<'LUA'
local banger = require "banger"
return banger.run {
  image = args.image, out = "ok.ext4", report = "ok.losses",
  edit_tree = function(tree) assert(tree:write("/lost+found", "a file")) end,
  edit_image = function(fs)
    assert(fs:write("/etc/edited", "whole\n"))
    assert(fs:write("/etc/far", "x", { mtime = 1 << 40 }))
  end,
}
LUA
"$BANGER" --json --cache-dir "$PWD/cache" ok.lua "image=oci:$PWD/layout:demo" >ok.json 2>ok.err
expect_eq "$?" 0 "a build with edits succeeds ($(cat ok.err))"
expect_eq "$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    w = json.loads(line)
    if w["kind"] != "mountpoint_created":
        print(w["kind"], w["path"], w["layer"], w["detail"])
r = json.load(open(sys.argv[2]))["losses"]
print(r["kinds"]["time_clamped"]["examples"], r["summary"])' ok.losses ok.json)" "lost+found_replaced /lost+found 0 the tree has a non-directory there; the image needs a directory, so it takes its place
time_clamped /etc/far 0 mtime 1099511627776 stored as 15032385535, atime 1099511627776 stored as 15032385535, ctime 1099511627776 stored as 15032385535 (ext4 holds 1901..2446)
['/etc/far'] clamped 1 inode's times to ext4's range; replaced /lost+found; created 5 mount points; kept everything else" "the loss report lists the writer's and the edits' changes"
expect_contains "$(cat ok.err)" "/lost+found: the tree has a non-directory there" "and they are printed as warnings"
fsck_clean ok.ext4 "the committed image"
mount_image ok.ext4 m
expect_eq "$(cat m/etc/edited) $(stat -c %F m/lost+found) $(stat -c %Y m/etc/far)" "whole directory 15032385535" "the kernel reads the edits, a directory at /lost+found, the clamped time"
unmount m

finish
