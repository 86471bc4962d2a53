#!/bin/bash
# Pushes cut short at every request, through a fault-injecting front (faultserver) before
# Debian's docker-registry: from request i on everything fails (the push gives up), request i
# alone loses its connection, or its reply is lost after the registry did the work. Whatever
# happens the registry holds no manifest that points at a missing blob (checkregistry.py asks
# it), a push that gave up is completed by running it again, and one that met a single fault
# completes by itself; the artifact read back is the output byte for byte. Then a push killed
# with -9 in the middle of a chunk.
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need zstd
registry_start
T=$BANGER_SOURCE_DIR/tests/tools
export SOURCE_DATE_EPOCH=1700000000 BANGER_OCI_BACKOFF_SCALE=0.01 BANGER_OCI_TIMEOUT_SCALE=0.2
python3 "$T/mkimage.py" src --tag big --random-layer 2500000 --seed 5 >/dev/null
out=$("$BANGER" -q --json --cache-dir cache "$BANGER_SOURCE_DIR/recipes/default.lua" \
  image=oci:src:big out=big.ext4) || { echo "build failed" >&2; exit 1; }
key=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])' <<<"$out")
artifact=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["artifact"])' <<<"$out")
faultserver_start front --upstream "http://$REGISTRY"
CHUNK=1048576
push() { # REPO: pushes through the front in 1 MiB chunks
  "$BANGER" -q --cache-dir cache "$T/push.lua" "what=$key" "dest=$FRONT/$1:v1" chunk=$CHUNK
}
same_bytes() { # REPO
  rm -rf copy
  skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/$1:v1" oci:copy:v1 >/dev/null 2>&1 ||
    return 1
  local layer
  layer=$(python3 -c 'import json, sys; i = json.load(open("copy/index.json"))
m = json.load(open("copy/blobs/sha256/" + i["manifests"][0]["digest"][7:]))
print(m["layers"][0]["digest"][7:])')
  zstd -q -d -c "copy/blobs/sha256/$layer" | cmp -s - big.ext4
}
registry_sound() { python3 "$T/checkregistry.py" "$REGISTRY" "$@" >registry.txt; }

# a clean push, to count its requests (blob HEADs, POSTs, PATCHes, PUTs, the manifest, the
# referrers tag's read, write and check)
: >front.log
push clean/big >push.out 2>&1 || { cat push.out >&2; exit 1; }
n=$(wc -l <front.log)
expect_eq "$(grep -c '"method": "PATCH"' front.log)" "3" "the layer goes in 1 MiB chunks"
same_bytes clean/big
expect_eq "$?" 0 "a clean push reads back as the output"

# from request i on, every request fails: the push gives up (each in a repository of its own)
for i in $(seq 1 "$n"); do
  echo "[{\"path\": \"/v2/\", \"after\": $((i - 1)), \"times\": -1, \"action\": \"status\", \"code\": 503}]" \
    >front.faults
  push "gave-up/$i" >push.out 2>&1
  expect_eq "$?" 1 "everything failing from request $i: the push fails"
done
registry_sound
expect_eq "$?" 0 "pushes failed at every request: no manifest points at a missing blob"
echo '[]' >front.faults
for i in $(seq 1 "$n"); do
  push "gave-up/$i" >push.out 2>&1
  expect_eq "$?" 0 "failed at request $i: pushed again, it completes"
done

# request i alone loses its connection, or its reply: the push goes on by itself
for i in $(seq 1 "$n"); do
  for action in cut lose-reply; do
    echo "[{\"path\": \"/v2/\", \"after\": $((i - 1)), \"times\": 1, \"action\": \"$action\"}]" \
      >front.faults
    push "$action/$i" >push.out 2>&1
    expect_eq "$?" 0 "$action at request $i: the push completes ($(tail -1 push.out))"
  done
done
registry_sound
expect_eq "$?" 0 "after every fault: no manifest points at a missing blob"
for i in $(seq 1 "$n"); do
  for repo in gave-up/$i cut/$i lose-reply/$i; do
    grep -qx "$repo:v1 $artifact" registry.txt
    expect_eq "$?" 0 "$repo:v1 is the artifact, whole"
  done
done
same_bytes "gave-up/$n"
expect_eq "$?" 0 "read back, the last of them is the output byte for byte"

# a registry that refuses a chunk's range (416) gets a new upload
echo '[{"path": "/blobs/uploads/", "method": "PATCH", "after": 1, "times": 1, "action": "status", "code": 416}]' \
  >front.faults
push range/big >push.out 2>&1
expect_eq "$?" 0 "a 416 on a chunk: the upload starts again and completes"
same_bytes range/big
expect_eq "$?" 0 "the same bytes"

# killed with -9 while the second chunk is on its way
echo '[{"path": "/blobs/uploads/", "method": "PATCH", "after": 1, "times": 1, "action": "delay", "seconds": 30}]' \
  >front.faults
: >front.log
push killed/big >push.out 2>&1 &
pid=$!
for _ in $(seq 200); do
  [ "$(grep -c '"method": "PATCH"' front.log)" -ge 1 ] && break
  sleep 0.05
done
sleep 0.5
kill -9 $pid
wait $pid 2>/dev/null
registry_sound
expect_eq "$?" 0 "killed mid-chunk: no manifest points at a missing blob"
skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/killed/big:v1" >/dev/null 2>&1
expect_eq "$?" 1 "killed mid-chunk: no manifest was pushed"
echo '[]' >front.faults
push killed/big >push.out 2>&1
expect_eq "$?" 0 "killed, pushed again: it completes"
same_bytes killed/big
expect_eq "$?" 0 "the same bytes"
finish
