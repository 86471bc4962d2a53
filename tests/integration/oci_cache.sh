#!/bin/bash
# The cache: verify and gc, concurrent pulls keeping every index entry, progress output,
# and local sources (oci:DIR, oci-archive:, docker-archive:) through the same checks.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need python3
registry_start
T="$BANGER_SOURCE_DIR/tests/tools"
export BANGER_OCI_BACKOFF_SCALE=0.01
field() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval(sys.argv[1]))" "$2"; }

python3 "$T/mkimage.py" src --tag a --random-layer 3000 --random-layer 4000 >a.json
python3 "$T/mkimage.py" src --tag b --random-layer 5000 --seed 7 >b.json
python3 "$T/mkimage.py" src --tag a2 --random-layer 3000 --random-layer 9000 --seed 1 >a2.json
registry_push src a x/a:1
registry_push src b x/b:1

cat > pull.lua <<'LUA'
local oci = require "banger.oci"
local img, err, code = oci.pull(args.ref, { cache_dir = "cache", progress = args.progress or "none",
  pull = args.pull or "missing" })
if img then print("OK " .. img.digest) else print("ERR " .. code .. " " .. err) end
LUA
cat > upkeep.lua <<'LUA'
local oci = require "banger.oci"
local list, err = oci[args.op]("cache")
if not list then print("ERR " .. err) return end
table.sort(list)
print(table.concat(list, " "))
LUA

# two pulls at once into one cache: both names survive in index.json
"$BANGER" pull.lua ref="$REGISTRY/x/a:1" >pa.out 2>&1 &
p1=$!
"$BANGER" pull.lua ref="$REGISTRY/x/b:1" >pb.out 2>&1 &
p2=$!
wait $p1 $p2
expect_eq "$(cat pa.out)" "OK $(field a.json "d['manifest']")" "parallel pull a"
expect_eq "$(cat pb.out)" "OK $(field b.json "d['manifest']")" "parallel pull b"
names=$(python3 -c "
import json
print(' '.join(sorted(m['annotations']['org.opencontainers.image.ref.name'] for m in json.load(open('cache/index.json'))['manifests'])))")
expect_eq "$names" "$REGISTRY/x/a:1 $REGISTRY/x/b:1" "index.json keeps both entries"

# verify: a good cache loses nothing; a planted bad blob is removed and named
expect_eq "$("$BANGER" upkeep.lua op=verify_cache)" "" "verify: clean cache"
bl=$(field b.json "d['layers'][0]['digest']")
printf 'rot' > "cache/blobs/sha256/${bl#sha256:}"
expect_eq "$("$BANGER" upkeep.lua op=verify_cache)" "$bl" "verify: names the corrupt blob"
expect_file_absent "cache/blobs/sha256/${bl#sha256:}" "verify: corrupt blob removed"
expect_eq "$("$BANGER" pull.lua ref="$REGISTRY/x/b:1")" "OK $(field b.json "d['manifest']")" "pull after verify refetches"

# gc: retag x/a:1 to a new image; the old manifest, config and the layer only it used go
registry_push src a2 x/a:1
expect_eq "$("$BANGER" pull.lua ref="$REGISTRY/x/a:1" pull=always)" "OK $(field a2.json "d['manifest']")" "retagged pull"
want=$(printf '%s\n' "$(field a.json "d['manifest']")" "$(field a.json "d['config']")" "$(field a.json "d['layers'][1]['digest']")" | sort | tr '\n' ' ')
expect_eq "$("$BANGER" upkeep.lua op=gc) " "$want" "gc removes exactly the unreferenced blobs"
expect_eq "$("$BANGER" upkeep.lua op=gc)" "" "gc again: nothing"
expect_eq "$(python3 "$T/checkcache.py" cache)" "" "cache verified after gc"
expect_eq "$("$BANGER" pull.lua ref="$REGISTRY/x/b:1" pull=never)" "OK $(field b.json "d['manifest']")" "gc kept b"
out=$(skopeo inspect "oci:cache:$REGISTRY/x/a:1" 2>&1); rc=$?
expect_eq "$rc" 0 "skopeo inspect after gc"

# progress: one plain line per layer; nothing with "none"; bars with rate on a terminal
rm -rf cache
"$BANGER" pull.lua ref="$REGISTRY/x/a:1" progress=plain >/dev/null 2>err.txt
l1=$(field a2.json "d['layers'][0]['digest'][:19]")
expect_eq "$(wc -l < err.txt)" 2 "plain: two lines for two layers"
expect_contains "$(cat err.txt)" "$REGISTRY/x/a:1: layer $l1 " "plain: names the image and layer"
l2=$(field a2.json "d['layers'][1]['digest']")
rm "cache/blobs/sha256/${l2#sha256:}"
"$BANGER" pull.lua ref="$REGISTRY/x/a:1" progress=plain >/dev/null 2>err.txt
expect_contains "$(cat err.txt)" "$REGISTRY/x/a:1: layer $l1 3.1 KiB (cached)" "plain: cached layers say so"
expect_contains "$(cat err.txt)" "$REGISTRY/x/a:1: layer ${l2:0:19} " "plain: the missing layer is fetched"
rm -rf cache
"$BANGER" pull.lua ref="$REGISTRY/x/a:1" progress=none >/dev/null 2>err.txt
expect_eq "$(wc -c < err.txt)" 0 "none: silent"
rm -rf cache
python3 - "$BANGER" "$REGISTRY/x/a:1" >tty.txt <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "pull.lua", "ref=" + sys.argv[2], "progress=bar"])
out = b""
while True:
    try:
        b = os.read(fd, 4096)
    except OSError:
        break
    if not b:
        break
    out += b
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
PY
expect_contains "$(cat tty.txt)" "[========================]" "bar: full bars"
expect_contains "$(cat tty.txt)" "/s done" "bar: rate and done"
expect_contains "$(cat tty.txt)" $'\033[K' "bar: redraws lines"
finish
