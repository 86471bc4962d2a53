#!/bin/bash
# recipes/cache.lua: verify finds and removes a corrupt blob, gc removes an unreferenced one, and
# a build after verify fetches what was removed.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
demo_layout layout
recipe=$BANGER_SOURCE_DIR/recipes/cache.lua
json() { python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)[sys.argv[1]]))' "$1"; }

"$BANGER" -q --cache-dir "$PWD/cache" "$BANGER_SOURCE_DIR/recipes/default.lua" \
  "image=oci:$PWD/layout:demo" out=one.ext4 2>err
expect_eq "$?" 0 "first build ($(cat err))"
out=$("$BANGER" -q --json --cache-dir "$PWD/cache" "$recipe" action=verify)
expect_eq "$?" 0 "verify of a good cache"
expect_eq "$(json count <<<"$out")" "0" "verify of a good cache removes nothing"

layer=$(python3 -c 'import json; m = json.load(open("layout/index.json"))["manifests"][0]["digest"]
print(json.load(open("layout/blobs/sha256/" + m[7:]))["layers"][0]["digest"][7:])')
printf 'not the layer' > "cache/blobs/sha256/$layer"
out=$("$BANGER" -q --json --cache-dir "$PWD/cache" "$recipe" action=verify)
expect_eq "$?" 0 "verify of a corrupt cache"
expect_eq "$(json removed <<<"$out")" "[\"sha256:$layer\"]" "verify names the corrupt blob"
expect_eq "$(json count <<<"$out")" "1" "verify counts the corrupt blob"
expect_file_absent "cache/blobs/sha256/$layer" "verify removed the corrupt blob"
"$BANGER" -q --cache-dir "$PWD/cache" "$BANGER_SOURCE_DIR/recipes/default.lua" \
  "image=oci:$PWD/layout:demo" out=two.ext4 2>err
expect_eq "$?" 0 "a build after verify ($(cat err))"
expect_eq "$(sha256sum < "cache/blobs/sha256/$layer" | cut -d' ' -f1)" "$layer" \
  "the removed blob came back whole"

stray=$(printf 'stray' | sha256sum | cut -d' ' -f1)
printf 'stray' > "cache/blobs/sha256/$stray"
out=$("$BANGER" -q --json --cache-dir "$PWD/cache" "$recipe" action=gc)
expect_eq "$?" 0 "gc"
expect_eq "$(json removed <<<"$out")" "[\"sha256:$stray\"]" "gc removes only the unreferenced blob"
expect_file_absent "cache/blobs/sha256/$stray" "gc removed it"
expect_eq "$(sha256sum < "cache/blobs/sha256/$layer" | cut -d' ' -f1)" "$layer" "gc kept the layer"

"$BANGER" --cache-dir "$PWD/cache" "$recipe" action=shred 2>err
expect_eq "$?" 2 "unknown action: a usage error"
expect_eq "$(cat err)" "banger-build: argument action=shred: expected verify or gc" \
  "unknown action message"
finish
