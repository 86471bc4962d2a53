#!/bin/bash
# Local sources: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], copied
# into the cache through the same digest and size checks as a download.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need python3 skopeo tar
T="$BANGER_SOURCE_DIR/tests/tools"
field() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval(sys.argv[1]))" "$2"; }

python3 "$T/mkimage.py" src --tag a --random-layer 3000 --random-layer 4000 >a.json
python3 "$T/mkimage.py" src --tag multi --random-layer 1000 --seed 3 >/dev/null
python3 "$T/mkimage.py" src --tag multi --platform linux/arm64 --random-layer 2000 --seed 4 --append >arm.json
python3 "$T/mkimage.py" one --tag only --random-layer 500 --compress zstd --seed 9 >one.json

cat > pull.lua <<'LUA'
local oci = require "banger.oci"
local img, err, code = oci.pull(args.ref, { cache_dir = args.cache or "cache", progress = "none",
  platform = args.platform })
if not img then print("ERR " .. code .. " " .. err) return end
print("OK " .. img.digest .. " " .. img.ref .. " " .. img.platform)
for i, l in ipairs(img.layers) do print(i, l.digest, l.diff_id, l.media_type) end
LUA

out=$("$BANGER" pull.lua ref=oci:src:a)
expect_contains "$out" "OK $(field a.json "d['manifest']") oci:src:a linux/amd64" "oci:DIR:TAG"
expect_contains "$out" "2	$(field a.json "d['layers'][1]['digest']")	$(field a.json "d['layers'][1]['diff_id']")" "oci:DIR layers"
expect_eq "$(python3 "$T/checkcache.py" cache)" "" "oci:DIR: cache verified"
out=$("$BANGER" pull.lua ref=oci:one)
expect_contains "$out" "OK $(field one.json "d['manifest']") oci:one linux/amd64" "oci:DIR with one image needs no tag"
expect_contains "$out" "application/vnd.oci.image.layer.v1.tar+zstd" "oci:DIR zstd layer"
expect_eq "$("$BANGER" pull.lua ref=oci:src)" "ERR notfound pulling oci:src: the layout holds 2 images; name one as oci:src:NAME" "oci:DIR ambiguous"
expect_eq "$("$BANGER" pull.lua ref=oci:src:zzz)" "ERR notfound pulling oci:src:zzz: no image named 'zzz' in the layout" "oci:DIR unknown tag"
out=$("$BANGER" pull.lua ref=oci:src:multi platform=linux/arm64)
expect_contains "$out" "OK $(field arm.json "d['manifest']") oci:src:multi linux/arm64" "oci:DIR index by platform"

# OCI archive (a tar of a layout)
tar -C src -cf src.tar .
out=$("$BANGER" pull.lua ref=oci-archive:src.tar:a cache=cache2)
expect_contains "$out" "OK $(field a.json "d['manifest']") oci-archive:src.tar:a linux/amd64" "oci-archive"
expect_eq "$(python3 "$T/checkcache.py" cache2)" "" "oci-archive: cache verified"

# docker save format, written by skopeo (uncompressed layers, diff_id = digest)
skopeo copy -q oci:src:a docker-archive:d.tar:x/a:1 >/dev/null 2>&1
out=$("$BANGER" pull.lua ref=docker-archive:d.tar cache=cache3)
expect_contains "$out" "OK sha256:" "docker-archive"
expect_contains "$out" "1	$(field a.json "d['layers'][0]['diff_id']")	$(field a.json "d['layers'][0]['diff_id']")	application/vnd.docker.image.rootfs.diff.tar" "docker-archive layer 1 uncompressed"
expect_contains "$out" "2	$(field a.json "d['layers'][1]['diff_id']")	$(field a.json "d['layers'][1]['diff_id']")" "docker-archive layer 2"
out=$("$BANGER" pull.lua ref=docker-archive:d.tar:x/a:1 cache=cache3)
expect_contains "$out" "OK sha256:" "docker-archive by name"
expect_eq "$("$BANGER" pull.lua ref=docker-archive:d.tar:x/b:1 cache=cache3)" "ERR notfound pulling docker-archive:d.tar:x/b:1: no image tagged 'x/b:1' in the archive" "docker-archive unknown name"
expect_eq "$(python3 "$T/checkcache.py" cache3)" "" "docker-archive: cache verified"
out=$(skopeo inspect "oci:cache3:docker-archive:d.tar" 2>&1); rc=$?
expect_eq "$rc" 0 "skopeo reads a docker-archive import from the cache"

# tampered sources never reach the cache
l1=$(field a.json "d['layers'][0]['digest']")
python3 -c "
p='src/blobs/sha256/${l1#sha256:}'; b=bytearray(open(p,'rb').read()); b[100]^=1; open(p,'wb').write(b)"
out=$("$BANGER" pull.lua ref=oci:src:a cache=cache4)
expect_contains "$out" "ERR mismatch pulling oci:src:a: src/blobs/sha256/${l1#sha256:}: digest mismatch: expected $l1, got sha256:" "oci:DIR tampered blob"
expect_file_absent "cache4/blobs/sha256/${l1#sha256:}" "tampered blob not cached"
expect_eq "$(python3 "$T/checkcache.py" cache4)" "" "tampered: cache verified"
tar -C src -cf bad.tar .
out=$("$BANGER" pull.lua ref=oci-archive:bad.tar:a cache=cache5)
expect_contains "$out" "ERR mismatch pulling oci-archive:bad.tar:a: bad.tar: blobs/sha256/${l1#sha256:}: digest mismatch" "oci-archive tampered blob"
expect_eq "$(python3 "$T/checkcache.py" cache5)" "" "oci-archive tampered: cache verified"
printf 'not a tar' > junk.tar
expect_contains "$("$BANGER" pull.lua ref=oci-archive:junk.tar)" "ERR io pulling oci-archive:junk.tar: cannot open junk.tar: Unrecognized archive format" "not an archive"
finish
