#!/bin/bash
# Every transfer ends, and what a registry says cannot reach the terminal raw: trickling and
# stuck servers, error bodies without end, oversized headers, descriptors claiming huge
# sizes, a token refresh that must not hold up other downloads, and escape sequences in
# headers and error bodies. A fault-injecting front (tests/tools/faultserver.py) before
# Debian's docker-registry. Time limits are scaled down with BANGER_OCI_TIMEOUT_SCALE so the
# cases take seconds; every pull runs under `timeout`, so a regression fails instead of hanging.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need python3 timeout
registry_start
T="$BANGER_SOURCE_DIR/tests/tools"
export BANGER_OCI_BACKOFF_SCALE=0.01

python3 "$T/mkimage.py" src --tag img --random-layer 2000 --random-layer 3000 >img.json
python3 "$T/mkimage.py" src --tag four --random-layer 1000 --random-layer 1100 \
  --random-layer 1200 --random-layer 1300 --seed 4 >four.json
echo 'file f 0644 0 0 =hello' > same.spec
python3 "$T/mktar.py" same.spec same.tar
python3 "$T/mkimage.py" src --tag thrice --layer same.tar --layer same.tar --layer same.tar \
  --seed 5 >thrice.json
registry_push src img x/img:1
registry_push src four x/four:1
registry_push src thrice x/thrice:1
field() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval(sys.argv[1]))" "$2"; }
L1=$(field img.json "d['layers'][0]['digest']")
MANIFEST=$(field img.json "d['manifest']")

faultserver_start front --upstream "http://$REGISTRY" --auth
F=$FRONT

PULL="$BANGER_SOURCE_DIR/tests/tools/pull.lua"
echo 0 > pulls
# pull REF [VAR=VALUE...]: one pull into a fresh cache, at most 60 s; sets SECS
pull() {
  local n=$(($(cat pulls) + 1)) ref=$1 t0 t1
  shift
  echo $n > pulls
  t0=$(date +%s.%N)
  env "$@" timeout 60 "$BANGER" "$PULL" ref="$ref" cache="cache-$n" 2>&1 || true
  t1=$(date +%s.%N)
  python3 -c "print('%.1f' % ($t1 - $t0))" > secs
}
no_escape() { # text what: no raw ESC reached the output
  case "$1" in
    *$'\033'*) expect_eq "raw ESC" "escaped" "$2" ;;
    *) expect_eq ok ok "$2" ;;
  esac
}
secs_under() { # limit what
  expect_eq "$(python3 -c "print('ok' if $(cat secs) < $1 else 'took $(cat secs) s')")" ok "$2"
}
faults() { printf '%s' "$1" > front.faults; : > front.log; }
count() { # python-condition-on-e
  python3 -c "
import json
print(sum(1 for l in open('front.log') if (lambda e: $1)(json.loads(l))))"
}
FAST=BANGER_OCI_TIMEOUT_SCALE=0.05 # stall window 1 s, deadlines 1.5 s

# a blob trickling one byte every 0.8 s: each attempt is cut by the stall limit, resumed, and
# the pull gives up after 5 attempts (defaults: under 1 KiB/s for 20 s, about 2 minutes)
faults '[{"path": "/blobs/'"$L1"'", "action": "trickle", "interval": 0.8, "times": -1}]'
out=$(pull "$F/x/img:1" $FAST)
expect_eq "$out" "ERR network pulling $F/x/img:1: blob $L1 from $F: stalled: under 1024 bytes/s for 1 s (gave up after 5 attempts)" "trickling blob: a failed attempt each time"
expect_eq "$(count "'$L1' in e['path']")" 5 "trickling blob: five attempts"
expect_eq "$(count "'$L1' in e['path'] and e['range'] is not None")" 4 "trickling blob: resumed where it stopped"
secs_under 20 "trickling blob: the pull ends in seconds"
# a registry that answers nothing at all
faults '[{"path": "/manifests/", "action": "hang", "times": -1}]'
out=$(pull "$F/x/img:1" $FAST)
expect_contains "$out" "ERR network pulling $F/x/img:1: manifest from $F: " "stuck registry: named"
expect_contains "$out" "(gave up after 5 attempts)" "stuck registry: bounded attempts"
secs_under 20 "stuck registry: the pull ends in seconds"
# a manifest trickled slowly but above the stall limit still meets its deadline
python3 -c "print('{\"schemaVersion\":2,\"x\":\"' + 'a'*4000 + '\"}')" > slow.json
faults '[{"path": "/manifests/", "action": "trickle", "interval": 0.0005, "body": "'"$(cat slow.json | tr -d '\n' | sed 's/"/\\"/g')"'", "times": -1}]'
out=$(pull "$F/x/img:1" BANGER_OCI_TIMEOUT_SCALE=0.02)
expect_contains "$out" "ERR network pulling $F/x/img:1: manifest from $F: no complete reply within 0." "slow manifest: the deadline"
secs_under 20 "slow manifest: the pull ends in seconds"

# error bodies without end are read up to their cap, then the status decides
faults '[{"path": "/manifests/", "action": "endless", "code": 404}]'
expect_eq "$(pull "$F/x/img:1")" "ERR notfound pulling $F/x/img:1: manifest unknown (HTTP 404)" "endless 404 body"
secs_under 20 "endless 404 body: stops at the cap"
faults '[{"path": "/blobs/'"$L1"'", "action": "endless", "code": 500, "times": -1}]'
expect_eq "$(pull "$F/x/img:1")" "ERR network pulling $F/x/img:1: blob $L1 from $F: HTTP 500 (gave up after 5 attempts)" "endless 500 body: retried, each cut at the cap"
secs_under 20 "endless 500 body: the pull ends in seconds"
faults '[{"path": "/v2/", "action": "endless", "code": 401, "before_auth": true, "headers": {"WWW-Authenticate": "Bearer realm=\"http://'"$F"'/token\",service=\"faults\""}}]'
expect_eq "$(pull "$F/x/img:1")" "OK $MANIFEST" "endless 401 body: the challenge is answered"
faults '[{"path": "/blobs/'"$L1"'", "action": "endless", "code": 307, "headers": {"Location": "http://'"$F"'/v2/x/img/blobs/'"$L1"'"}}]'
expect_eq "$(pull "$F/x/img:1")" "OK $MANIFEST" "endless 307 body: the redirect is followed"
faults '[{"path": "^/token", "action": "endless", "code": 500, "times": -1}]'
expect_eq "$(pull "$F/x/img:1")" "ERR network pulling $F/x/img:1: token reply from http://$F: HTTP 500 (gave up after 5 attempts)" "endless token error body"
secs_under 20 "endless token error body: the pull ends in seconds"

# one header line of 1 MiB: said so, and not retried
faults '[{"path": "/manifests/", "action": "huge-header", "times": -1}]'
expect_eq "$(pull "$F/x/img:1")" "ERR toobig pulling $F/x/img:1: manifest: response headers exceed 65536 bytes" "1 MiB header line"
expect_eq "$(count "'/manifests/' in e['path'] and e['authorization']")" 1 "1 MiB header line: asked once"

# descriptor sizes are checked against the caps before a byte is fetched
HEX=$(printf 'a%.0s' $(seq 64))
faults '[{"path": "/manifests/", "action": "serve", "content_type": "application/vnd.oci.image.manifest.v1+json", "body": "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:'"$HEX"'\",\"size\":10737418240},\"layers\":[]}"}]'
expect_eq "$(pull "$F/x/img:1")" "ERR toobig pulling $F/x/img:1: config sha256:$HEX is 10737418240 bytes (10.0 GiB), over the 16.0 MiB cap" "10 GiB config refused"
expect_eq "$(count "'/blobs/' in e['path']")" 0 "10 GiB config: not a byte fetched"
faults '[{"path": "/manifests/1", "action": "serve", "content_type": "application/vnd.oci.image.index.v1+json", "body": "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:'"$HEX"'\",\"size\":5242880,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}"}]'
expect_eq "$(pull "$F/x/img:1")" "ERR toobig pulling $F/x/img:1: manifest sha256:$HEX is 5242880 bytes (5.0 MiB), over the 4.0 MiB cap" "5 MiB manifest refused"
expect_eq "$(count "'sha256:$HEX' in e['path']")" 0 "5 MiB manifest: not fetched"
# what does not fit in the cache's filesystem is refused before a byte is fetched
faults '[{"path": "/manifests/", "action": "serve", "content_type": "application/vnd.oci.image.manifest.v1+json", "body": "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:'"$HEX"'\",\"size\":100},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"'"$L1"'\",\"size\":1152921504606846976}]}"}]'
out=$(pull "$F/x/img:1")
expect_contains "$out" "ERR nospace pulling $F/x/img:1: the image's blobs need 1048576.0 TiB and the cache $PWD/cache-$(cat pulls) has " "layers that cannot fit refused"
expect_eq "$(count "'/blobs/' in e['path']")" 0 "layers that cannot fit: not a byte fetched"
# the same blob listed three times is fetched once
faults '[]'
expect_eq "$(pull "$F/x/thrice:1")" "OK $(field thrice.json "d['manifest']")" "layer listed three times"
expect_eq "$(count "'$(field thrice.json "d['layers'][0]['digest']")' in e['path'] and e['status'] == 200")" 1 "layer listed three times: fetched once"

# a token refresh holds up nothing else: with two downloads at a time, layer 2 ends after the
# token has run out, so layer 3 waits for a new one, which takes 3 s to come; layer 1, still
# downloading, finishes meanwhile
A=$(field four.json "d['layers'][0]['digest']")
faults '[{"token_ttl": 100, "expires_in": 1},
         {"path": "/blobs/'"$A"'", "action": "delay", "seconds": 2.5},
         {"path": "/blobs/'"$(field four.json "d['layers'][1]['digest']")"'", "action": "delay", "seconds": 1.3},
         {"path": "^/token", "action": "delay", "seconds": 3, "after": 1}]'
n=$(($(cat pulls) + 1)); echo $n > pulls
timeout 60 "$BANGER" "$PULL" ref="$F/x/four:1" cache=cache-$n parallel=2 progress=plain 2>&1 |
  python3 -c "
import sys, time
for line in sys.stdin:
    print('%.3f %s' % (time.time(), line.rstrip()))" > four.out
expect_contains "$(cat four.out)" "OK $(field four.json "d['manifest']")" "token refresh: the pull succeeds"
verdict=$(python3 - "${A:0:19}" <<'PY'
import json, sys
done = [float(l.split()[0]) for l in open("four.out") if sys.argv[1] in l]
tokens = [json.loads(l)["time"] for l in open("front.log") if '"/token' in l]
if len(done) != 1 or len(tokens) != 2:
    print("layer lines %r, token replies %r" % (done, tokens))
elif done[0] < tokens[1] - 0.5:
    print("kept going")
else:
    print("layer 1 ended %.2f s after the new token came" % (done[0] - tokens[1]))
PY
)
expect_eq "$verdict" "kept going" "token refresh: other downloads go on meanwhile"

# what a registry says is escaped before it reaches a terminal
faults '[{"path": "/v2/", "action": "status", "code": 401, "before_auth": true, "headers": {"WWW-Authenticate": "Negotiate realm=\"\u001b]0;owned\u0007\u001b[2J\""}}]'
out=$(pull "$F/x/img:1")
expect_eq "$out" 'ERR network pulling '"$F"'/x/img:1: '"$F"' asks for an authentication scheme this client does not speak: Negotiate realm="\x1b]0;owned\x07\x1b[2J"' "WWW-Authenticate escaped"
no_escape "$out" "WWW-Authenticate escaped: nothing raw"
faults '[{"path": "/manifests/", "action": "status", "code": 418, "body": "{\"errors\":[{\"code\":\"X\",\"message\":\"tea\\u001b[31m \\u009b1m \\u202eevil\"}]}"}]'
out=$(pull "$F/x/img:1")
expect_eq "$out" 'ERR network pulling '"$F"'/x/img:1: manifest from '"$F"': unexpected HTTP 418: tea\x1b[31m \u{009B}1m \u{202E}evil' "error body message escaped"
no_escape "$out" "error body message escaped: nothing raw"
faults '[{"path": "/manifests/", "action": "serve", "content_type": "text/\u001b[31mhtml", "body": "{\"schemaVersion\":2}"}]'
out=$(pull "$F/x/img:1")
expect_eq "$out" 'ERR invalid pulling '"$F"'/x/img:1: manifest served with Content-Type text/\x1b[31mhtml' "Content-Type escaped"
no_escape "$out" "Content-Type escaped: nothing raw"
faults '[{"path": "/v2/", "action": "status", "code": 401, "before_auth": true, "headers": {"WWW-Authenticate": "Bearer realm=\"ftp://\u001b[2Jx/\""}}]'
out=$(pull "$F/x/img:1")
expect_eq "$out" 'ERR network pulling '"$F"'/x/img:1: token realm '"'"'ftp://\x1b[2Jx/'"'"' is not an http(s) URL' "realm escaped"
no_escape "$out" "realm escaped: nothing raw"
finish
