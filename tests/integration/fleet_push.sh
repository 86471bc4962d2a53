#!/bin/bash
# A built image pushed to Debian's docker-registry as a rootfs artifact, judged by skopeo (the
# manifest as specified, a copy whose zstd layer decompresses to the very output), the
# registry's referrers tag (docker-registry 2.8 answers the referrers API with 404), blobs
# asked for before they are sent, mounted across repositories, sent in chunks, with the
# credentials pulls use; and the output restored from the cache sparse, judged by e2fsck and
# the kernel.
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need zstd e2fsck
registry_start
T=$BANGER_SOURCE_DIR/tests/tools
export SOURCE_DATE_EPOCH=1700000000 BANGER_OCI_BACKOFF_SCALE=0.01
recipe=$BANGER_SOURCE_DIR/recipes/default.lua
demo_layout demo
jq() { python3 -c 'import json, sys; d = json.load(sys.stdin)
for k in sys.argv[1].split("."): d = d[int(k)] if isinstance(d, list) else d[k]
print(d)' "$1"; }

out=$("$BANGER" -q --json --cache-dir cache "$recipe" image=oci:demo:demo out=demo.ext4 \
  "push=$REGISTRY/fleet/demo:v1") || { echo "build and push failed" >&2; exit 1; }
sum=sha256:$(sha256sum demo.ext4 | cut -d' ' -f1)
key=$(jq key <<<"$out")
subject=$(jq digest <<<"$out")
expect_eq "$(jq cache <<<"$out")" "miss" "a first build misses"
expect_eq "$(jq sha256 <<<"$out")" "$sum" "--json sha256 is the output's"

# the manifest as the registry serves it
skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/fleet/demo:v1" >raw.json ||
  { echo "skopeo cannot read the artifact" >&2; exit 1; }
digest=sha256:$(sha256sum raw.json | cut -d' ' -f1)
expect_eq "$(jq pushed <<<"$out")" "$REGISTRY/fleet/demo:v1@$digest" "--json pushed names it"
expect_eq "$(jq artifact <<<"$out")" "$digest" "--json artifact"
m() { jq "$1" <raw.json; }
expect_eq "$(m mediaType)" "application/vnd.oci.image.manifest.v1+json" "an OCI manifest"
expect_eq "$(m artifactType)" "application/vnd.banger.rootfs.v1" "artifactType"
expect_eq "$(m config.mediaType)" "application/vnd.oci.empty.v1+json" "the empty config"
expect_eq "$(m config.digest)" \
  "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" "of {}"
expect_eq "$(m config.size)" "2" "two bytes"
expect_eq "$(m layers.0.mediaType)" "application/vnd.banger.rootfs.v1.ext4+zstd" "layer type"
expect_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["layers"]))' \
  raw.json)" "1" "one layer"
expect_eq "$(m subject.digest)" "$subject" "subject = the source manifest"
expect_eq "$(m subject.mediaType)" "application/vnd.oci.image.manifest.v1+json" "subject type"
expect_eq "$(m subject.size)" "$(stat -c %s demo/blobs/sha256/${subject#sha256:})" \
  "subject size"
ann() { python3 -c 'import json,sys; print(json.load(open("raw.json"))["annotations"][sys.argv[1]])' "$1"; }
expect_eq "$(ann dev.banger.key)" "$key" "annotation: the key"
expect_eq "$(ann dev.banger.recipe.sha256)" "sha256:$(sha256sum "$recipe" | cut -d' ' -f1)" \
  "annotation: the recipe's sha256"
expect_eq "$(ann org.opencontainers.image.created)" "2023-11-14T22:13:20Z" \
  "annotation: created from SOURCE_DATE_EPOCH"
expect_eq "$(ann dev.banger.rootfs.sha256)" "$sum" "annotation: the image's sha256"
expect_eq "$(ann dev.banger.rootfs.size)" "$(stat -c %s demo.ext4)" "annotation: its size"

# skopeo copies it to an OCI layout; its layer, zstd -d, is the output byte for byte
skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/fleet/demo:v1" oci:copy:v1 ||
  { echo "skopeo copy failed" >&2; exit 1; }
layer=$(m layers.0.digest)
zstd -q -d -c "copy/blobs/sha256/${layer#sha256:}" | cmp -s - demo.ext4
expect_eq "$?" 0 "zstd -d of the copied layer is the output"

# docker-registry 2.8 has no referrers API: the referrers tag schema lists it under the image
skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/fleet/demo:sha256-${subject#sha256:}" \
  >referrers.json || { echo "no referrers tag" >&2; exit 1; }
expect_eq "$(jq mediaType <referrers.json)" "application/vnd.oci.image.index.v1+json" \
  "the referrers tag is an OCI index"
expect_eq "$(jq manifests.0.digest <referrers.json)" "$digest" "it lists the artifact"
expect_eq "$(jq manifests.0.artifactType <referrers.json)" "application/vnd.banger.rootfs.v1" \
  "with its artifactType"

# pushed again: every blob is asked for first and nothing is sent; to another repository of
# the same registry the blobs are mounted; with small chunks (through a logging front) the
# layer goes in PATCH requests, and the copy is the same
p=$("$BANGER" -q --cache-dir cache "$T/push.lua" "what=$key" "dest=$REGISTRY/fleet/demo:v2")
expect_contains "$p" "existed=2 mounted=0 uploaded=0" "a second push sends no blob"
p=$("$BANGER" -q --cache-dir cache "$T/push.lua" "what=$key" "dest=$REGISTRY/other/demo:v1" \
  from=fleet/demo)
expect_contains "$p" "existed=0 mounted=2 uploaded=0" "blobs mounted from another repository"
faultserver_start front --upstream "http://$REGISTRY"
p=$("$BANGER" -q --cache-dir cache "$T/push.lua" "what=$key" "dest=$FRONT/chunked/demo:v1" \
  chunk=4096) || { echo "chunked push failed" >&2; exit 1; }
expect_contains "$p" "uploaded=2" "both blobs sent"
patches=$(grep -c '"method": "PATCH"' front.log)
size=$(m layers.0.size)
expect_eq "$patches" "$(( (size + 4095) / 4096 ))" "one PATCH per 4 KiB chunk"
heads=$(grep '"method": "HEAD"' front.log | grep -c /blobs/)
expect_eq "$heads" "2" "each blob asked for with HEAD before it is sent"
skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/chunked/demo:v1" oci:copy2:v1
zstd -q -d -c "copy2/blobs/sha256/${layer#sha256:}" | cmp -s - demo.ext4
expect_eq "$?" 0 "the chunked upload is the same bytes"

# the credentials of pulls (REGISTRY_AUTH_FILE here) go with every upload request
echo '[{"basic": true}]' > basic.faults
faultserver_start basic --upstream "http://$REGISTRY" --faults basic.faults
printf '{"auths":{"%s":{"auth":"%s"}}}' "$FRONT" "$(printf 'pusher:secret' | base64)" >auth.json
REGISTRY_AUTH_FILE=$PWD/auth.json "$BANGER" -q --cache-dir cache "$T/push.lua" "what=$key" \
  "dest=$FRONT/auth/demo:v1" >/dev/null 2>err
expect_eq "$?" 0 "push with Basic credentials"
expect_eq "$(python3 -c 'import json
users = {json.loads(l)["basic_user"] for l in open("basic.log")
         if json.loads(l)["method"] in ("POST", "PUT", "PATCH") and json.loads(l)["status"] < 400}
print(sorted(users))')" "['pusher']" "uploads carry the configured credentials"

# a registry with the referrers API lists the artifact itself: it says so in the manifest PUT's
# reply (OCI-Subject), or answers GET /v2/REPO/referrers/DIGEST; no referrers tag is written
faultserver_start api --upstream "http://$REGISTRY"
asked() { python3 -c 'import json, sys
print(sum(1 for l in open("api.log") if json.loads(l)["path"].find(sys.argv[1]) >= 0))' "$1"; }
python3 -c 'import json, sys; json.dump([{"path": "/manifests/v1$", "method": "PUT", "times": -1,
  "action": "add-headers", "headers": {"OCI-Subject": sys.argv[1]}}], open("api.faults", "w"))' \
  "$subject"
p=$("$BANGER" -q --cache-dir cache "$T/push.lua" "what=$key" "dest=$FRONT/api/put:v1")
expect_contains "$p" "referrers=api" "OCI-Subject in the PUT's reply: the registry lists it"
expect_eq "$(asked /referrers/) $(asked /manifests/sha256-)" "0 0" \
  "neither the referrers API nor the tag schema asked"
python3 -c 'import json, sys; json.dump([{"path": "/referrers/sha256:" + sys.argv[1] + "$",
  "method": "GET", "times": -1, "action": "serve",
  "content_type": "application/vnd.oci.image.index.v1+json", "body": json.dumps({
  "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": []})}], open("api.faults", "w"))' "${subject#sha256:}"
: >api.log
p=$("$BANGER" -q --cache-dir cache "$T/push.lua" "what=$key" "dest=$FRONT/api/get:v1")
expect_contains "$p" "referrers=api" "a referrers API that answers: the registry lists it"
expect_eq "$(asked /v2/api/get/referrers/)" "1" "the referrers API asked once"
expect_eq "$(asked /manifests/sha256-)" "0" "no referrers tag read or written"
skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/api/get:sha256-${subject#sha256:}" \
  >/dev/null 2>&1
expect_eq "$?" 1 "the registry holds no referrers tag there"
p=$("$BANGER" -q --cache-dir cache "$T/push.lua" "what=$key" "dest=$REGISTRY/api/tag:v1")
expect_contains "$p" "referrers=tag" "docker-registry's 404: the tag schema"

# the same build again: restored from the cache, identical, sparse, a valid ext4 the kernel reads
out=$("$BANGER" -q --json --cache-dir cache "$recipe" image=oci:demo:demo out=again.ext4)
expect_eq "$(jq cache <<<"$out")" "local" "the same key again: restored"
expect_eq "$(jq key <<<"$out")" "$key" "the same key"
cmp -s demo.ext4 again.ext4
expect_eq "$?" 0 "restored byte for byte"
expect_eq "$(python3 -c 'import json,sys; print("flatten" in json.load(sys.stdin)["timings"])' \
  <<<"$out")" "False" "nothing flattened"
# every all-zero block is a hole: no more allocated than the build wrote (the journal's zeros,
# which the writer allocates, become holes too)
expect_eq "$(( $(du -k again.ext4 | cut -f1) <= $(du -k demo.ext4 | cut -f1) ))" 1 \
  "the holes are restored (no more allocated than the build)"
expect_eq "$(python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); print(os.lseek(fd, 0, os.SEEK_HOLE) < os.fstat(fd).st_size)' \
  again.ext4)" "True" "a hole before the end"
e2fsck -fn again.ext4 >fsck.log 2>&1
expect_eq "$?" 0 "e2fsck -fn of the restored image"
mkdir mnt
if mount -o loop,ro again.ext4 mnt 2>mount.err; then
  expect_eq "$(stat -c '%a %u:%g' mnt/usr/local/bin/banger-vsock-agent)" "755 0:0" \
    "the kernel sees the agent in the restored image"
  expect_eq "$(stat -c '%a' mnt/tmp)" "1777" "and /tmp"
  umount mnt
else
  expect_eq "mount failed: $(cat mount.err)" "mounted" "loop mount of the restored image"
fi
ls -a | grep -q '\.tmp-' && expect_eq "temp files left" "none" "no temp file in the directory"

python3 "$T/checkregistry.py" "$REGISTRY" >registry.txt
expect_eq "$?" 0 "no manifest in the registry points at a missing blob"
finish
