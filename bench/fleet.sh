#!/bin/bash
# Build once per fleet (not a test). A Debian bookworm minbase root filesystem (bench/lib.sh,
# one gzip layer of ~170 MB) in a loopback docker-registry, built with recipes/default.lua:
#   warm build   the layers in the cache, cache=off: pull (from the cache), flatten, build
#   restore      the same key again: the image restored from its artifact in the cache
#   disk floor   dd writing as many MiB as the image has allocated and syncing them: what
#                both must spend on this disk at least
# interleaved, medians of RUNS each, and their ratio (the target: restore at least 3x faster),
# with the ratio of their processor times and the load average beside it (a busy machine takes
# the restore's second thread away first);
# then, once each: a miss (build and store the artifact), a push of the artifact to another
# repository, and recipes/fetch.lua on an empty cache (fetch and restore).
#   bench/fleet.sh [BUILD_DIR] [RUNS]   (default ./build, 5)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
runs=${2:-5}
[ -x "$build/banger-build" ] || make -C "$src" >/dev/null
. "$src/bench/lib.sh"
bench_minbase "$src/bench"
export BANGER_SOURCE_DIR=$src BANGER=$build/banger-build SOURCE_DATE_EPOCH=1700000000
work=$(mktemp -d)
cd "$work"
. "$src/tests/lib.sh"
. "$src/tests/lib/registry.sh"
trap 'set +e; bg_cleanup; rm -rf "$work"' EXIT
registry_start
python3 "$src/tests/tools/mkimage.py" img --tag bookworm --layer "$TARBALL" >/dev/null
registry_push img bookworm bench/bookworm:1
image=$REGISTRY/bench/bookworm:1
recipe=$src/recipes/default.lua

now() { date +%s.%N; }
since() { python3 -c "import sys; print('%.3f' % ($(now) - $1))"; }
run() { "$BANGER" -q --cache-dir cache "$recipe" "image=$image" out=out.ext4 "$@" >/dev/null; }

# the layers into the cache, and the artifact of the key
t0=$(now); run cache=off; first=$(since "$t0")
t0=$(now); run; miss=$(since "$t0")
timed() { # one run: its wall and processor (user + system) seconds in $wall and $cpu
  /usr/bin/time -f '%e %U %S' -o times "$BANGER" -q --cache-dir cache "$recipe" "image=$image" \
    out=out.ext4 "$@" >/dev/null
  read -r wall u sy <times
  cpu=$(python3 -c "print('%.2f' % ($u + $sy))")
}
builds=() restores=() bcpu=() rcpu=()
load0=$(cut -d' ' -f1 /proc/loadavg)
for i in $(seq "$runs"); do
  rm -f out.ext4; sync
  timed cache=off; builds+=("$wall"); bcpu+=("$cpu")
  rm -f out.ext4; sync
  timed; restores+=("$wall"); rcpu+=("$cpu")
done
load1=$(cut -d' ' -f1 /proc/loadavg)
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
b=$(median "${builds[@]}")
r=$(median "${restores[@]}")
bc=$(median "${bcpu[@]}")
rp=$(median "${rcpu[@]}")
key=$("$BANGER" -q --json --cache-dir cache "$recipe" "image=$image" out=out.ext4 |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
t0=$(now)
"$BANGER" -q --cache-dir cache "$src/tests/tools/push.lua" "what=$key" \
  "dest=$REGISTRY/bench/rootfs:1" >/dev/null
push=$(since "$t0")
t0=$(now)
"$BANGER" -q --cache-dir fetch-cache "$src/recipes/fetch.lua" "ref=$REGISTRY/bench/rootfs:1" \
  out=fetched.ext4 >/dev/null
fetch=$(since "$t0")
cmp -s out.ext4 fetched.ext4 || { echo "the fetched image differs" >&2; exit 1; }
layer=$(printf 'print(require("banger.oci").find_rootfs(args.key).layer.size)\n' >size.lua &&
  "$BANGER" -q --cache-dir cache size.lua "key=$key")
# the disk's part of both: writing as many bytes as the image has allocated, and syncing them
alloc_mib=$(( ($(du -k out.ext4 | cut -f1) + 1023) / 1024 ))
t0=$(now)
dd if=/dev/zero of=floor.bin bs=1M count="$alloc_mib" conv=fsync status=none
floor=$(since "$t0")
rm -f floor.bin
printf 'image: %s, %d bytes (%d KiB allocated), artifact layer %d bytes\n' "$image" \
  "$(stat -c %s out.ext4)" "$(du -k out.ext4 | cut -f1)" "$layer"
printf 'disk floor: %d MiB written and synced (dd conv=fsync): %s s\n' "$alloc_mib" "$floor"
printf 'cold build (layers pulled):  %s s\n' "$first"
printf 'miss (build + artifact):     %s s\n' "$miss"
printf 'warm build, cache=off:       %s s (runs: %s)\n' "$b" "${builds[*]}"
printf 'restore from the artifact:   %s s (runs: %s)\n' "$r" "${restores[*]}"
printf 'ratio warm build / restore:  %.2f (processor time: %s s / %s s = %.2f)\n' \
  "$(python3 -c "print($b / $r)")" "$bc" "$rp" "$(python3 -c "print($bc / $rp)")"
printf 'load average (1 min) before and after the runs: %s, %s\n' "$load0" "$load1"
printf 'push to a new repository:    %s s\n' "$push"
printf 'fetch.lua on an empty cache: %s s\n' "$fetch"
