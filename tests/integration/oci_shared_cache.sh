#!/bin/bash
# A cache shared with other users and tools cannot be turned against a pull, verify or gc:
# planted symlinks (temp names, the lock, blobs/sha256, a blob pointing at /dev/zero), FIFOs,
# and damaged index.json entries, which pull = "missing" resolves again and verify repairs.
# skopeo and umoci still read the cache afterwards.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need python3 timeout umoci skopeo
registry_start
T="$BANGER_SOURCE_DIR/tests/tools"
export BANGER_OCI_BACKOFF_SCALE=0.01
field() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval(sys.argv[1]))" "$2"; }
python3 "$T/mkimage.py" src --tag a --random-layer 3000 --random-layer 4000 >a.json
registry_push src a x/a:1
REF=$REGISTRY/x/a:1
OK="OK $(field a.json "d['manifest']")"
L1=$(field a.json "d['layers'][0]['digest'][7:]")
CFG=$(field a.json "d['config'][7:]")

PULL="$BANGER_SOURCE_DIR/tests/tools/pull.lua"
cat > upkeep.lua <<'LUA'
local oci = require "banger.oci"
local removed, repaired = oci[args.op](args.cache or "cache")
if not removed then print("ERR " .. repaired) return end
table.sort(removed)
print(table.concat(removed, " "))
for _, line in ipairs(repaired or {}) do print("repaired: " .. line) end
LUA
pull() {
  local p=pull=missing
  case " $* " in *" pull="*) p= ;; esac
  timeout 60 "$BANGER" "$PULL" ref="$REF" $p "$@" 2>pull.err
}
upkeep() { timeout 60 "$BANGER" upkeep.lua "$@" 2>&1; }
echo precious > victim

# a symlink planted under the name index.json's temp file once had (.index.json.tmp-PID): the
# pull with that PID writes nothing through it
expect_eq "$(pull)" "$OK" "first pull"
# (exec keeps the PID: the pull is the process the name was planted for)
out=$(timeout 60 bash -c 'ln -s "$PWD/victim" cache/.index.json.tmp-$$ && exec "$0" "$2" ref="$1" pull=always' "$BANGER" "$REF" "$PULL" 2>&1)
expect_eq "$out" "$OK" "planted temp symlink: the pull succeeds"
expect_eq "$(cat victim)" "precious" "planted temp symlink: its target is untouched"
rm -f cache/.index.json.tmp-*
# the lock as a symlink: removed, never opened through
rm cache/.lock && ln -s "$PWD/victim" cache/.lock
expect_eq "$(pull pull=always)" "$OK" "planted lock symlink: the pull succeeds"
expect_eq "$(cat victim)" "precious" "planted lock symlink: its target is untouched"
expect_eq "$([ -L cache/.lock ] && echo link || echo file)" file "planted lock symlink: replaced"

# a blob that is a symlink to /dev/zero, or a FIFO: never read through, fetched again
rm "cache/blobs/sha256/$L1" && ln -s /dev/zero "cache/blobs/sha256/$L1"
expect_eq "$(pull)" "$OK" "blob symlinked to /dev/zero: fetched again"
expect_eq "$([ -f "cache/blobs/sha256/$L1" ] && [ ! -L "cache/blobs/sha256/$L1" ] && echo regular)" regular "blob symlinked to /dev/zero: now a regular file"
rm "cache/blobs/sha256/$L1" && mkfifo "cache/blobs/sha256/$L1"
expect_eq "$(pull)" "$OK" "blob that is a FIFO: fetched again"
rm "cache/blobs/sha256/$CFG" && ln -s /dev/zero "cache/blobs/sha256/$CFG"
expect_eq "$(upkeep op=verify_cache)" "sha256:$CFG" "verify: a symlinked blob is removed, not followed"

# blobs/sha256 (or blobs) as a symlink to another directory: the cache is refused, and
# nothing in that directory is touched by verify or gc
mkdir -p elsewhere && echo keep > elsewhere/precious && echo junk > elsewhere/not-a-blob
mkdir -p c2/blobs && ln -s "$PWD/elsewhere" c2/blobs/sha256
for op in verify_cache gc; do
  expect_eq "$(upkeep op=$op cache=c2)" "ERR $PWD/c2/blobs/sha256 is not a directory (a symlink): refusing to use the cache" "$op: symlinked blobs/sha256 refused"
done
expect_contains "$(pull cache=c2)" "is not a directory (a symlink): refusing to use the cache" "pull: symlinked blobs/sha256 refused"
expect_eq "$(ls elsewhere | tr '\n' ' ')" "not-a-blob precious " "symlinked blobs/sha256: its target is untouched"
mkdir -p c3 && ln -s "$PWD/elsewhere" c3/blobs
expect_eq "$(upkeep op=gc cache=c3)" "ERR $PWD/c3/blobs is not a directory (a symlink): refusing to use the cache" "symlinked blobs refused"

# damaged index.json entries: pull = "missing" resolves them again instead of failing
entry() { # python statement on e, the entry of x/a:1
  python3 - "$1" <<'PY'
import json, sys
d = json.load(open("cache/index.json"))
e = d["manifests"][0]
exec(sys.argv[1])
json.dump(d, open("cache/index.json", "w"))
PY
}
damage() { # what python-statement warning
  entry "$2"
  expect_eq "$(pull)" "$OK" "$1: pull resolves it again"
  expect_eq "$(cat pull.err)" "banger-build: warning: $REF: the cache's copy is damaged ($3): resolving it again" "$1: said so"
  expect_eq "$(pull pull=never)" "$OK" "$1: and records it right"
}
entry "e['digest'] = 'sha256:' + '0' * 64"
expect_eq "$(pull)" "$OK" "entry naming a missing manifest: fetched again"
damage "entry naming the config as its manifest" "e['digest'] = 'sha256:$CFG'; e['size'] = $(stat -c %s "cache/blobs/sha256/$CFG")" "manifest has schemaVersion 0, expected 2"
damage "entry with a wrong mediaType" "e['mediaType'] = 'application/vnd.docker.distribution.manifest.list.v2+json'" "manifest mediaType application/vnd.oci.image.manifest.v1+json disagrees with Content-Type application/vnd.docker.distribution.manifest.list.v2+json"
damage "entry with an invalid digest" "e['digest'] = 'sha256:zzz'" "its index entry has no valid digest"
SIZE=$(field cache/index.json "d['manifests'][0]['size']")
damage "entry with a wrong size" "e['size'] = e['size'] + 1" "its index entry gives $((SIZE + 1)) bytes for a manifest of $SIZE"
head -c 60 cache/index.json > idx && mv idx cache/index.json
expect_eq "$(pull)" "$OK" "truncated index.json: pull resolves it again"
expect_contains "$(cat pull.err)" "index.json is damaged: invalid JSON at byte 60: " "truncated index.json: said so"
expect_eq "$(pull pull=never)" "$OK" "truncated index.json: rewritten"
expect_eq "$(pull pull=never cache=c4)" "ERR notfound pulling $REF: not in the cache $PWD/c4 and pull is \"never\"" "pull = never, not cached"
printf '{"x' > c4/index.json
expect_eq "$(pull pull=never cache=c4)" "ERR notfound pulling $REF: not in the cache $PWD/c4 ($PWD/c4/index.json is damaged: invalid JSON at byte 3: premature end of input near '\"x') and pull is \"never\"" "pull = never says the index is damaged"

# verify reports and repairs: a wrong mediaType or size is corrected, an entry whose manifest
# is gone is dropped, a damaged index.json is replaced
entry "e['mediaType'] = 'application/vnd.docker.distribution.manifest.v2+json'"
out=$(upkeep op=verify_cache)
expect_eq "$out" "
repaired: index.json entry $REF (linux/amd64): mediaType corrected to application/vnd.oci.image.manifest.v1+json" "verify: wrong mediaType corrected"
expect_eq "$(upkeep op=verify_cache)" "" "verify again: nothing to do"
entry "e['size'] = 5"
expect_eq "$(upkeep op=verify_cache)" "
repaired: index.json entry $REF (linux/amd64): size corrected to $SIZE" "verify: wrong size corrected"
expect_eq "$(pull pull=never)" "$OK" "verify: the corrected entry serves pull = never"
entry "e['digest'] = 'sha256:' + '0' * 64"
expect_eq "$(upkeep op=verify_cache)" "
repaired: index.json entry $REF (linux/amd64): manifest sha256:$(printf '0%.0s' $(seq 64)) is missing; entry removed" "verify: entry with a missing manifest dropped"
expect_eq "$(field cache/index.json "len(d['manifests'])")" 0 "verify: the entry is gone"
expect_eq "$(pull)" "$OK" "after verify: pulled again"
printf 'not json' > cache/index.json
expect_eq "$(upkeep op=gc)" "ERR $PWD/cache/index.json is damaged (invalid JSON at byte 3: invalid token near 'not'): run verify first, gc cannot tell which blobs are in use" "gc refuses a damaged index"
expect_eq "$(ls cache/blobs/sha256 | wc -l)" 4 "gc with a damaged index: no blob removed"
expect_eq "$(upkeep op=verify_cache)" "
repaired: index.json was damaged (invalid JSON at byte 3: invalid token near 'not'): replaced by an empty index" "verify: damaged index.json replaced"
expect_eq "$(pull)" "$OK" "after verify: pulled again"

# other tools still read the cache
out=$(skopeo inspect "oci:cache:$REF" 2>&1); rc=$?
expect_eq "$rc" 0 "skopeo inspect oci:cache:NAME"
expect_contains "$(umoci ls --layout cache 2>&1)" "$REF" "umoci ls"
expect_eq "$(python3 "$T/checkcache.py" cache)" "" "cache holds only verified blobs"
finish
