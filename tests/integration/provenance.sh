#!/bin/bash
# The provenance record end to end: a two-layer image on a registry on loopback, built by the
# default recipe. OUT.intoto.json must pass the JSON schemas of an in-toto Statement v1 and a
# SLSA Provenance v1 predicate, and say what skopeo, sha256sum and the recipe file say: the
# image's name and sha256, the manifest's digest, each layer's blob digest and DiffID, the
# recipe's sha256, the injected files' sha256 (read back by debugfs). Two builds with
# SOURCE_DATE_EPOCH set write the same bytes; a record that cannot be written leaves no image.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need e2fsck debugfs python3 sha256sum
python3 -c 'import jsonschema' 2>/dev/null || { echo "python3-jsonschema is missing" >&2; exit 1; }
registry_start
export SOURCE_DATE_EPOCH=1700000000
cache=$PWD/cache
recipe=$BANGER_SOURCE_DIR/recipes/default.lua
schemas=$BANGER_SOURCE_DIR/tests/tools/schemas
check=$BANGER_SOURCE_DIR/tests/tools/checkschema.py

cat > base.spec <<'SPEC'
dir  /etc  0755 0 0
file /etc/os-release 0644 0 0 =ID=debian
dir  /usr  0755 0 0
SPEC
cat > top.spec <<'SPEC'
dir  /srv  0755 0 0
file /srv/hello 0644 0 0 =hello
SPEC
for l in base top; do
  python3 "$BANGER_SOURCE_DIR/tests/tools/mktar.py" $l.spec $l.tar || exit 1
done
python3 "$BANGER_SOURCE_DIR/tests/tools/mkimage.py" oci --tag 1 --layer base.tar --layer top.tar \
  --compress zstd >/dev/null || exit 1
registry_push oci 1 prov/img:1
image=$REGISTRY/prov/img:1

mkdir one two
(cd one && "$BANGER" --json --cache-dir "$cache" "$recipe" "image=$image" out=vm.ext4 \
  >../one.json 2>../one.err)
expect_eq "$?" 0 "the build ($(tail -3 one.err))"
fsck_clean one/vm.ext4 "the image"
expect_eq "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["provenance"])' \
  one.json)" "vm.ext4.intoto.json" "--json names the record"
rec=one/vm.ext4.intoto.json

# the schemas: the record passes, and a record missing a required field does not
python3 "$check" "$schemas/in-toto-statement-v1.json" "$rec"
expect_eq "$?" 0 "the in-toto Statement v1 schema"
python3 "$check" "$schemas/slsa-provenance-v1.json" "$rec" predicate
expect_eq "$?" 0 "the SLSA Provenance v1 schema"
python3 - "$rec" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
a = json.loads(json.dumps(d)); del a["subject"][0]["digest"]; json.dump(a, open("bad1.json", "w"))
b = json.loads(json.dumps(d)); del b["predicate"]["buildDefinition"]["buildType"]
json.dump(b, open("bad2.json", "w"))
c = json.loads(json.dumps(d)); c["predicate"]["runDetails"]["metadata"]["startedOn"] = "yesterday"
json.dump(c, open("bad3.json", "w"))
PY
expect_contains "$(python3 "$check" "$schemas/in-toto-statement-v1.json" bad1.json)" \
  "subject/0: 'digest' is a required property" "the Statement schema catches a missing digest"
expect_contains "$(python3 "$check" "$schemas/slsa-provenance-v1.json" bad2.json predicate)" \
  "'buildType' is a required property" "the SLSA schema catches a missing buildType"
python3 "$check" "$schemas/slsa-provenance-v1.json" bad3.json predicate >/dev/null
expect_eq "$?" 1 "the SLSA schema catches a time that is no RFC 3339 time"

# what the record says against what skopeo, sha256sum and debugfs say
skopeo inspect --tls-verify=false "docker://$image" >inspect.json || exit 1
skopeo inspect --tls-verify=false --config "docker://$image" >config.json || exit 1
debugfs -R "dump /usr/local/bin/banger-vsock-agent agent.bin" one/vm.ext4 >/dev/null 2>&1
debugfs -R "dump /usr/local/libexec/banger-first-boot first-boot.bin" one/vm.ext4 >/dev/null 2>&1
expect_eq "$(python3 - "$rec" "$recipe" "$REGISTRY" <<'PY'
import hashlib, json, sys
rec, recipe, registry = sys.argv[1:4]
d = json.load(open(rec))
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
insp, conf = json.load(open("inspect.json")), json.load(open("config.json"))
out = []
out.append(d["subject"] == [{"name": "vm.ext4", "digest": {"sha256": sha("one/vm.ext4")}}])
bd = d["predicate"]["buildDefinition"]
out.append(bd["buildType"].startswith("urn:banger-build:"))
out.append(bd["externalParameters"] == {"recipe": recipe, "args": {
    "image": registry + "/prov/img:1", "out": "vm.ext4"}})
deps = bd["resolvedDependencies"]
out.append(deps[0]["uri"] == "docker://%s/prov/img:1" % registry)
out.append("sha256:" + deps[0]["digest"]["sha256"] == insp["Digest"])
layers = [x for x in deps if x["name"].startswith("layer ")]
out.append(["sha256:" + x["digest"]["sha256"] for x in layers] == insp["Layers"])
out.append([x["annotations"]["diffID"] for x in layers] == conf["rootfs"]["diff_ids"])
out.append(all(x["mediaType"].endswith("+zstd") for x in layers))
r = [x for x in deps if x["name"] == "recipe"]
out.append(r == [{"name": "recipe", "uri": "file:" + recipe, "digest": {"sha256": sha(recipe)}}])
by = {x["annotations"]["path"]: x for x in deps if "annotations" in x and "path" in x["annotations"]}
out.append(by["/usr/local/bin/banger-vsock-agent"]["name"] == "agent" and
           by["/usr/local/bin/banger-vsock-agent"]["digest"]["sha256"] == sha("agent.bin"))
out.append(by["/usr/local/libexec/banger-first-boot"]["digest"]["sha256"] == sha("first-boot.bin"))
key = json.load(open("one.json"))["key"]
out.append(bd["internalParameters"] == {"platform": "linux/amd64", "key": key} and
           key.startswith("sha256:"))
md = d["predicate"]["runDetails"]["metadata"]
out.append(md == {"startedOn": "2023-11-14T22:13:20Z", "finishedOn": "2023-11-14T22:13:20Z"})
print(" ".join(str(x) for x in out))
PY
)" "True True True True True True True True True True True True True" \
  "the record agrees with the image file, skopeo, the recipe and the injected files"

# two identical builds: identical records, the second restored from the first's artifact
(cd two && "$BANGER" --json --cache-dir "$cache" "$recipe" "image=$image" out=vm.ext4 \
  >../two.json 2>../two.err)
expect_eq "$?" 0 "the second build ($(tail -3 two.err))"
expect_eq "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["cache"])' two.json)" \
  local "the second build is restored from the cache"
cmp -s one/vm.ext4.intoto.json two/vm.ext4.intoto.json
expect_eq "$?" 0 "two identical builds with SOURCE_DATE_EPOCH write identical records"
(cd two && "$BANGER" -q --cache-dir "$cache" "$recipe" "image=$image" out=vm.ext4 cache=off \
  2>../three.err)
expect_eq "$?" 0 "a third build, not restored ($(tail -3 three.err))"
cmp -s one/vm.ext4.intoto.json two/vm.ext4.intoto.json
expect_eq "$?" 1 "cache=off is another argument: another record"
expect_eq "$(python3 -c '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
da, db = (x["predicate"]["buildDefinition"] for x in (a, b))
print(a["subject"] == b["subject"], da["resolvedDependencies"] == db["resolvedDependencies"],
      db["externalParameters"]["args"]["cache"])' one/vm.ext4.intoto.json two/vm.ext4.intoto.json)" \
  "True True off" "built again: the same image from the same dependencies"

# provenance=0 writes none; a record that cannot be written fails the build and leaves no image
"$BANGER" -q --cache-dir "$cache" "$recipe" "image=$image" out=$PWD/none.ext4 provenance=0 \
  2>none.err
expect_eq "$?" 0 "a build without a record"
expect_file_absent none.ext4.intoto.json "provenance=0 writes no record"
mkdir bad.ext4.intoto.json
"$BANGER" -q --cache-dir "$cache" "$recipe" "image=$image" out=$PWD/bad.ext4 2>bad.err
expect_eq "$?" 1 "a record that cannot be written fails the build"
expect_contains "$(cat bad.err)" "bad.ext4.intoto.json" "the error names the record"
expect_file_absent bad.ext4 "no image without its record"
expect_eq "$(ls -A | grep -c '\.tmp-')" 0 "no temporary file left"
finish
