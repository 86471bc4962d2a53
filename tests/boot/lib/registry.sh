# A throwaway OCI registry on 127.0.0.1 for the boot tests: Debian's docker-registry with a config
# written to a directory of its own. Source it; boot_registry_start sets REGISTRY (host:port).
# boot.sh uses tests/lib/registry.sh instead when the tree has it.
REGISTRY=
BOOT_REGISTRY_PID=

boot_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

boot_registry_start() { # DIR
  local dir=$1 port i
  command -v docker-registry >/dev/null || { printf 'docker-registry is not installed\n' >&2; return 1; }
  mkdir -p "$dir/storage"
  port=$(boot_free_port)
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
  BOOT_REGISTRY_PID=$!
  REGISTRY=127.0.0.1:$port
  for i in $(seq 1 100); do
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
        "http://$REGISTRY/v2/" 2>/dev/null; then
      return 0
    fi
    kill -0 "$BOOT_REGISTRY_PID" 2>/dev/null || break
    sleep 0.1
  done
  printf 'registry did not come up on %s; its log: %s\n' "$REGISTRY" "$dir/registry.log" >&2
  boot_registry_stop
  return 1
}

boot_registry_stop() {
  if [ -n "$BOOT_REGISTRY_PID" ]; then
    kill "$BOOT_REGISTRY_PID" 2>/dev/null
    wait "$BOOT_REGISTRY_PID" 2>/dev/null
    BOOT_REGISTRY_PID=
  fi
}

boot_registry_push() { # OCI_DIR NAME:TAG  (pushes OCI_DIR:latest as $REGISTRY/NAME:TAG)
  local policy
  policy=$(mktemp)
  printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' > "$policy"
  skopeo --policy "$policy" copy -q --dest-tls-verify=false "oci:$1:latest" "docker://$REGISTRY/$2"
  local rc=$?
  rm -f "$policy"
  return $rc
}
