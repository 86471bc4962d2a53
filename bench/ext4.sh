#!/bin/bash
# ext4 benchmark (not a test): banger's ext4 writer against the pipeline it replaces, mkfs.ext4 -d
# on the extracted files plus a debugfs pass of set_inode_field commands restoring every owner.
# Input: the Debian bookworm minbase layer of bench/flatten.sh (made once with mmdebstrap and
# cached in bench/.cache). Prints the times, the ratio (target >= 3x) and peak RSS, measured in
# one run.
#
# usage: bench/ext4.sh [path/to/banger-build]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
banger=${1:-$here/../build/banger-build}
size=${SIZE_MIB:-1024}
. "$here/lib.sh"
bench_minbase "$here"
layer=$LAYER
tarball=$TARBALL
[ -x "$banger" ] || { echo "build banger-build first (make)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# banger: the tree from the layer, then the ext4 image; the recipe times the ext4 write alone
cat > "$work/ext4.lua" <<LUA
local tree = require "banger.tree"
local ext4 = require "banger.ext4"
local runtime = require "banger.runtime"
local t = assert(tree.from_layers({
  { path = "$layer", media_type = "application/vnd.oci.image.layer.v1.tar+gzip" },
}, { image = "bench" }))
local t0 = runtime.clock()
local fs = assert(ext4.create("$work/new.ext4", { size = $size * 1048576, tree = t, seed = "bench" }))
assert(fs:close())
io.write(string.format("%.3f %d\n", runtime.clock() - t0, t:stats().entries))
t:close()
LUA

# the old pipeline: extract, mkfs.ext4 -d, then a debugfs pass for the owners
mkdir "$work/root"
tar -C "$work/root" --numeric-owner -xpf "$tarball"
(cd "$work/root" && find . -mindepth 1 -printf 'set_inode_field /%P uid %U\nset_inode_field /%P gid %G\n') \
  > "$work/owners.cmds"
sync
now() { date +%s.%N; }
t0=$(now)
/usr/bin/time -f '%M' -o "$work/mkfs.rss" mkfs.ext4 -q -F -t ext4 -d "$work/root" "$work/old.ext4" "${size}M"
t1=$(now)
/usr/bin/time -f '%M' -o "$work/debugfs.rss" debugfs -w -f "$work/owners.cmds" "$work/old.ext4" >/dev/null 2>&1
t2=$(now)
/usr/bin/time -f '%M' -o "$work/banger.rss" "$banger" -q "$work/ext4.lua" > "$work/banger.out"
t3=$(now)

e2fsck -fn "$work/new.ext4" >/dev/null 2>&1 && clean=clean || clean=NOT-CLEAN
read -r write entries < "$work/banger.out"
old=$(echo "$t2 - $t0" | bc -l)
printf 'entries:                      %d\n' "$entries"
printf 'mkfs.ext4 -d:                 %.2f s (peak RSS %d KiB)\n' "$(echo "$t1 - $t0" | bc -l)" "$(tail -n 1 "$work/mkfs.rss")"
printf 'debugfs owner pass:           %.2f s (peak RSS %d KiB)\n' "$(echo "$t2 - $t1" | bc -l)" "$(tail -n 1 "$work/debugfs.rss")"
printf 'banger ext4 write:            %.2f s\n' "$write"
printf 'banger flatten + ext4 write:  %.2f s (peak RSS %d KiB)\n' "$(echo "$t3 - $t2" | bc -l)" "$(tail -n 1 "$work/banger.rss")"
printf 'ratio (mkfs -d + debugfs) / banger ext4 write:    %.1fx (target >= 3)\n' "$(echo "$old / $write" | bc -l)"
printf 'ratio (mkfs -d + debugfs) / banger flatten+write: %.1fx\n' "$(echo "$old / ($t3 - $t2)" | bc -l)"
printf 'banger image e2fsck -fn:      %s\n' "$clean"
