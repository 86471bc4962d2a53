#!/bin/bash
# Hostile-layer benchmark (not a test): what three small layers cost banger.tree.from_layers.
#   markers  80,000 empty files, each followed by a repeated opaque marker for their directory
#            (about 1 MB of gzip); and 10,000 of each, for a baseline that is quadratic in them
#   sparse   a 10 KB tar with one GNU sparse entry declaring 100 GiB, one byte of data; refused by
#            the default cap (64 GiB of file contents), then flattened with max_bytes = 128 GiB
#   bomb     a 4 MB gzip layer holding one file of 4 GiB of zeros
# sparse-128G-image times writing the image of that tree instead (ext4.create at the smallest
# size that holds it): the writer skips the holes it is told of.
# For each: the flatten's time and the process's processor time (user + system, which a busy
# machine inflates less), medians of RUNS runs, its peak RSS, and the spool's allocated bytes as
# `du` shows them (the spool has no name: du reads it through /proc/PID/fd) next to its apparent
# size. With a second binary (a build of an earlier version, say), both run interleaved on the
# 10,000-marker and bomb layers; the others are not given to it (80,000 markers would take it
# hours, the sparse layer would write 100 GiB of zeros into TMPDIR).
#
# usage: bench/hostile.sh [path/to/banger-build [path/to/baseline-banger-build]]
# Layers are made once in bench/.cache, which ignores itself; TMPDIR for the runs is a fresh
# directory of the run's own.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
banger=${1:-$here/../build/banger-build}
baseline=${2:-}
runs=${RUNS:-3}
[ -x "$banger" ] || { echo "build banger-build first (make)" >&2; exit 1; }
cache=$here/.cache
mkdir -p "$cache"
[ -f "$cache/.gitignore" ] || printf '*\n' > "$cache/.gitignore"

# markers N: N empty files in one directory, each followed by an opaque marker for it
markers() {
  [ -f "$cache/markers$1.tar.gz" ] && return
  python3 - "$1" "$cache/markers$1.tar.gz.part" <<'PY'
import gzip, sys, tarfile
with gzip.open(sys.argv[2], "wb") as gz:
    with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for i in range(int(sys.argv[1])):
            for name in ("d/f%05d" % i, "d/.wh..wh..opq"):
                info = tarfile.TarInfo(name)
                info.mtime = 1700000000
                t.addfile(info)
PY
  mv "$cache/markers$1.tar.gz.part" "$cache/markers$1.tar.gz"
}
markers 80000
markers 10000
if [ ! -f "$cache/sparse.tar" ]; then
  mkdir -p "$cache/sparse.d"
  truncate -s 100G "$cache/sparse.d/huge"
  printf x | dd of="$cache/sparse.d/huge" bs=1 seek=4096 conv=notrunc status=none
  tar --format=gnu --sparse -C "$cache/sparse.d" -cf "$cache/sparse.tar.part" huge
  rm -rf "$cache/sparse.d"
  mv "$cache/sparse.tar.part" "$cache/sparse.tar"
fi
if [ ! -f "$cache/bomb.tar.gz" ]; then
  python3 - <<'PY' | gzip -9 > "$cache/bomb.tar.gz.part"
import sys, tarfile
info = tarfile.TarInfo("zeros")
info.size = 4 << 30
info.mtime = 1700000000
out = sys.stdout.buffer
out.write(info.tobuf(tarfile.USTAR_FORMAT))
chunk = bytes(1 << 20)
for _ in range(4 << 10):
    out.write(chunk)
out.write(bytes(1024))
PY
  mv "$cache/bomb.tar.gz.part" "$cache/bomb.tar.gz"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/flatten.lua" <<'LUA'
local tree, runtime = require "banger.tree", require "banger.runtime"
local t0 = runtime.clock()
local t, err = tree.from_layers({ { path = args.layer, media_type = args.media_type } },
  { image = "bench", max_bytes = tonumber(args.max_bytes) })
local dt = runtime.clock() - t0
if t and args.image == "1" then
  -- the time of writing the image from the tree instead
  local ext4 = require "banger.ext4"
  t0 = runtime.clock()
  local img = assert(ext4.create(os.getenv("TMPDIR") .. "/image.ext4",
    { size = assert(ext4.min_size(t)), tree = t }))
  img:close()
  dt = runtime.clock() - t0
end
if t then
  -- the spool's buffer goes to disk, so du sees all of it (earlier versions have no such call)
  if t.spool_usage then t:spool_usage() end
  io.write(string.format("ok %.3f %d\n", dt, t:stats().entries))
else
  io.write(string.format("refused %.3f %s\n", dt, err))
end
io.stdout:flush()
-- held open until the spool is measured
local f = io.open(args.fifo, "r")
if f then f:read("a"); f:close() end
if t then t:close() end
LUA

# one_run BANGER LAYER MEDIA_TYPE MAX_BYTES [IMAGE]
#   -> "status seconds peak_rss_kib du_bytes apparent_bytes cpu_seconds"
one_run() {
  local out=$work/out rss=$work/rss fifo=$work/fifo tmp=$work/tmp tpid pid fd link du=0 app=0
  rm -rf "$out" "$rss" "$fifo" "$tmp" && mkdir "$tmp" && mkfifo "$fifo"
  TMPDIR=$tmp /usr/bin/time -f '%M %U %S' -o "$rss" "$1" -q "$work/flatten.lua" layer="$2" \
    media_type="$3" max_bytes="$4" image="${5:-0}" fifo="$fifo" > "$out" &
  tpid=$!
  while [ ! -s "$out" ] && kill -0 "$tpid" 2>/dev/null; do sleep 0.02; done
  pid=$(pgrep -P "$tpid" | head -n 1)
  for fd in /proc/"$pid"/fd/*; do
    link=$(readlink "$fd" 2>/dev/null) || continue
    case $link in
      "$tmp"/*\(deleted\)) du=$(du -L --block-size=1 "$fd" | cut -f1)
                app=$(du -L --apparent-size --block-size=1 "$fd" | cut -f1) ;;
    esac
  done
  timeout 10 sh -c "echo > '$fifo'" || true
  wait "$tpid" || true
  printf '%s %s %s %s %s %s\n' "$(cut -d' ' -f1 "$out")" "$(cut -d' ' -f2 "$out")" \
    "$(tail -n 1 "$rss" | cut -d' ' -f1)" "$du" "$app" \
    "$(tail -n 1 "$rss" | awk '{ print $2 + $3 }')"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# bench NAME LAYER MEDIA_TYPE MAX_BYTES BINARY...: RUNS interleaved runs of each binary
bench() {
  local name=$1 layer=$2 mt=$3 max=$4 image=0 i k
  shift 4
  case $name in *-image) image=1 ;; esac
  local bs=("$@")
  for i in $(seq "$runs"); do
    for k in "${!bs[@]}"; do
      one_run "${bs[k]}" "$layer" "$mt" "$max" "$image" >> "$work/$name.$k"
    done
  done
  for k in "${!bs[@]}"; do
    local f=$work/$name.$k b=${bs[k]}
    printf '%-19s %-30s %-7s %8.3f s (cpu %7.2f s)  RSS %6.1f MiB  spool du %s B (apparent %s B)\n' \
      "$name" "$b" "$(cut -d' ' -f1 "$f" | sort -u | paste -sd, -)" \
      "$(cut -d' ' -f2 "$f" | median)" "$(cut -d' ' -f6 "$f" | median)" \
      "$(cut -d' ' -f3 "$f" | median | awk '{ print $1 / 1024 }')" \
      "$(cut -d' ' -f4 "$f" | median)" "$(cut -d' ' -f5 "$f" | median)"
  done
}

gz=application/vnd.oci.image.layer.v1.tar+gzip
tar=application/vnd.oci.image.layer.v1.tar
bins=("$banger")
[ -n "$baseline" ] && bins+=("$baseline")
printf 'layers: markers %d B (160,000 entries), markers10k %d B, sparse %d B (100 GiB declared),' \
  "$(stat -c %s "$cache/markers80000.tar.gz")" "$(stat -c %s "$cache/markers10000.tar.gz")" \
  "$(stat -c %s "$cache/sparse.tar")"
printf ' bomb %d B (4 GiB of zeros)\n' "$(stat -c %s "$cache/bomb.tar.gz")"
printf 'medians of %d runs; time is the flatten, cpu and RSS the whole process\n' "$runs"
bench markers "$cache/markers80000.tar.gz" "$gz" 0 "$banger"
bench markers10k "$cache/markers10000.tar.gz" "$gz" 0 "${bins[@]}"
bench sparse-default-cap "$cache/sparse.tar" "$tar" 0 "$banger"
bench sparse-128GiB-cap "$cache/sparse.tar" "$tar" $((128 << 30)) "$banger"
bench sparse-128G-image "$cache/sparse.tar" "$tar" $((128 << 30)) "$banger"
bench bomb "$cache/bomb.tar.gz" "$gz" 0 "${bins[@]}"
