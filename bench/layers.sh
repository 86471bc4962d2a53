#!/bin/bash
# The two-layer figure of bench/floor.sh alone, quickly (not a test): the flatten of debian-sshd
# (the bookworm layer and the openssh-server layer over it) against the flatten of its larger
# layer alone, medians of RUNS interleaved runs of each, and the ratio (target <= 1.2). With
# LAYERS=dir, the second figure flattens the gzip layers of the OCI image in dir instead.
#
# usage: bench/layers.sh [path/to/banger-build]      (RUNS=7)
# The images are those bench/floor.sh leaves in bench/.cache (run it once first).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
banger=${1:-$src/build/banger-build}
runs=${RUNS:-7}
cache=$here/.cache
two=${LAYERS:-$cache/oci-sshd-upper}
[ -x "$banger" ] || { echo "build banger-build first (make)" >&2; exit 1; }
for d in "$cache/oci-bookworm" "$two"; do
  [ -f "$d/index.json" ] || { echo "no image in $d: run bench/floor.sh once first" >&2; exit 1; }
done
. "$here/lib.sh"
mapfile -t one_layers < <(bench_blobs "$cache/oci-bookworm")
mapfile -t two_layers < <(bench_blobs "$two")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bench_flatten_lua "$work/flat1.lua" "${one_layers[0]}"
bench_flatten_lua "$work/flat2.lua" "${two_layers[@]}"

f1=() f2=()
for _ in $(seq "$runs"); do
  f1+=("$("$banger" -q "$work/flat1.lua")")
  f2+=("$("$banger" -q "$work/flat2.lua")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
m1=$(median "${f1[@]}") m2=$(median "${f2[@]}")
printf 'layers (gzip MB): %s\n' "$(echo $(for l in "${two_layers[@]}"; do
  printf '%.1f ' "$(echo "$(stat -c %s "$l") / 1000000" | bc -l)"; done))"
printf 'flatten of the larger layer alone: %s s (runs: %s)\n' "$m1" "${f1[*]}"
printf 'flatten of the two layers:         %s s (runs: %s)\n' "$m2" "${f2[*]}"
printf 'ratio %.2f (target <= 1.2); load average %s\n' "$(echo "$m2 / $m1" | bc -l)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
