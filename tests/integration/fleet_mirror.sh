#!/bin/bash
# Mirrors for source images: Debian's docker-registry as the origin and a second one as its
# pull-through cache (proxy: remoteurl:), named in the site configuration
# ($XDG_CONFIG_HOME/banger/config.lua) or the mirrors option. Logging fronts (faultserver) tell
# who asked what: the tag is resolved at the origin with one HEAD, content comes from the
# mirror; a mirror that is down, unreachable or serves wrong bytes falls through to the origin,
# and the image built is the same bytes every time.
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_start
T=$BANGER_SOURCE_DIR/tests/tools
export SOURCE_DATE_EPOCH=1700000000 BANGER_OCI_BACKOFF_SCALE=0.01 XDG_CONFIG_HOME=$PWD/cfg
recipe=$BANGER_SOURCE_DIR/recipes/default.lua
demo_layout demo
registry_push demo demo src/demo:1
origin_registry=$REGISTRY
faultserver_start origin --upstream "http://$REGISTRY"
ORIGIN=$FRONT
registry_proxy_start "$origin_registry"
faultserver_start mirror --upstream "http://$MIRROR"
MFRONT=$FRONT
image=$ORIGIN/src/demo:1
mkdir -p cfg/banger
cat >cfg/banger/config.lua <<LUA
return { mirrors = { ["$ORIGIN"] = { "$MFRONT" } } }
LUA
# requests banger-build made, as "METHOD PATH" lines
asked() { python3 -c 'import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if (e.get("agent") or "").startswith("banger-build/"):
        print(e["method"], e["path"])' "$1"; }
build() { # CACHE OUT [args...]
  local dir=$1 o=$2
  shift 2
  "$BANGER" --progress none --cache-dir "$dir" "$recipe" "image=$image" "out=$o" cache=off "$@"
}

build ref-cache ref.ext4 mirrors= 2>err || { cat err >&2; exit 1; }
: >origin.log; : >mirror.log

build c1 one.ext4 2>err
expect_eq "$?" 0 "a build through the mirror"
cmp -s ref.ext4 one.ext4
expect_eq "$?" 0 "the same bytes as from the origin"
expect_eq "$(asked origin.log)" "HEAD /v2/src/demo/manifests/1" \
  "the origin is asked one HEAD for the tag, nothing else"
expect_contains "$(asked mirror.log)" "GET /v2/src/demo/blobs/sha256:" "layers from the mirror"
expect_eq "$(asked mirror.log | grep -c 'manifests/1$')" "0" "the mirror is never asked the tag"

# the mirror is down: 503 for everything
: >origin.log
echo '[{"path": "/v2/", "times": -1, "action": "status", "code": 503}]' >mirror.faults
build c2 two.ext4 2>err
expect_eq "$?" 0 "the mirror down: still built"
expect_contains "$(cat err)" "mirror $MFRONT" "a warning names the mirror"
expect_contains "$(cat err)" "trying the next source" "and that it falls through"
expect_contains "$(asked origin.log)" "GET /v2/src/demo/blobs/sha256:" "layers from the origin"
cmp -s ref.ext4 two.ext4
expect_eq "$?" 0 "the same bytes"

# nothing listens where the mirror should be
: >origin.log
build c3 three.ext4 "mirrors=127.0.0.1:1" 2>err
expect_eq "$?" 0 "an unreachable mirror: still built"
expect_contains "$(cat err)" "mirror 127.0.0.1:1" "the unreachable mirror is named"
cmp -s ref.ext4 three.ext4
expect_eq "$?" 0 "the same bytes"

# two mirrors, the first unreachable: the second serves the layers, not the origin
echo '[]' >mirror.faults
: >origin.log; : >mirror.log
build c3b three-b.ext4 "mirrors=127.0.0.1:1,$MFRONT" 2>err
expect_eq "$?" 0 "the first of two mirrors unreachable: still built"
expect_contains "$(asked mirror.log)" "GET /v2/src/demo/blobs/sha256:" \
  "the second mirror serves the layers"
expect_eq "$(asked origin.log | grep -c blobs)" "0" "and the origin none"
cmp -s ref.ext4 three-b.ext4
expect_eq "$?" 0 "the same bytes"

# the mirror serves wrong bytes: the digest says so, the origin serves the right ones
echo '[{"path": "/blobs/", "times": -1, "action": "flip"}]' >mirror.faults
: >origin.log
build c4 four.ext4 2>err
expect_eq "$?" 0 "a mirror with wrong bytes: still built"
expect_contains "$(cat err)" "mismatch" "the wrong bytes are found by digest"
cmp -s ref.ext4 four.ext4
expect_eq "$?" 0 "the same bytes: a mirror cannot change what is built"
python3 "$T/checkcache.py" c4
expect_eq "$?" 0 "nothing wrong reached the cache"

# the mirror would serve another manifest for the tag: it is never asked, unless trusted to
# resolve tags
other=$(python3 -c 'import json; print(json.dumps({"schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"mediaType":
  "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "0" * 64, "size": 2},
  "layers": []}))')
python3 -c 'import json, sys; json.dump([{"path": "/manifests/1$", "times": -1, "action": "serve",
  "body": sys.argv[1], "content_type": "application/vnd.oci.image.manifest.v1+json"}],
  open("mirror.faults", "w"))' "$other"
: >mirror.log
build c5 five.ext4 2>err
expect_eq "$?" 0 "a mirror lying about the tag changes nothing"
cmp -s ref.ext4 five.ext4
expect_eq "$?" 0 "the same bytes"
cat >cfg/banger/config.lua <<LUA
return { mirrors = { ["$ORIGIN"] = { { location = "$MFRONT", resolve = true } } } }
LUA
build c6 six.ext4 2>err
expect_eq "$?" 1 "a mirror trusted with tags is believed (and its bad manifest fails)"
expect_contains "$(asked mirror.log)" "GET /v2/src/demo/manifests/1" "it was asked the tag"
expect_file_absent six.ext4 "nothing written"

# the mirrors option of banger.oci.pull, without a site configuration
rm cfg/banger/config.lua
echo '[]' >mirror.faults
: >mirror.log; : >origin.log
cat >pull.lua <<LUA
local oci = require "banger.oci"
local img = assert(oci.pull("$image", { mirrors = { "$MFRONT" } }))
print(img.digest)
LUA
"$BANGER" -q --cache-dir c7 pull.lua >digest 2>err
expect_eq "$?" 0 "oci.pull with the mirrors option"
expect_contains "$(asked mirror.log)" "GET /v2/src/demo/blobs/sha256:" "it used the mirror"
expect_eq "$(asked origin.log | grep -c blobs)" "0" "and no blob from the origin"
cat >bad.lua <<LUA
local oci = require "banger.oci"
print(oci.pull("$image", { mirrors = { "mirror" } }))
LUA
"$BANGER" -q --cache-dir c8 bad.lua >bad.out 2>&1
expect_contains "$(cat bad.out)" "mirror 'mirror' is not HOST[:PORT][/PREFIX]" \
  "a mirror that is no registry host is refused"
printf 'return { mirrors = "x" }\n' >cfg/banger/config.lua
build c9 nine.ext4 2>err
expect_eq "$?" 1 "a malformed site configuration fails"
expect_contains "$(cat err)" "cfg/banger/config.lua: mirrors must be a table" "naming the file"
finish
