#!/bin/bash
# banger.oci against a real registry: single and multi-layer images, Docker schema 2 and OCI,
# a multi-platform index by tag and by digest, pull policies, and a cache other tools can read.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need umoci python3
registry_start
MK="python3 $BANGER_SOURCE_DIR/tests/tools/mkimage.py"
export BANGER_OCI_BACKOFF_SCALE=0.01

$MK src --tag one --random-layer 5000 >one.json
$MK src --tag two --random-layer 300000 --random-layer 700000 --compress zstd --seed 2 >two.json
$MK src --tag multi --random-layer 1000 --seed 3 >/dev/null
$MK src --tag multi --platform linux/arm64/v8 --random-layer 2000 --seed 4 --append >arm.json
$MK src --tag dock --random-layer 4000 --seed 5 >dock.json
registry_push src one x/one:1
registry_push src two x/two:latest
registry_push src multi x/multi:1 --all
registry_push src dock x/dock:1 --format v2s2

field() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval(sys.argv[1]))" "$2"; }

cat > pull.lua <<LUA
local oci = require "banger.oci"
local ref, platform, policy = args.ref, args.platform, args.pull
local img, err, code = oci.pull(ref, { cache_dir = "cache", platform = platform,
  pull = policy or "missing", progress = "none" })
if not img then
  print("ERR " .. code .. " " .. err)
  return
end
print("ref " .. img.ref)
print("digest " .. img.digest)
print("platform " .. img.platform)
print("arch " .. img.config.architecture)
for i, l in ipairs(img.layers) do
  print(string.format("layer %d %s %s %d %s %s", i, l.digest, l.diff_id, l.size, l.media_type,
    l.path))
end
LUA

out=$("$BANGER" pull.lua ref="$REGISTRY/x/one:1" 2>&1)
expect_contains "$out" "ref $REGISTRY/x/one:1" "single-layer ref"
expect_contains "$out" "digest $(field one.json "d['manifest']")" "single-layer manifest digest"
expect_contains "$out" "platform linux/amd64" "platform from config"
expect_contains "$out" "layer 1 $(field one.json "d['layers'][0]['digest']") $(field one.json "d['layers'][0]['diff_id']") $(field one.json "d['layers'][0]['size']") application/vnd.oci.image.layer.v1.tar+gzip $PWD/cache/blobs/sha256/$(field one.json "d['layers'][0]['digest'][7:]")" "single-layer layer line"
expect_eq "$(sha256sum < "cache/blobs/sha256/$(field one.json "d['layers'][0]['digest'][7:]")" | cut -d' ' -f1)" "$(field one.json "d['layers'][0]['digest'][7:]")" "cached layer bytes"

# a single-platform manifest is not chosen by platform: its config says what it is, as Docker checks
out=$("$BANGER" pull.lua ref="$REGISTRY/x/one:1" platform=linux/arm64 2>&1)
expect_eq "$out" "ERR notfound pulling $REGISTRY/x/one:1: the image is for linux/amd64, not linux/arm64 (it offers no other platform)" "single-platform image: another platform is refused"
out=$("$BANGER" pull.lua ref="$REGISTRY/x/one:1" platform=linux/arm64 pull=never 2>&1)
expect_contains "$out" "ERR" "single-platform image: nothing was recorded for the platform it is not"
out=$("$BANGER" pull.lua ref="$REGISTRY/x/one:1" platform=linux/amd64 pull=never 2>&1)
expect_contains "$out" "platform linux/amd64" "single-platform image: its own platform from the cache"

out=$("$BANGER" pull.lua ref="$REGISTRY/x/two" 2>&1)
expect_contains "$out" "layer 1 $(field two.json "d['layers'][0]['digest']") $(field two.json "d['layers'][0]['diff_id']")" "two layers: first, oldest"
expect_contains "$out" "layer 2 $(field two.json "d['layers'][1]['digest']") $(field two.json "d['layers'][1]['diff_id']") $(field two.json "d['layers'][1]['size']") application/vnd.oci.image.layer.v1.tar+zstd" "two layers: second, zstd"

out=$("$BANGER" pull.lua ref="$REGISTRY/x/dock:1" 2>&1)
expect_contains "$out" "application/vnd.docker.image.rootfs.diff.tar.gzip" "docker schema 2 layer type"
dockdigest=$(echo "$out" | sed -n 's/^digest //p')
expect_eq "$(skopeo inspect --raw "docker://$REGISTRY/x/dock:1" --tls-verify=false | sha256sum | cut -d' ' -f1)" "${dockdigest#sha256:}" "docker schema 2: digest of the manifest as served"
out=$(skopeo inspect "oci:cache:$REGISTRY/x/dock:1" 2>&1); rc=$?
expect_eq "$rc" 0 "skopeo inspect reads a Docker schema 2 image (as its OCI conversion)"
out=$("$BANGER" pull.lua ref="$REGISTRY/x/dock:1" pull=never 2>&1)
expect_contains "$out" "digest $dockdigest" "docker schema 2 from the cache: same digest"
expect_contains "$out" "application/vnd.docker.image.rootfs.diff.tar.gzip" "docker schema 2 from the cache: same layer type"

# the index: amd64 by default, arm64 by platform, and by the index's digest
out=$("$BANGER" pull.lua ref="$REGISTRY/x/multi:1" 2>&1)
expect_contains "$out" "arch amd64" "index: default platform"
out=$("$BANGER" pull.lua ref="$REGISTRY/x/multi:1" platform=linux/arm64/v8 2>&1)
expect_contains "$out" "arch arm64" "index: arm64/v8"
expect_contains "$out" "digest $(field arm.json "d['manifest']")" "index: arm64 manifest digest"
expect_contains "$out" "platform linux/arm64/v8" "index: arm64 platform"
idx=$(field arm.json "d['index']")
out=$("$BANGER" pull.lua ref="$REGISTRY/x/multi@$idx" platform=linux/arm64 2>&1)
expect_contains "$out" "ref $REGISTRY/x/multi@$idx" "by digest: ref"
expect_contains "$out" "digest $(field arm.json "d['manifest']")" "by digest: platform manifest"
out=$("$BANGER" pull.lua ref="$REGISTRY/x/multi:1" platform=linux/s390x 2>&1)
expect_eq "$out" "ERR notfound pulling $REGISTRY/x/multi:1: no image for platform linux/s390x (the index has: linux/amd64, linux/arm64/v8)" "index: missing platform"
bad=sha256:0000000000000000000000000000000000000000000000000000000000000000
out=$("$BANGER" pull.lua ref="$REGISTRY/x/one@$bad" 2>&1)
expect_eq "$out" "ERR notfound pulling $REGISTRY/x/one@$bad: manifest unknown (HTTP 404)" "unknown digest"
out=$("$BANGER" pull.lua ref="$REGISTRY/x/one:nope" 2>&1)
expect_eq "$out" "ERR notfound pulling $REGISTRY/x/one:nope: manifest unknown (HTTP 404)" "unknown tag"

# other tools read the cache; skopeo's oci: reference is everything after the first ':'
out=$(skopeo inspect "oci:cache:$REGISTRY/x/two:latest" 2>&1); rc=$?
expect_eq "$rc" 0 "skopeo inspect oci:cache:NAME"
expect_contains "$out" "$(field two.json "d['layers'][1]['digest']")" "skopeo sees the layers"
out=$(skopeo inspect --config "oci:cache:$REGISTRY/x/multi:1" 2>&1)
expect_contains "$out" '"architecture": "amd64"' "skopeo: first entry of a name is amd64"
out=$(umoci ls --layout cache 2>&1); rc=$?
expect_eq "$rc" 0 "umoci ls"
expect_contains "$out" "$REGISTRY/x/one:1" "umoci lists the names"
out=$(skopeo copy -q "oci:cache:$REGISTRY/x/one:1" "oci:copy:one" 2>&1); rc=$?
expect_eq "$rc" 0 "skopeo copies out of the cache"

# pull policies: "never" works offline from the cache; "missing" does not ask the registry
kill $bg_bg_pids; wait 2>/dev/null; bg_bg_pids=""
out=$("$BANGER" pull.lua ref="$REGISTRY/x/one:1" pull=never 2>&1)
expect_contains "$out" "digest $(field one.json "d['manifest']")" "pull=never from the cache"
out=$("$BANGER" pull.lua ref="$REGISTRY/x/one:1" 2>&1)
expect_contains "$out" "digest $(field one.json "d['manifest']")" "pull=missing uses the cache"
out=$("$BANGER" pull.lua ref="$REGISTRY/x/one:1" pull=always 2>&1)
expect_contains "$out" "ERR network pulling $REGISTRY/x/one:1: manifest from $REGISTRY: Couldn't connect to server (gave up after 5 attempts)" "pull=always needs the registry"
out=$("$BANGER" pull.lua ref="$REGISTRY/x/other:1" pull=never 2>&1)
expect_eq "$out" "ERR notfound pulling $REGISTRY/x/other:1: not in the cache $PWD/cache and pull is \"never\"" "pull=never and not cached"

# a corrupt blob planted in the cache is noticed and (pull=never) reported
layer=cache/blobs/sha256/$(field one.json "d['layers'][0]['digest'][7:]")
printf 'garbage' > "$layer"
out=$("$BANGER" pull.lua ref="$REGISTRY/x/one:1" pull=never 2>&1)
expect_eq "$out" "ERR notfound pulling $REGISTRY/x/one:1: not in the cache $PWD/cache and pull is \"never\"" "corrupt blob: not used"
expect_file_absent "$layer" "corrupt blob removed"
expect_eq "$(ls -a cache/blobs/sha256 | grep -c '^\.tmp-')" 0 "no temp files left"

# gc keeps the manifest a Docker schema 2 image was pulled as
printf 'local oci = require "banger.oci"\nprint(#oci.gc("cache"))\n' > gc.lua
expect_eq "$("$BANGER" gc.lua)" 0 "gc: every blob is referenced"
out=$("$BANGER" pull.lua ref="$REGISTRY/x/dock:1" pull=never 2>&1)
expect_contains "$out" "digest $dockdigest" "docker schema 2 after gc"
finish
