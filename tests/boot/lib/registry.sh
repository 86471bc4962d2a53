# A throwaway OCI registry on 127.0.0.1 for the boot tests: Debian's docker-registry with a config
# written to a directory of its own. Source it; registry_start sets REGISTRY (host:port).
REGISTRY=
REGISTRY_PID=

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

registry_start() { # DIR
  local dir=$1 port i
  command -v docker-registry >/dev/null || { printf 'docker-registry is not installed\n' >&2; return 1; }
  mkdir -p "$dir/storage"
  port=$(free_port)
  cat > "$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve "$dir/config.yml" > "$dir/registry.log" 2>&1 &
  REGISTRY_PID=$!
  REGISTRY=127.0.0.1:$port
  for i in $(seq 1 100); do
    if curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$REGISTRY_PID" 2>/dev/null || break
    sleep 0.1
  done
  printf 'registry did not come up on %s; its log: %s\n' "$REGISTRY" "$dir/registry.log" >&2
  registry_stop
  return 1
}

registry_stop() {
  if [ -n "$REGISTRY_PID" ]; then
    kill "$REGISTRY_PID" 2>/dev/null
    wait "$REGISTRY_PID" 2>/dev/null
    REGISTRY_PID=
  fi
}

registry_push() { # OCI_DIR NAME:TAG  (pushes OCI_DIR:latest as $REGISTRY/NAME:TAG)
  local policy
  policy=$(mktemp)
  printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' > "$policy"
  skopeo --policy "$policy" copy -q --dest-tls-verify=false "oci:$1:latest" "docker://$REGISTRY/$2"
  local rc=$?
  rm -f "$policy"
  return $rc
}
