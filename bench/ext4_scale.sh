#!/bin/bash
# ext4 writer at scale (not a test): a synthetic tree of 1,000,000 files in 10,000 directories
# (sizes 0..3 KiB, built in-process), sized by the model (ext4.min_size) and written at that size
# (ext4.create). Reports the median of RUNS runs of each: min_size time, create time, and peak
# RSS of the whole run next to that of building the tree alone (the difference is the writer's).
#
# usage: bench/ext4_scale.sh [path/to/banger-build]     (RUNS=3, FILES=1000000, DIRS=10000)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
banger=${1:-$here/../build/banger-build}
runs=${RUNS:-3}
files=${FILES:-1000000}
dirs=${DIRS:-10000}
[ -x "$banger" ] || { echo "build banger-build first (make)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/scale.lua" <<LUA
local tree, ext4, runtime = require "banger.tree", require "banger.ext4", require "banger.runtime"
local t <close> = tree.new()
local per, blob = $files // $dirs, string.rep("x", 3072)
local t0 = runtime.clock()
for d = 1, $dirs do
  local dir = string.format("/dir%05d/", d)
  for f = 1, per do assert(t:write(dir .. "file" .. f, blob:sub(1, (d * 7 + f * 13) % 3073))) end
end
local t1 = runtime.clock()
if args.tree_only then return io.write(string.format("%.3f\n", t1 - t0)) end
local need = assert(ext4.min_size(t))
local t2 = runtime.clock()
local fs = assert(ext4.create("$work/scale.ext4", { size = need, tree = t, seed = "bench" }))
assert(fs:close())
local t3 = runtime.clock()
io.write(string.format("%.3f %.3f %.3f %d\n", t1 - t0, t2 - t1, t3 - t2, need >> 20))
LUA

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
: > "$work/runs"
for i in $(seq "$runs"); do
  /usr/bin/time -f %M -o "$work/rss.tree" "$banger" -q "$work/scale.lua" tree_only=1 > /dev/null
  /usr/bin/time -f %M -o "$work/rss.all" "$banger" -q "$work/scale.lua" > "$work/out"
  read -r tree mins create mib < "$work/out"
  echo "$tree $mins $create $mib $(tail -n 1 "$work/rss.tree") $(tail -n 1 "$work/rss.all")" >> "$work/runs"
done
e2fsck -fn "$work/scale.ext4" > /dev/null 2>&1 && clean=clean || clean=NOT-CLEAN
col() { awk -v c="$1" '{print $c}' "$work/runs" | median; }
printf 'tree:             %d files in %d directories (%d runs, medians)\n' "$files" "$dirs" "$runs"
printf 'building the tree: %.2f s\n' "$(col 1)"
printf 'ext4.min_size:    %.2f s -> %d MiB\n' "$(col 2)" "$(col 4)"
printf 'ext4.create:      %.2f s at that size\n' "$(col 3)"
printf 'peak RSS:         %d MiB (the tree alone: %d MiB)\n' "$(( $(col 6) / 1024 ))" "$(( $(col 5) / 1024 ))"
printf 'e2fsck -fn:       %s\n' "$clean"
