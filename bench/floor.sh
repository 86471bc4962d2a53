#!/bin/bash
# Every performance figure in one run (not a test): medians of RUNS interleaved runs of each
# measurement, side by side with its baseline, then the ratios against the targets.
#
#   warm build   the default recipe (cache=off: built, not restored from an artifact) on
#                debian:bookworm (one gzip layer, 170 MB of tar) from a
#                loopback registry, cache warm  vs  `igzip -dc` of its layer (<= 2.0x), and vs
#                the pipeline it replaces, run here on tmpfs (>= 4x faster): umoci raw unpack
#                --rootless, mkfs.ext4 -d with root_owner=0:0, a debugfs `sif` pass for the
#                owners the tar headers give, a debugfs script injecting what the recipe injects
#   two layers   debian-sshd (bookworm + an openssh-server layer) flattened  vs  its larger
#                layer flattened alone (<= 1.2x)
#   many files   a layer of 1,000,000 small files in 10,000 directories flattened and written
#                with inline_data, the files in their inodes (<= 6 s, peak RSS <= 350 MiB)
#   cold pull    debian-sshd from the registry into an empty cache  vs  `skopeo copy
#                docker://... oci:DIR` (<= 0.8x)
#   RSS          the warm build's peak (< 64 MiB)
#   and the earlier figures: flatten vs `gzip -dc` of the layer, the ext4 write vs mkfs.ext4 -d
#   plus the debugfs owner pass.
#
# usage: bench/floor.sh [path/to/banger-build]      (RUNS=3, MANY_FILES=1000000, MANY_DIRS=10000)
# The root filesystems are made once with mmdebstrap (Debian's mirror; a few minutes) and kept,
# with the images and the many-files layer, in bench/.cache. Work files go to tmpfs (/dev/shm),
# except the many-files image (350 MiB), which goes next to the cache and is removed.
set -eu
LOAD0=$(cut -d" " -f1-3 /proc/loadavg)
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
banger=${1:-$src/build/banger-build}
runs=${RUNS:-3}
many_files=${MANY_FILES:-1000000}
many_dirs=${MANY_DIRS:-10000}
[ -x "$banger" ] || { echo "build banger-build first (make)" >&2; exit 1; }
banger=$(cd "$(dirname "$banger")" && pwd)/$(basename "$banger")
for tool in igzip gzip umoci skopeo mkfs.ext4 debugfs e2fsck docker-registry python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (make deps)" >&2; exit 1; }
done
. "$here/lib.sh"
bench_minbase "$here"
cache=$here/.cache

# debian-sshd: the minbase root with openssh-server, as an upper layer over the minbase one
# (what openssh-server adds and changes: 22 MB of tar, 8.6 MB gzip; the name changed when
# tardelta.py stopped counting an mtime alone as a change, so an upper layer made before, which
# held the whole root again when one root was made with SOURCE_DATE_EPOCH, is not used)
sshd_tar=$cache/debian-bookworm-sshd.tar
delta=$cache/sshd-upper.tar
if [ ! -f "$sshd_tar" ]; then
  mmdebstrap --variant=minbase --include=openssh-server --format=tar bookworm "$sshd_tar.part"
  mv "$sshd_tar.part" "$sshd_tar"
fi
if [ ! -f "$delta" ]; then
  python3 "$here/tardelta.py" "$TARBALL" "$sshd_tar" "$delta.part"
  mv "$delta.part" "$delta"
fi
many=$cache/manyfiles-$many_files-$many_dirs.tar.gz
if [ ! -f "$many" ]; then
  python3 "$here/manyfiles.py" /dev/stdout "$many_files" "$many_dirs" | gzip -6 > "$many.part"
  mv "$many.part" "$many"
fi
mkimage() { # DIR TAG LAYER...
  local dir=$1 tag=$2 args=()
  shift 2
  [ -f "$dir/index.json" ] && return
  for l in "$@"; do args+=(--layer "$l"); done
  rm -rf "$dir.part"
  python3 "$src/tests/tools/mkimage.py" "$dir.part" --tag "$tag" --level 6 "${args[@]}" >/dev/null
  mv "$dir.part" "$dir"
}
mkimage "$cache/oci-bookworm" bookworm "$TARBALL"
mkimage "$cache/oci-sshd-upper" sshd "$TARBALL" "$delta"
mapfile -t bookworm_layers < <(bench_blobs "$cache/oci-bookworm")
mapfile -t sshd_layers < <(bench_blobs "$cache/oci-sshd-upper")

work=$(mktemp -d /dev/shm/banger-floor.XXXXXX)
disk=$(mktemp -d "$cache/floor-work.XXXXXX")
export BANGER_SOURCE_DIR=$src
cd "$work"
. "$src/tests/lib/registry.sh"
trap 'set +e; bg_cleanup; cd /; rm -rf "$work" "$disk"' EXIT
registry_start
registry_push "$cache/oci-bookworm" bookworm bench/bookworm:1
registry_push "$cache/oci-sshd-upper" sshd bench/sshd:1

bench_flatten_lua flat1.lua "${bookworm_layers[0]}"
bench_flatten_lua flat2.lua "${sshd_layers[@]}"
cat > many.lua <<LUA
local tree, ext4, runtime = require "banger.tree", require "banger.ext4", require "banger.runtime"
local t0 = runtime.clock()
local t = assert(tree.from_layers({
  { path = "$many", media_type = "application/vnd.oci.image.layer.v1.tar+gzip" },
}, { image = "bench" }))
local t1 = runtime.clock()
local size = assert(ext4.min_size(t, { inline_data = true }))
local fs = assert(ext4.create("$disk/many.ext4", { size = size, tree = t, seed = "bench",
  inline_data = true }))
assert(fs:close())
io.write(string.format("%.3f %.3f %d\n", t1 - t0, runtime.clock() - t1, t:stats().entries))
LUA
printf 'local oci = require "banger.oci"\nassert(oci.pull(args.ref, { cache_dir = args.cache, progress = "none", pull = "always" }))\n' > pull.lua

# the old pipeline's scripts, made before any timing (its best case): owners from the tar
# headers, and the injection of what the default recipe puts in (taken from a banger image)
"$banger" -q --cache-dir "$work/cache" "$src/recipes/default.lua" "image=$REGISTRY/bench/bookworm:1" out="$work/warm.ext4" \
  cache=off
python3 - "$TARBALL" > sif.cmds <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        name = "/" + m.name.lstrip("./").rstrip("/")
        if name == "/" or m.type in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE):
            continue
        if m.uid:
            print('sif "%s" uid %d' % (name, m.uid))
        if m.gid:
            print('sif "%s" gid %d' % (name, m.gid))
PY
mkdir inject
: > inject.cmds
for d in /usr/local/bin /usr/local/libexec /var/lib/banger /etc/modules-load.d /etc/systemd \
  /etc/systemd/system /etc/systemd/system/multi-user.target.wants; do
  echo "mkdir $d" >> inject.cmds
done
n=0
for f in /usr/local/bin/banger-vsock-agent /usr/local/libexec/banger-network-bootstrap \
  /etc/systemd/system/banger-network.service /etc/systemd/system/banger-vsock-agent.service \
  /etc/modules-load.d/banger-vsock.conf /usr/local/libexec/banger-first-boot \
  /etc/systemd/system/banger-first-boot.service /var/lib/banger/first-boot-pending; do
  n=$((n + 1))
  debugfs -R "dump -p $f $work/inject/$n" "$work/warm.ext4" 2>/dev/null
  mode=$(debugfs -R "stat $f" "$work/warm.ext4" 2>/dev/null | sed -n 's/.*Mode: *\([0-7]*\).*/\1/p')
  { echo "cd ${f%/*}"; echo "write $work/inject/$n ${f##*/}"
    echo "sif $f mode 0100$mode"; echo "sif $f uid 0"; echo "sif $f gid 0"; } >> inject.cmds
done
echo "cd /etc/systemd/system/multi-user.target.wants" >> inject.cmds
for u in network vsock-agent first-boot; do
  echo "symlink banger-$u.service /etc/systemd/system/banger-$u.service" >> inject.cmds
done
img_size=$(stat -c %s "$work/warm.ext4")
# the steps of a warm build, as --json gives them (--json also hashes the output)
"$banger" -q --json --cache-dir "$work/cache" "$src/recipes/default.lua" "image=$REGISTRY/bench/bookworm:1" \
  out="$work/warm.ext4" cache=off > warm.json
steps=$(python3 -c '
import json
t = json.load(open("warm.json"))["timings"]
print(", ".join("%s %.3f" % (k, t[k]) for k in ("pull", "flatten", "build", "inject", "total") if k in t))')
# the writer's part: the metadata (build) and, at the close (write), the file data copied from
# the spool, with the image's sha256 taken behind the copies (which mkfs.ext4 does not do)
build_step=$(python3 -c 'import json; t = json.load(open("warm.json"))["timings"]; print(t["build"] + t["write"])')

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }
rss() { echo $(( $(tail -n 1 "$1") / 1024 )); }
: > runs.txt
for i in $(seq "$runs"); do
  # the baselines first, then ours, each run the same order
  cat "${bookworm_layers[@]}" "${sshd_layers[@]}" "$many" > /dev/null
  t=$(now); igzip -dc "${bookworm_layers[0]}" > /dev/null; igz=$(since "$t")
  t=$(now); gzip -dc "${bookworm_layers[0]}" > /dev/null; gz=$(since "$t")

  rm -rf root old.ext4
  t=$(now)
  umoci raw unpack --rootless --image "$cache/oci-bookworm:bookworm" root 2>/dev/null
  t_unpack=$(since "$t")
  t=$(now)
  mkfs.ext4 -q -F -t ext4 -E root_owner=0:0 -d root old.ext4 "$((img_size / 1024))k" >/dev/null
  t_mkfs=$(since "$t")
  t=$(now); debugfs -w -f sif.cmds old.ext4 >/dev/null 2>&1; t_sif=$(since "$t")
  t=$(now); debugfs -w -f inject.cmds old.ext4 >/dev/null 2>&1; t_inj=$(since "$t")
  pipeline=$(echo "$t_unpack + $t_mkfs + $t_sif + $t_inj" | bc -l)
  rm -rf root

  rm -f warm.ext4
  t=$(now)
  /usr/bin/time -f %M -o warm.rss "$banger" -q --cache-dir "$work/cache" "$src/recipes/default.lua" \
    "image=$REGISTRY/bench/bookworm:1" out="$work/warm.ext4" cache=off
  warm=$(since "$t")

  f1=$("$banger" -q flat1.lua)
  f2=$("$banger" -q flat2.lua)

  rm -rf cold oci-out
  t=$(now); "$banger" -q pull.lua ref="$REGISTRY/bench/sshd:1" cache="$work/cold"; pull=$(since "$t")
  t=$(now)
  skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/bench/sshd:1" oci:oci-out:sshd >/dev/null
  skopeo=$(since "$t")
  rm -rf cold oci-out

  /usr/bin/time -f %M -o many.rss "$banger" -q many.lua > many.out
  read -r m_flat m_build m_entries < many.out
  e2fsck -fn "$disk/many.ext4" > /dev/null 2>&1 && many_clean=clean || many_clean=NOT-CLEAN
  rm -f "$disk/many.ext4"

  echo "$igz $gz $pipeline $t_unpack $t_mkfs $t_sif $t_inj $warm - - -" \
    "$(rss warm.rss) $f1 $f2 $pull $skopeo $m_flat $m_build $(rss many.rss) $m_entries" >> runs.txt
done
e2fsck -fn "$work/warm.ext4" > /dev/null 2>&1 && clean=clean || clean=NOT-CLEAN
e2fsck -fn old.ext4 > /dev/null 2>&1 && old_clean=clean || old_clean=NOT-CLEAN
# the old pipeline's image holds what banger's does: every injected file, with the same bytes
for f in $(awk '/^cd /{d=$2} /^write /{print d "/" $3} /^symlink /{print d "/" $2}' inject.cmds); do
  a=$(debugfs -R "cat $f" old.ext4 2>/dev/null | sha256sum)
  b=$(debugfs -R "cat $f" "$work/warm.ext4" 2>/dev/null | sha256sum)
  [ "$a" = "$b" ] && debugfs -R "stat $f" old.ext4 2>/dev/null | grep -q "Inode:" ||
    old_clean="$old_clean, $f differs"
done

col() { awk -v c="$1" '{print $c}' runs.txt | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
all() { awk -v c="$1" '{printf "%s%s", sep, $c; sep = " "} END {print ""}' runs.txt; }
r() { echo "$1 / $2" | bc -l; }
igz=$(col 1) gz=$(col 2) pipeline=$(col 3) warm=$(col 8) f1=$(col 13) f2=$(col 14)
pull=$(col 15) skopeo=$(col 16) many=$(echo "$(col 17) + $(col 18)" | bc -l)
mkfs_pass=$(echo "$(col 5) + $(col 6)" | bc -l)
verdict() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo met; else echo NOT MET; fi; }

printf 'load average at the start and end: %s / %s; %d runs, medians (each run: see runs:)\n' \
  "$LOAD0" "$(cut -d' ' -f1-3 /proc/loadavg)" "$runs"
printf '\n-- warm default build of debian:bookworm (%d-byte layer, image %d MiB, e2fsck %s)\n' \
  "$(stat -c %s "${bookworm_layers[0]}")" "$((img_size >> 20))" "$clean"
printf 'igzip -dc of the layer:       %.3f s (runs: %s)\n' "$igz" "$(all 1)"
printf 'gzip -dc of the layer:        %.3f s\n' "$gz"
printf 'old pipeline on tmpfs:        %.3f s (umoci %.3f, mkfs.ext4 -d %.3f, debugfs sif %.3f, debugfs inject %.3f; e2fsck %s)\n' \
  "$pipeline" "$(col 4)" "$(col 5)" "$(col 6)" "$(col 7)" "$old_clean"
printf 'banger-build default:         %.3f s (runs: %s)\n' "$warm" "$(all 8)"
printf '  one --json run:             %s\n' "$steps"
printf '  / igzip -dc:                %.2fx   target <= 2.0: %s\n' "$(r "$warm" "$igz")" \
  "$(verdict "$warm <= 2.0 * $igz")"
printf '  old pipeline / banger:      %.2fx   target >= 4: %s\n' "$(r "$pipeline" "$warm")" \
  "$(verdict "$pipeline >= 4 * $warm")"
printf '  peak RSS:                   %d MiB   target < 64: %s\n' "$(col 12)" "$(verdict "$(col 12) < 64")"
printf '\n-- two layers\n'
printf 'flatten of the bookworm layer alone: %.3f s; of debian-sshd (2 layers, gzip MB: %s): %.3f s\n' \
  "$f1" "$(echo $(for l in "${sshd_layers[@]}"; do printf "%.1f " "$(echo "$(stat -c %s "$l") / 1000000" | bc -l)"; done))" "$f2"
printf '  sshd / larger layer alone:  %.2f    target <= 1.2: %s\n' "$(r "$f2" "$f1")" \
  "$(verdict "$f2 <= 1.2 * $f1")"
printf '\n-- many files: %d entries (%d files, %d directories), inline_data, e2fsck %s\n' "$(col 20)" \
  "$many_files" "$many_dirs" "$many_clean"
printf 'flatten %.2f s + build %.2f s = %.2f s   target <= 6: %s\n' "$(col 17)" "$(col 18)" \
  "$many" "$(verdict "$many <= 6")"
printf '  peak RSS:                   %d MiB  target <= 350: %s\n' "$(col 19)" \
  "$(verdict "$(col 19) <= 350")"
printf '\n-- cold pull of debian-sshd from the loopback registry\n'
printf 'banger %.3f s (runs: %s), skopeo copy %.3f s (runs: %s)\n' "$pull" "$(all 15)" "$skopeo" "$(all 16)"
printf '  banger / skopeo:            %.2f    target <= 0.8: %s\n' "$(r "$pull" "$skopeo")" \
  "$(verdict "$pull <= 0.8 * $skopeo")"
printf '\n-- earlier figures\n'
printf 'flatten of the bookworm layer / gzip -dc:         %.2f (target <= 1.3)\n' "$(r "$f1" "$gz")"
printf '(mkfs.ext4 -d + debugfs owners) / banger build:   %.1fx (target >= 3; build + write of the --json run)\n' \
  "$(r "$mkfs_pass" "$build_step")"
printf '\nruns: igzip gzip pipeline umoci mkfs sif inject warm - - - rss flat1 flat2 pull skopeo mflat mbuild mrss entries\n'
cat runs.txt
