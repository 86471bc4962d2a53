#!/bin/bash
# Flatten benchmark (not a test): a Debian bookworm minbase root filesystem packed as one gzip
# layer (~170 MB uncompressed), flattened by banger.tree.from_layers, against `gzip -dc` of the
# same layer. Reports the time ratio (target <= 1.3) and the flatten's peak RSS (target < 64 MiB).
#
# usage: bench/flatten.sh [path/to/banger-build]
# The rootfs is made once with mmdebstrap (reaches Debian's mirror; a few minutes) and cached in
# bench/.cache, which ignores itself.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
banger=${1:-$here/../build/banger-build}
. "$here/lib.sh"
bench_minbase "$here"
layer=$LAYER
[ -x "$banger" ] || { echo "build banger-build first (make)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/flatten.lua" <<LUA
local tree = require "banger.tree"
local t = assert(tree.from_layers({
  { path = "$layer", media_type = "application/vnd.oci.image.layer.v1.tar+gzip" },
}, { image = "bench" }))
local s = t:stats(4096)
io.write(string.format("entries %d, inodes %d, bytes %d\n", s.entries, s.inodes, s.bytes))
t:close()
LUA

# warm the page cache so both runs read the blob from memory
cat "$layer" > /dev/null
now() { date +%s.%N; }

t0=$(now)
gzip -dc "$layer" > /dev/null
t1=$(now)
/usr/bin/time -f '%M' -o "$work/rss" "$banger" -q "$work/flatten.lua"
t2=$(now)

gz=$(echo "$t1 - $t0" | bc -l)
fl=$(echo "$t2 - $t1" | bc -l)
rss_kib=$(tail -n 1 "$work/rss")
printf 'layer: %s (%d bytes, %d uncompressed)\n' "$layer" "$(stat -c %s "$layer")" \
  "$(gzip -dc "$layer" | wc -c)"
printf 'gzip -dc:  %.3f s\n' "$gz"
printf 'flatten:   %.3f s\n' "$fl"
printf 'ratio:     %.2f (target <= 1.3)\n' "$(echo "$fl / $gz" | bc -l)"
printf 'peak RSS:  %.1f MiB (target < 64)\n' "$(echo "$rss_kib / 1024" | bc -l)"
