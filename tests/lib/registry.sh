# Starts Debian's docker-registry on a free loopback port for one test script, stopped on exit.
# Usage: . tests/lib/registry.sh; registry_start; registry_push OCI_DIR TAG NAME:TAG
# Sets REGISTRY=127.0.0.1:PORT. faultserver_start puts a misbehaving front before it;
# registry_proxy_start a pull-through cache (a mirror). Skips (exit 77) when docker-registry or
# skopeo is missing.

registry_need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (make deps)"
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bg_bg_pids=""
bg_cleanup() {
  for pid in $bg_bg_pids; do
    kill "$pid" 2>/dev/null || :
  done
  for pid in $bg_bg_pids; do
    wait "$pid" 2>/dev/null || : # killed: not a failure (benchmarks run under set -e)
  done
}
trap bg_cleanup EXIT

# Remembers a background process so it is stopped when the script exits.
bg_track() { bg_bg_pids="$bg_bg_pids $1"; }

# wait_port PORT: until something listens (10 s at most)
wait_port() {
  python3 - "$1" <<'PY' || { echo "nothing listens on port $1" >&2; return 1; }
import socket, sys, time
end = time.time() + 10
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

registry_start() {
  registry_need docker-registry skopeo
  local port dir
  port=$(free_port)
  dir="$PWD/registry-data"
  mkdir -p "$dir"
  REGISTRY_HTTP_ADDR="127.0.0.1:$port" REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$dir" \
    OTEL_TRACES_EXPORTER=none docker-registry serve "$BANGER_SOURCE_DIR/tests/registry/config.yml" \
    >registry.log 2>&1 &
  bg_track $!
  wait_port "$port" || { cat registry.log >&2; exit 1; }
  REGISTRY="127.0.0.1:$port"
}

# registry_proxy_start UPSTREAM: a second docker-registry as a pull-through cache of
# http://UPSTREAM (proxy: remoteurl:), storage in proxy-data, log in proxy.log. Sets MIRROR.
registry_proxy_start() {
  local port
  port=$(free_port)
  mkdir -p proxy-data
  REGISTRY_HTTP_ADDR="127.0.0.1:$port" REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$PWD/proxy-data" \
    REGISTRY_PROXY_REMOTEURL="http://$1" OTEL_TRACES_EXPORTER=none \
    docker-registry serve "$BANGER_SOURCE_DIR/tests/registry/config.yml" >proxy.log 2>&1 &
  bg_track $!
  wait_port "$port" || { cat proxy.log >&2; exit 1; }
  MIRROR="127.0.0.1:$port"
}

# registry_push OCI_DIR TAG DEST [skopeo copy options...]: DEST is NAME:TAG in the registry
registry_push() {
  local src=$1 tag=$2 dest=$3
  shift 3
  skopeo copy -q "$@" --dest-tls-verify=false "oci:$src:$tag" "docker://$REGISTRY/$dest" \
    >push.log 2>&1 || { cat push.log >&2; echo "push of $dest failed" >&2; exit 1; }
}

# faultserver_start NAME [faultserver.py options...]: a fault-injecting front
# (tests/tools/faultserver.py) on a free port, its rules in NAME.faults (made empty if absent),
# its log in NAME.log, stopped on exit. Sets FRONT=127.0.0.1:PORT and FRONT_PORT.
faultserver_start() {
  local name=$1
  shift
  [ -e "$name.faults" ] || echo '[]' > "$name.faults"
  python3 "$BANGER_SOURCE_DIR/tests/tools/faultserver.py" --port-file "$name.port" \
    --log "$name.log" --faults "$name.faults" "$@" 2>"$name.err" &
  bg_track $!
  for _ in $(seq 100); do [ -s "$name.port" ] && break; sleep 0.05; done
  [ -s "$name.port" ] || { cat "$name.err" >&2; echo "faultserver $name did not start" >&2; exit 1; }
  FRONT_PORT=$(cat "$name.port")
  FRONT=127.0.0.1:$FRONT_PORT
}
