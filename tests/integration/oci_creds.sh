#!/bin/bash
# Registry credentials: Docker's config.json auths, credHelpers and credsStore through a
# docker-credential-* program, containers' auth.json; secrets never printed.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need python3
registry_start
T="$BANGER_SOURCE_DIR/tests/tools"
export BANGER_OCI_BACKOFF_SCALE=0.01
python3 "$T/mkimage.py" src --tag img --random-layer 1000 >/dev/null
registry_push src img x/img:1
faultserver_start front --upstream "http://$REGISTRY" --auth
F=$FRONT

cat > pull.lua <<'LUA'
local oci = require "banger.oci"
local img, err, code = oci.pull(args.ref, { cache_dir = args.cache, progress = "plain",
  pull = "always" })
if img then print("OK") else print("ERR " .. code .. " " .. err) end
LUA
token_users() {
  python3 -c "
import json
print(' '.join(str(json.loads(l)['basic_user']) for l in open('front.log') if '/token' in l))"
}
run() { : > front.log; "$BANGER" pull.lua ref="$F/x/img:1" cache=cache 2>err.txt; }

export HOME=$PWD/home
mkdir -p home/.docker
unset DOCKER_CONFIG REGISTRY_AUTH_FILE
expect_eq "$(run)" "OK" "anonymous"
expect_eq "$(token_users)" "None" "anonymous: no Basic credentials"

# ~/.docker/config.json auths (base64 of user:password), keyed by host or URL
printf '{"auths":{"https://%s/v1/":{"auth":"%s"}}}' "$F" "$(printf 'alice:s3cret-pw' | base64)" \
  > home/.docker/config.json
expect_eq "$(run)" "OK" "config.json auths"
expect_eq "$(token_users)" "alice" "config.json: Basic to the token realm"
expect_eq "$(grep -c 's3cret-pw' err.txt)" 0 "the secret is not printed"

# $DOCKER_CONFIG wins over ~/.docker
mkdir -p dc
printf '{"auths":{"%s":{"auth":"%s"}}}' "$F" "$(printf 'bob:pw2' | base64)" > dc/config.json
expect_eq "$(DOCKER_CONFIG=$PWD/dc run)" "OK" "DOCKER_CONFIG"
expect_eq "$(token_users)" "bob" "DOCKER_CONFIG: its user"

# a malformed auth entry is a clear error, not a silent anonymous pull
printf '{"auths":{"%s":{"auth":"!!!"}}}' "$F" > dc/config.json
expect_eq "$(DOCKER_CONFIG=$PWD/dc run)" "ERR invalid pulling $F/x/img:1: $PWD/dc/config.json: the auth entry for $F is not base64 of user:password" "malformed auth"

# credHelpers: docker-credential-<name> get, registry on stdin, JSON on stdout
mkdir -p bin
cat > bin/docker-credential-testhelper <<'SH'
#!/bin/sh
read -r host
echo "$1 $host" >> "$HELPER_LOG"
printf '{"ServerURL":"%s","Username":"carol","Secret":"helper-secret"}\n' "$host"
SH
chmod +x bin/docker-credential-testhelper
export HELPER_LOG=$PWD/helper.log
printf '{"credHelpers":{"%s":"testhelper"}}' "$F" > dc/config.json
expect_eq "$(PATH=$PWD/bin:$PATH DOCKER_CONFIG=$PWD/dc run)" "OK" "credHelpers"
expect_eq "$(token_users)" "carol" "credHelpers: the helper's user"
expect_eq "$(cat helper.log)" "get $F" "credHelpers: helper asked with get and the host"
expect_eq "$(grep -c 'helper-secret' err.txt)" 0 "helper secret not printed"
printf '{"credsStore":"testhelper"}' > dc/config.json
expect_eq "$(PATH=$PWD/bin:$PATH DOCKER_CONFIG=$PWD/dc run)" "OK" "credsStore"
expect_eq "$(token_users)" "carol" "credsStore: the helper's user"
printf '{"credsStore":"absent"}' > dc/config.json
expect_eq "$(PATH=$PWD/bin:$PATH DOCKER_CONFIG=$PWD/dc run)" "ERR io pulling $F/x/img:1: docker-credential-absent get failed for $F (exit status 127)" "missing helper"
# a helper that says too much, or nothing: stopped, with a message naming it
cat > bin/docker-credential-big <<'SH'
#!/bin/sh
head -c 200000 /dev/zero | tr '\0' x
SH
cat > bin/docker-credential-slow <<'SH'
#!/bin/sh
sleep 1237
SH
cat > bin/docker-credential-daemon <<'SH'
#!/bin/sh
sleep 1237 &
printf '{"Username":"carol","Secret":"x"}\n'
SH
chmod +x bin/docker-credential-big bin/docker-credential-slow bin/docker-credential-daemon
printf '{"credsStore":"big"}' > dc/config.json
t0=$(date +%s)
expect_eq "$(PATH=$PWD/bin:$PATH DOCKER_CONFIG=$PWD/dc timeout 60 "$BANGER" pull.lua ref="$F/x/img:1" cache=cache 2>/dev/null)" "ERR toobig pulling $F/x/img:1: the reply of docker-credential-big is larger than 65536 bytes" "helper reply over the cap"
printf '{"credsStore":"slow"}' > dc/config.json
expect_eq "$(PATH=$PWD/bin:$PATH DOCKER_CONFIG=$PWD/dc BANGER_OCI_TIMEOUT_SCALE=0.05 timeout 60 "$BANGER" pull.lua ref="$F/x/img:1" cache=cache 2>/dev/null)" "ERR io pulling $F/x/img:1: docker-credential-slow did not answer within 1.5 s" "helper that does not answer"
printf '{"credsStore":"daemon"}' > dc/config.json
expect_eq "$(PATH=$PWD/bin:$PATH DOCKER_CONFIG=$PWD/dc BANGER_OCI_TIMEOUT_SCALE=0.05 timeout 60 "$BANGER" pull.lua ref="$F/x/img:1" cache=cache 2>/dev/null)" "ERR io pulling $F/x/img:1: docker-credential-daemon did not answer within 1.5 s" "helper whose child keeps its output open"
expect_eq "$(python3 -c "print('ok' if $(date +%s) - $t0 < 30 else 'slow')")" ok "helpers are stopped in seconds"
expect_eq "$(pgrep -f 'sleep 1237' | wc -l)" 0 "the helpers' processes are gone"
printf '{"credsStore":"../evil"}' > dc/config.json
expect_eq "$(DOCKER_CONFIG=$PWD/dc run)" "ERR invalid pulling $F/x/img:1: invalid credential helper name '../evil'" "helper name checked"

# containers' auth.json via REGISTRY_AUTH_FILE comes first
printf '{"auths":{"%s":{"auth":"%s"}}}' "$F" "$(printf 'dave:pw4' | base64)" > auth.json
printf '{"auths":{"%s":{"auth":"%s"}}}' "$F" "$(printf 'bob:pw2' | base64)" > dc/config.json
expect_eq "$(REGISTRY_AUTH_FILE=$PWD/auth.json DOCKER_CONFIG=$PWD/dc run)" "OK" "REGISTRY_AUTH_FILE"
expect_eq "$(token_users)" "dave" "REGISTRY_AUTH_FILE wins"
# a registry that asks for Basic credentials itself (no token service)
echo '[{"basic": true}]' > basic.faults
faultserver_start basic --upstream "http://$REGISTRY"
B=$FRONT
printf '{"auths":{"%s":{"auth":"%s"}}}' "$B" "$(printf 'erin:pw5' | base64)" > dc/config.json
expect_eq "$(DOCKER_CONFIG=$PWD/dc "$BANGER" pull.lua ref="$B/x/img:1" cache=cache-basic 2>/dev/null)" "OK" "Basic registry with credentials"
expect_eq "$(python3 -c "
import json
print(sorted(set(str(json.loads(l)['basic_user']) for l in open('basic.log') if json.loads(l)['status'] == 200)))")" "['erin']" "Basic registry: every answered request carried the user"
printf '{}' > dc/config.json
expect_eq "$(DOCKER_CONFIG=$PWD/dc "$BANGER" pull.lua ref="$B/x/img:1" cache=cache-basic2 2>/dev/null)" "ERR network pulling $B/x/img:1: $B asks for credentials and none are configured" "Basic registry without credentials"
finish
