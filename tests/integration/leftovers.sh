#!/bin/bash
# Nothing half-written outlives a run: a pull stopped by SIGINT or SIGTERM removes its temp
# blobs; one killed with -9 leaves them, and the next pull into the cache sweeps them (their
# writer is gone); an image build killed with -9 leaves its .NAME.tmp-PID-XXXXXX output, and
# the next build into that directory sweeps it.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need python3 timeout
registry_start
T="$BANGER_SOURCE_DIR/tests/tools"
export BANGER_OCI_BACKOFF_SCALE=0.01
python3 "$T/mkimage.py" src --tag img --random-layer 3000 --random-layer 4000 >img.json
registry_push src img x/img:1
L1=$(python3 -c "import json; print(json.load(open('img.json'))['layers'][0]['digest'])")
L2=$(python3 -c "import json; print(json.load(open('img.json'))['layers'][1]['digest'])")
OK="OK $(python3 -c "import json; print(json.load(open('img.json'))['manifest'])")"
printf '[{"path": "/blobs/%s", "action": "trickle", "interval": 0.05, "times": -1}]' "$L2" \
  > front.faults
faultserver_start front --upstream "http://$REGISTRY"
F=$FRONT

PULL="$BANGER_SOURCE_DIR/tests/tools/pull.lua"
# wait_for GLOB: until a file matches (10 s at most)
wait_for() {
  for _ in $(seq 1000); do
    compgen -G "$1" >/dev/null && return 0
    sleep 0.01
  done
  echo "nothing matched $1" >&2
  return 1
}
tmps() { ls -A "$1" | grep -c '^\.tmp-'; }

# SIGINT and SIGTERM while a blob is being written: its temp file goes with the process
for sig in INT TERM; do
  "$BANGER" "$PULL" ref="$F/x/img:1" cache=cache-$sig >/dev/null 2>&1 &
  pid=$!
  wait_for "cache-$sig/blobs/sha256/.tmp-*"
  kill -$sig $pid
  wait $pid
  rc=$?
  expect_eq "$rc" $((128 + $(kill -l $sig))) "SIG$sig: the pull ends as the signal says"
  expect_eq "$(tmps cache-$sig/blobs/sha256)" 0 "SIG$sig: no temp blob left"
done

# kill -9 leaves the temp blob; the next pull into the cache sweeps it
"$BANGER" "$PULL" ref="$F/x/img:1" cache=cache-9 >/dev/null 2>&1 &
pid=$!
# the first layer whole (its temp file gone), so the temp file then seen is the trickled layer's
wait_for "cache-9/blobs/sha256/${L1#sha256:}"
wait_for "cache-9/blobs/sha256/.tmp-*"
kill -9 $pid
wait $pid 2>/dev/null
expect_eq "$([ "$(tmps cache-9/blobs/sha256)" -ge 1 ] && echo left)" left "kill -9: temp blobs are left"
echo '[]' > front.faults
expect_eq "$(timeout 60 "$BANGER" "$PULL" ref="$F/x/img:1" cache=cache-9 2>&1)" "$OK" "the next pull"
expect_eq "$(tmps cache-9/blobs/sha256)" 0 "the next pull swept the dead writer's temp blob"

# an image build killed with -9: its temporary output is swept by the next build there
cat > build.lua <<'LUA'
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t <close> = tree.new()
t:mkdir("/d", { mode = 493 })
for i = 1, tonumber(args.files) do
  t:write("/d/f" .. i, string.rep("x", 8192), { mode = 420 })
end
local img <close> = assert(ext4.create(args.out, { size = tonumber(args.mib) * 1048576,
  tree = t }))
print("built " .. args.out)
LUA
mkdir -p out
"$BANGER" build.lua out=out/big.ext4 files=30000 mib=4096 >/dev/null 2>&1 &
pid=$!
wait_for "out/.big.ext4.tmp-*"
kill -9 $pid
wait $pid 2>/dev/null
left=$(ls -A out)
expect_contains "$left" ".big.ext4.tmp-$pid-" "kill -9 during a build: its temporary output is left"
expect_file_absent out/big.ext4 "kill -9 during a build: no image under the final name"
# a temporary output whose writer still runs (its lock held) is not touched
sleep 60 &
holder=$!
bg_track $holder
touch "out/.live.ext4.tmp-$holder-AbCdEf"
expect_eq "$("$BANGER" --progress none build.lua out=out/small.ext4 files=1 mib=64 2>&1)" "built out/small.ext4" "the next build"
expect_eq "$(ls -A out | tr '\n' ' ')" ".live.ext4.tmp-$holder-AbCdEf small.ext4 " "the next build swept the killed build's output, and only that"
"$BANGER" build.lua out=out/big2.ext4 files=30000 mib=4096 >/dev/null 2>&1 &
pid=$!
wait_for "out/.big2.ext4.tmp-*"
kill -TERM $pid
wait $pid
expect_eq "$(ls -A out | grep -c big2)" 0 "SIGTERM during a build: nothing left"
finish
