#!/bin/bash
# Cold pull of a 2-layer, ~60 MB (compressed) image from a loopback registry: banger.oci
# against `skopeo copy docker://... oci:DIR`, in the same run. Prints times and the ratio
# (banger / skopeo; <= 1.0 is the target). Not part of `make test`.
#   bench/pull.sh [BUILD_DIR]    (default ./build; runs `make` first if the binary is missing)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
[ -x "$build/banger-build" ] || make -C "$src" >/dev/null
export BANGER_SOURCE_DIR=$src BANGER=$build/banger-build
work=$(mktemp -d)
cd "$work"
. "$src/tests/lib.sh"
. "$src/tests/lib/registry.sh"
trap 'bg_cleanup; rm -rf "$work"' EXIT
registry_start
python3 "$src/tests/tools/mkimage.py" img --tag big --random-layer 31457280 \
  --random-layer 31457280 >/dev/null
registry_push img big bench/big:1
size=$(du -sb img/blobs | cut -f1)
printf 'local oci = require "banger.oci"\nassert(oci.pull(args.ref, { cache_dir = args.cache, progress = "none", pull = "always" }))\n' > pull.lua

now() { date +%s.%N; }
runs=3
banger_times=() skopeo_times=()
for i in $(seq $runs); do
  rm -rf cache oci-out
  t0=$(now)
  "$BANGER" pull.lua ref="$REGISTRY/bench/big:1" cache="$work/cache"
  t1=$(now)
  skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/bench/big:1" oci:oci-out:big >/dev/null
  t2=$(now)
  banger_times+=("$(python3 -c "print('%.3f' % ($t1 - $t0))")")
  skopeo_times+=("$(python3 -c "print('%.3f' % ($t2 - $t1))")")
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
b=$(median "${banger_times[@]}")
s=$(median "${skopeo_times[@]}")
printf 'image: 2 layers, %d bytes of blobs\n' "$size"
printf 'banger.oci cold pull: %.3f s (runs: %s)\n' "$b" "${banger_times[*]}"
printf 'skopeo copy:          %.3f s (runs: %s)\n' "$s" "${skopeo_times[*]}"
printf 'ratio banger/skopeo:  %.2f\n' "$(python3 -c "print($b / $s)")"
