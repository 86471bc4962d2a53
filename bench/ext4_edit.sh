#!/bin/bash
# ext4 editor in a big directory (not a test): 15,000 creates and 6,700 removes in a directory of
# 35,000 entries, by banger.ext4 against debugfs doing the same (`write` and `rm` commands), side
# by side and interleaved; the median of RUNS runs of each. Target: under 2 s for banger.
# BASELINE=path/to/another/banger-build adds that build's time (an older one, say).
#
# usage: bench/ext4_edit.sh [path/to/banger-build]     (RUNS=3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
banger=${1:-$here/../build/banger-build}
runs=${RUNS:-3}
[ -x "$banger" ] || { echo "build banger-build first (make)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/make.lua" <<LUA
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
for i = 1, 35000 do assert(t:write(string.format("/big/entry-%06d", i), "")) end
local fs = assert(ext4.create("$work/base.ext4", { size = 512 << 20, tree = t, inodes = 100000,
  seed = "edit" }))
assert(fs:close())
LUA
cat > "$work/edit.lua" <<LUA
local ext4, runtime = require "banger.ext4", require "banger.runtime"
local fs = assert(ext4.open(args.img, { write = true }))
local t0 = runtime.clock()
for i = 1, 15000 do assert(fs:write(string.format("/big/new-%06d", i), "x")) end
for i = 1, 6700 do assert(fs:remove(string.format("/big/entry-%06d", i * 5))) end
assert(fs:close())
io.write(string.format("%.3f\n", runtime.clock() - t0))
LUA
"$banger" -q "$work/make.lua"
printf x > "$work/x"
{
  for i in $(seq 1 15000); do printf 'write %s /big/new-%06d\n' "$work/x" "$i"; done
  for i in $(seq 1 6700); do printf 'rm /big/entry-%06d\n' $((i * 5)); done
} > "$work/debugfs.cmds"

now() { date +%s.%N; }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
: > "$work/banger.t"; : > "$work/debugfs.t"; : > "$work/baseline.t"
for i in $(seq "$runs"); do
  cp --sparse=always "$work/base.ext4" "$work/a.ext4"
  "$banger" -q "$work/edit.lua" img="$work/a.ext4" >> "$work/banger.t"
  cp --sparse=always "$work/base.ext4" "$work/b.ext4"
  t0=$(now)
  debugfs -w -f "$work/debugfs.cmds" "$work/b.ext4" > /dev/null 2>&1
  echo "$(now) - $t0" | bc -l >> "$work/debugfs.t"
  if [ -n "${BASELINE:-}" ]; then
    cp --sparse=always "$work/base.ext4" "$work/c.ext4"
    "$BASELINE" -q "$work/edit.lua" img="$work/c.ext4" >> "$work/baseline.t"
  fi
done
e2fsck -fn "$work/a.ext4" > /dev/null 2>&1 && clean=clean || clean=NOT-CLEAN
b=$(median < "$work/banger.t")
d=$(median < "$work/debugfs.t")
printf 'workload:  15,000 creates + 6,700 removes in a 35,000-entry directory (%d runs, medians)\n' "$runs"
printf 'banger:    %.2f s (target < 2)\n' "$b"
printf 'debugfs:   %.2f s\n' "$d"
printf 'ratio:     %.1fx (debugfs / banger)\n' "$(echo "$d / $b" | bc -l)"
[ -s "$work/baseline.t" ] && printf 'baseline:  %.2f s (%s)\n' "$(median < "$work/baseline.t")" "$BASELINE"
printf 'e2fsck -fn after banger: %s\n' "$clean"
