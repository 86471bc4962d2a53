#!/bin/bash
# The registry client against a hostile or broken server: a fault-injecting front
# (tests/tools/faultserver.py) before a real registry. After every case the cache must hold
# only whole, verified blobs and no temp file.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need python3
registry_start
T="$BANGER_SOURCE_DIR/tests/tools"
export BANGER_OCI_BACKOFF_SCALE=0.01

python3 "$T/mkimage.py" src --tag img --random-layer 200000 --random-layer 300000 >img.json
registry_push src img x/img:1
registry_push src img x/missing-not:1
field() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval(sys.argv[1]))" "$2"; }
L1=$(field img.json "d['layers'][0]['digest']")
L2=$(field img.json "d['layers'][1]['digest']")
MANIFEST=$(field img.json "d['manifest']")

faultserver_start front --upstream "http://$REGISTRY" --auth
F=$FRONT
faultserver_start other --upstream "http://$REGISTRY"
PORT_other=$FRONT_PORT

PULL="$BANGER_SOURCE_DIR/tests/tools/pull.lua"

echo 0 > pulls
pull() { # ref -> output of one pull into a fresh cache (cache-N; runs in a subshell)
  local n=$(($(cat pulls) + 1))
  echo $n > pulls
  "$BANGER" "$PULL" ref="$1" cache="cache-$n" 2>&1
}
faults() { printf '%s' "$1" > front.faults; : > front.log; : > other.log; }
cache_clean() { # what: checks the cache of the last pull
  local out
  CACHE=cache-$(cat pulls)
  out=$(python3 "$T/checkcache.py" "$CACHE"); expect_eq "$out" "" "$1: cache holds only verified blobs"
}
count() { # log python-condition-on-e
  python3 -c "
import json,sys
n=0
for line in open('$1'):
    e=json.loads(line)
    if $2: n+=1
print(n)"
}

# the happy path through the front: anonymous Bearer flow
faults '[]'
expect_eq "$(pull "$F/x/img:1")" "OK $MANIFEST" "through the front"
expect_eq "$(count front.log "e['path'].startswith('/token')")" 1 "one token request"
cache_clean "happy path"

# a blob cut short (Content-Length promised more): resumed with Range
faults '[{"path": "/blobs/'"$L2"'", "action": "truncate"}]'
expect_eq "$(pull "$F/x/img:1")" "OK $MANIFEST" "truncated blob: pull succeeds"
expect_eq "$(count front.log "'$L2' in e['path'] and (e['range'] or '').startswith('bytes=150')")" 1 "truncated blob: resumed from byte 150..."
cache_clean "truncated blob"

# a complete but short reply: also resumed
faults '[{"path": "/blobs/'"$L2"'", "action": "short"}]'
expect_eq "$(pull "$F/x/img:1")" "OK $MANIFEST" "short blob: pull succeeds"
cache_clean "short blob"

# connection reset mid-blob, then resume
faults '[{"path": "/blobs/'"$L1"'", "action": "reset"}]'
expect_eq "$(pull "$F/x/img:1")" "OK $MANIFEST" "reset mid-blob: pull succeeds"
expect_eq "$(count front.log "'$L1' in e['path'] and e['range'] is not None and e['status'] == 206")" 1 "reset: a 206 resume"
cache_clean "reset"

# reset, then a server that ignores Range: the 200 restarts the file and the hash
faults '[{"path": "/blobs/'"$L1"'", "action": "reset"},
         {"path": "/blobs/'"$L1"'", "action": "ignore-range", "range_only": true, "times": -1}]'
expect_eq "$(pull "$F/x/img:1")" "OK $MANIFEST" "ignored Range: pull succeeds"
expect_eq "$(count front.log "'$L1' in e['path'] and e['range'] is not None and e['status'] == 200")" 1 "ignored Range: a 200 to a Range request"
cache_clean "ignored Range"

# layers download in parallel: two blobs that each take 3 s finish in well under 6 s (the slack
# leaves room for a loaded machine; one after the other cannot take less than 6 s)
faults '[{"path": "/blobs/sha256:[0-9a-f]+$", "action": "delay", "seconds": 3, "times": -1}]'
t0=$(date +%s.%N)
expect_eq "$(pull "$F/x/img:1")" "OK $MANIFEST" "slow blobs: pull succeeds"
t1=$(date +%s.%N)
expect_eq "$(python3 -c "print('parallel' if $t1 - $t0 < 5.0 else 'sequential %.2f s' % ($t1 - $t0))")" parallel "layers download at once"

# a flipped byte: never reaches the cache
faults '[{"path": "/blobs/'"$L1"'", "action": "flip", "times": -1}]'
out=$(pull "$F/x/img:1")
expect_contains "$out" "ERR mismatch pulling $F/x/img:1: blob $L1: digest mismatch: expected $L1, got sha256:" "flipped byte"
expect_file_absent "cache-$(cat pulls)/blobs/sha256/${L1#sha256:}" "flipped byte: no blob"
cache_clean "flipped byte"

# 500 then success
faults '[{"path": "/blobs/'"$L1"'", "action": "status", "code": 500}]'
expect_eq "$(pull "$F/x/img:1")" "OK $MANIFEST" "500 then success"
expect_eq "$(count front.log "'$L1' in e['path']")" 2 "500: asked twice"
cache_clean "500"

# always 503: bounded retries and a clear message
faults '[{"path": "/manifests/", "action": "status", "code": 503, "times": -1, "body": "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"try later\"}]}"}]'
expect_eq "$(pull "$F/x/img:1")" "ERR network pulling $F/x/img:1: manifest from $F: HTTP 503: try later (gave up after 5 attempts)" "503 forever"
expect_eq "$(count front.log "'/manifests/' in e['path'] and e['status'] == 503")" 5 "503: five attempts"

# 429 with Retry-After: 1 is honoured (the backoff scale does not shorten it)
faults '[{"path": "/blobs/'"$L2"'", "action": "status", "code": 429, "headers": {"Retry-After": "1"}}]'
expect_eq "$(pull "$F/x/img:1")" "OK $MANIFEST" "429 then success"
gap=$(python3 -c "
import json
t=[json.loads(l)['time'] for l in open('front.log') if '$L2' in l]
print('ok' if len(t)==2 and t[1]-t[0] >= 0.95 else 'gap %r' % t)")
expect_eq "$gap" ok "429: waited Retry-After seconds"
cache_clean "429"

# blobs redirected to another host: no Authorization arrives there
faults '[{"path": "/blobs/", "action": "redirect", "location": "http://127.0.0.1:'"$PORT_other"'", "times": -1}]'
expect_eq "$(pull "$F/x/img:1")" "OK $MANIFEST" "redirect: pull succeeds"
expect_eq "$(count other.log "'/blobs/' in e['path']")" 3 "redirect: blobs fetched from the other host"
expect_eq "$(count other.log "e['authorization']")" 0 "redirect: no Authorization to the other host"
expect_eq "$(count front.log "'/blobs/' in e['path'] and e['authorization']")" 3 "redirect: Authorization to the registry"
cache_clean "redirect"

# a token that dies before the client expected: 401, a fresh token, success
faults '[{"token_ttl": 1}, {"path": "/manifests/", "action": "delay", "seconds": 1.3}]'
expect_eq "$(pull "$F/x/img:1")" "OK $MANIFEST" "expired token: refreshed"
expect_eq "$(count front.log "e['path'].startswith('/token')")" 2 "expired token: two token requests"
cache_clean "expired token"

# a token whose expires_in has run out is refreshed before it is used
faults '[{"token_ttl": 1, "expires_in": 1}, {"path": "/manifests/", "action": "delay", "seconds": 1.3}]'
expect_eq "$(pull "$F/x/img:1")" "OK $MANIFEST" "expires_in: refreshed"
expect_eq "$(count front.log "'/blobs/' in e['path'] and e['status'] == 401")" 0 "expires_in: refreshed before use"

# 401 after a fresh token: not found or not authorised; 403 is final
faults '[{"deny": ["x/missing"], "forbid": ["x/secret"]}]'
expect_eq "$(pull "$F/x/missing:1")" "ERR notfound pulling $F/x/missing:1: repository x/missing not found or not authorised (HTTP 401: authentication required)" "401 with a fresh token"
expect_eq "$(count front.log "e['path'].startswith('/token')")" 1 "401: one token request only"
expect_eq "$(pull "$F/x/secret:1")" "ERR network pulling $F/x/secret:1: access to x/secret denied (HTTP 403: requested access to the resource is denied)" "403"
expect_eq "$(count front.log "'x/secret' in e['path']")" 2 "403: not retried"

# hostile replies: caps and checks
python3 -c "print('{\"schemaVersion\":2,\"x\":\"' + 'a'*(4<<20) + '\"}')" > big.json
faults '[{"path": "/manifests/", "action": "serve", "body_file": "big.json", "content_type": "application/vnd.oci.image.manifest.v1+json"}]'
expect_eq "$(pull "$F/x/img:1")" "ERR toobig pulling $F/x/img:1: manifest: response larger than 4194304 bytes" "manifest cap"
faults '[{"path": "/token", "action": "serve", "body_file": "big.json"}]'
expect_eq "$(pull "$F/x/img:1")" "ERR toobig pulling $F/x/img:1: token reply from http://$F: response larger than 1048576 bytes" "token reply cap"
faults '[{"path": "/manifests/", "action": "big-headers"}]'
expect_eq "$(pull "$F/x/img:1")" "ERR toobig pulling $F/x/img:1: manifest: response headers exceed 65536 bytes" "header cap"
faults '[{"path": "/manifests/", "action": "serve", "body": "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}", "content_type": "application/vnd.docker.distribution.manifest.list.v2+json"}]'
expect_eq "$(pull "$F/x/img:1")" "ERR invalid pulling $F/x/img:1: manifest mediaType application/vnd.oci.image.index.v1+json disagrees with Content-Type application/vnd.docker.distribution.manifest.list.v2+json" "mediaType vs Content-Type"
faults '[{"path": "/manifests/", "action": "serve", "body": "{\"schemaVersion\":1,\"name\":\"x/img\",\"fsLayers\":[]}", "content_type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}]'
expect_eq "$(pull "$F/x/img:1")" "ERR invalid pulling $F/x/img:1: Docker schema 1 manifests (application/vnd.docker.distribution.manifest.v1+prettyjws) are not supported; push the image again with a current client" "schema 1"
faults '[{"path": "/manifests/", "action": "serve", "body": "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:../../../../etc/passwd\",\"size\":1},\"layers\":[]}", "content_type": "application/vnd.oci.image.manifest.v1+json"}]'
expect_eq "$(pull "$F/x/img:1")" "ERR invalid pulling $F/x/img:1: config 0: invalid digest 'sha256:../../../../etc/passwd': expected 64 hex digits" "digest validated before use"
expect_eq "$(count front.log "'/blobs/' in e['path']")" 0 "bad digest: never requested"
# a manifest whose bytes do not match the digest asked for
faults '[{"path": "/manifests/sha256:", "action": "flip", "offset": 30}]'
expect_contains "$(pull "$F/x/img@$MANIFEST")" "ERR mismatch pulling $F/x/img@$MANIFEST: manifest digest mismatch: expected $MANIFEST, got sha256:" "manifest digest checked"
# a blob longer than its descriptor says
faults '[{"path": "/blobs/'"$L1"'", "action": "serve", "body_file": "big.json", "content_type": "application/octet-stream"}]'
expect_eq "$(pull "$F/x/img:1")" "ERR mismatch pulling $F/x/img:1: blob $L1: blob is larger than the 200$(field img.json "str(d['layers'][0]['size'])[3:]") bytes its descriptor gives" "oversized blob"
cache_clean "oversized blob"
# a token realm on plain http to a non-loopback host is refused before any connection
faults '[{"path": "/v2/", "action": "status", "code": 401, "before_auth": true, "headers": {"WWW-Authenticate": "Bearer realm=\"http://auth.invalid/token\",service=\"x\""}}]'
expect_eq "$(pull "$F/x/img:1")" "ERR network pulling $F/x/img:1: refusing to fetch a token over plain http from http://auth.invalid" "plain http realm refused"

# a pull killed half-way leaves only whole blobs; the next pull completes
faults '[{"path": "/blobs/'"$L2"'", "action": "delay", "seconds": 5}]'
"$BANGER" "$PULL" ref="$F/x/img:1" cache=cache-killed >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do
  [ "$(count front.log "'$L2' in e['path']")" = 0 ] || break
  sleep 0.05
done
sleep 0.3
kill -9 $pid; wait $pid 2>/dev/null
out=$(python3 "$T/checkcache.py" cache-killed --allow-tmp)
expect_eq "$out" "" "killed pull: only verified blobs under blob names"
faults '[]'
expect_eq "$("$BANGER" "$PULL" ref="$F/x/img:1" cache=cache-killed 2>&1)" "OK $MANIFEST" "pull after a kill"
finish
