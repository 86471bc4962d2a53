#!/bin/bash
# The registry as the shared build cache, with Debian's docker-registry and two separate caches
# standing for two hosts: the first builds and pushes under the key's tag, the second restores
# the same bytes without fetching a layer; a changed recipe text or argument is a new key and a
# miss, a changed out= is not; two hosts building one key at once end with identical bytes and
# one artifact; recipes/fetch.lua on a host that never builds, by ref and by key.
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_start
T=$BANGER_SOURCE_DIR/tests/tools
export SOURCE_DATE_EPOCH=1700000000 BANGER_OCI_BACKOFF_SCALE=0.01
recipe=$BANGER_SOURCE_DIR/recipes/default.lua
demo_layout demo
registry_push demo demo src/demo:1
image=$REGISTRY/src/demo:1
cache=$REGISTRY/fleet/cache
jq() { python3 -c 'import json, sys; d = json.load(sys.stdin)
for k in sys.argv[1].split("."): d = d.get(k) if isinstance(d, dict) else None
print(d)' "$1"; }
build() { # CACHE_DIR OUT [args...]
  local dir=$1 o=$2
  shift 2
  "$BANGER" -q --json --cache-dir "$dir" "$recipe" "image=$image" "out=$o" "cache=$cache" "$@"
}

a=$(build host-a a.ext4) || { echo "host a failed" >&2; exit 1; }
key=$(jq key <<<"$a")
expect_eq "$(jq cache <<<"$a")" "miss" "host a: a miss"
skopeo inspect --tls-verify=false --raw "docker://$cache:banger-${key#sha256:}" >tagged.json
expect_eq "$?" 0 "host a pushed under the key's tag"
expect_eq "sha256:$(sha256sum tagged.json | cut -d' ' -f1)" "$(jq artifact <<<"$a")" \
  "the tag names host a's artifact"

b=$(build host-b b.ext4) || { echo "host b failed" >&2; exit 1; }
expect_eq "$(jq cache <<<"$b")" "registry" "host b: from the registry"
expect_eq "$(jq key <<<"$b")" "$key" "host b: the same key"
expect_eq "$(jq sha256 <<<"$b")" "$(jq sha256 <<<"$a")" "host b: the same sha256"
cmp -s a.ext4 b.ext4
expect_eq "$?" 0 "host b: the same bytes"
for phase in flatten build inject; do
  expect_eq "$(jq timings.$phase <<<"$b")" "None" "host b did not $phase"
done
expect_contains "$(jq timings.restore <<<"$b")" "." "host b restored"
layers=$(python3 -c 'import json; m = json.load(open("demo/blobs/sha256/" +
  json.load(open("demo/index.json"))["manifests"][0]["digest"][7:]))
print(" ".join(l["digest"][7:] for l in m["layers"]))')
fetched=0
for l in $layers; do [ -e "host-b/blobs/sha256/$l" ] && fetched=$((fetched + 1)); done
expect_eq "$fetched" 0 "host b fetched no layer of the source image"
b2=$(build host-b b2.ext4)
expect_eq "$(jq cache <<<"$b2")" "local" "host b again: its own cache"
expect_eq "$(jq key <<<"$b2")" "$key" "out= is not part of the key"

# a changed recipe text or argument is another key and a miss
cp "$recipe" changed.lua
echo "-- a site's comment" >>changed.lua
c=$("$BANGER" -q --json --cache-dir host-b changed.lua "image=$image" out=c.ext4 "cache=$cache")
[ "$(jq key <<<"$c")" != "$key" ]
expect_eq "$?" 0 "a changed recipe: a new key"
expect_eq "$(jq cache <<<"$c")" "miss" "a changed recipe: a miss"
d=$(build host-b d.ext4 size=96M)
[ "$(jq key <<<"$d")" != "$key" ] && [ "$(jq key <<<"$d")" != "$(jq key <<<"$c")" ]
expect_eq "$?" 0 "a changed argument: a new key"
expect_eq "$(jq cache <<<"$d")" "miss" "a changed argument: a miss"
e=$(SOURCE_DATE_EPOCH=1700000001 build host-b e.ext4)
[ "$(jq key <<<"$e")" != "$key" ]
expect_eq "$?" 0 "another SOURCE_DATE_EPOCH: a new key"

# two hosts building one key at once: identical bytes, one artifact
build host-c c1.ext4 size=80M >c1.json &
p1=$!
build host-d d1.ext4 size=80M >d1.json &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
expect_eq "$r1 $r2" "0 0" "both concurrent builds succeed"
k1=$(jq key <c1.json)
expect_eq "$(jq key <d1.json)" "$k1" "one key"
cmp -s c1.ext4 d1.ext4
expect_eq "$?" 0 "identical bytes on both hosts"
skopeo inspect --tls-verify=false --raw "docker://$cache:banger-${k1#sha256:}" >one.json
expect_eq "$(jq artifact <c1.json) $(jq artifact <d1.json)" \
  "sha256:$(sha256sum one.json | cut -d' ' -f1) sha256:$(sha256sum one.json | cut -d' ' -f1)" \
  "both name the one artifact the tag holds"
subject=$(jq digest <c1.json)
skopeo inspect --tls-verify=false --raw "docker://$cache:sha256-${subject#sha256:}" >refs.json
expect_eq "$(python3 -c 'import json, sys
m = json.load(open("refs.json"))["manifests"]
print(sum(1 for x in m if x["annotations"]["dev.banger.key"] == sys.argv[1]))' "$k1")" "1" \
  "the referrers index lists one artifact for the key"

# a host that never builds: recipes/fetch.lua by ref and by key
f=$("$BANGER" -q --json --cache-dir host-e "$BANGER_SOURCE_DIR/recipes/fetch.lua" \
  "ref=$cache:banger-${key#sha256:}" out=f.ext4) || { echo "fetch by ref failed" >&2; exit 1; }
cmp -s a.ext4 f.ext4
expect_eq "$?" 0 "fetch.lua by ref: the same bytes"
expect_eq "$(jq cache <<<"$f")" "registry" "fetched from the registry"
f=$("$BANGER" -q --json --cache-dir host-e "$BANGER_SOURCE_DIR/recipes/fetch.lua" "key=$key" \
  "cache=$cache" out=g.ext4)
cmp -s a.ext4 g.ext4
expect_eq "$?" 0 "fetch.lua by key: the same bytes"
expect_eq "$(jq cache <<<"$f")" "local" "the second fetch needs no transfer"
"$BANGER" -q --cache-dir host-e "$BANGER_SOURCE_DIR/recipes/fetch.lua" \
  "ref=$REGISTRY/src/demo:1" out=h.ext4 2>err
expect_eq "$?" 1 "fetch.lua of an image that is no rootfs artifact fails"
expect_contains "$(cat err)" "not a rootfs artifact" "and says so"
expect_file_absent h.ext4 "nothing written"
"$BANGER" -q --cache-dir host-e "$BANGER_SOURCE_DIR/recipes/fetch.lua" \
  "ref=$cache:banger-$(printf '0%.0s' $(seq 64))" out=h.ext4 2>err
expect_eq "$?" 1 "fetch.lua of a tag that does not exist fails"
expect_contains "$(cat err)" "no such manifest" "and says so"

expect_eq "$(( $(du -k f.ext4 | cut -f1) <= $(du -k a.ext4 | cut -f1) ))" 1 \
  "fetch.lua writes the image sparse (no more allocated than the build)"

# through a logging front: a hit is one HEAD of the key's tag, then the artifact by digest; a
# miss is that HEAD, a build, and a push under the tag
faultserver_start front --upstream "http://$REGISTRY"
asked() { python3 -c 'import json
for l in open("front.log"):
    e = json.loads(l)
    if "/manifests/" in e["path"]: print(e["method"], e["path"])'; }
h=$("$BANGER" -q --json --cache-dir host-f "$recipe" "image=$image" out=hf.ext4 \
  "cache=$FRONT/fleet/cache") || { echo "host f failed" >&2; exit 1; }
expect_eq "$(jq cache <<<"$h")" "registry" "host f: from the registry, through the front"
expect_eq "$(asked | grep -v 'manifests/sha256:')" \
  "HEAD /v2/fleet/cache/manifests/banger-${key#sha256:}" "the lookup: one HEAD of the key's tag"
cmp -s a.ext4 hf.ext4
expect_eq "$?" 0 "host f: the same bytes"
: >front.log
h=$("$BANGER" -q --json --cache-dir host-f "$recipe" "image=$image" out=hg.ext4 size=88M \
  "cache=$FRONT/fleet/cache")
k=$(jq key <<<"$h")
expect_eq "$(jq cache <<<"$h")" "miss" "a new key through the front: a miss"
expect_eq "$(asked | head -1)" "HEAD /v2/fleet/cache/manifests/banger-${k#sha256:}" \
  "looked up with a HEAD first"
expect_contains "$(asked)" "PUT /v2/fleet/cache/manifests/banger-${k#sha256:}" \
  "then pushed under the key's tag"

# a registry cache serving wrong bytes: found out by digest, nothing written, nothing cached
echo '[{"path": "/blobs/", "times": -1, "action": "flip"}]' >front.faults
"$BANGER" -q --cache-dir host-g "$BANGER_SOURCE_DIR/recipes/fetch.lua" \
  "ref=$FRONT/fleet/cache:banger-${key#sha256:}" out=bad.ext4 2>err
expect_eq "$?" 1 "fetch.lua of an artifact whose blobs are altered fails"
expect_contains "$(cat err)" "mismatch" "found by digest"
expect_file_absent bad.ext4 "nothing written"
python3 "$T/checkcache.py" host-g
expect_eq "$?" 0 "nothing wrong reached the cache"
echo '[]' >front.faults

# gc keeps artifacts by default and trims them on request; verify drops an artifact whose
# layer is gone
out=$("$BANGER" -q --json --cache-dir host-b "$BANGER_SOURCE_DIR/recipes/cache.lua" action=gc)
expect_eq "$(jq count <<<"$out")" "0" "gc keeps the artifacts and their blobs"
cmp_before=$(find host-b/blobs -type f | wc -l)
out=$("$BANGER" -q --json --cache-dir host-b "$BANGER_SOURCE_DIR/recipes/cache.lua" action=gc \
  artifacts=1)
expect_contains "$(jq dropped <<<"$out")" "artifact banger-" "gc artifacts=1 drops the older"
[ "$(find host-b/blobs -type f | wc -l)" -lt "$cmp_before" ]
expect_eq "$?" 0 "and removes their blobs"
out=$("$BANGER" -q --json --cache-dir host-b "$BANGER_SOURCE_DIR/recipes/fetch.lua" \
  "key=$(jq key <<<"$e")" "cache=$cache" out=e2.ext4)
expect_eq "$(jq cache <<<"$out")" "local" "the most recent artifact was kept"
alayer=$(python3 -c 'import json; print(json.load(open("tagged.json"))["layers"][0]["digest"][7:])')
rm -f "host-a/blobs/sha256/$alayer"
out=$("$BANGER" -q --json --cache-dir host-a "$BANGER_SOURCE_DIR/recipes/cache.lua" \
  action=verify)
expect_contains "$out" "layer sha256:$alayer is missing; entry removed" \
  "verify drops an artifact whose layer is gone"
a2=$(build host-a a2.ext4)
expect_eq "$(jq cache <<<"$a2")" "registry" "the next build fetches it again"
cmp -s a.ext4 a2.ext4
expect_eq "$?" 0 "the same bytes"

python3 "$T/checkregistry.py" "$REGISTRY" >registry.txt
expect_eq "$?" 0 "no manifest in the registry points at a missing blob"
python3 "$T/checkcache.py" host-b
expect_eq "$?" 0 "host b's cache: every blob whole"
finish
