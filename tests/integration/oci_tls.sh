#!/bin/bash
# TLS to registries by name, in a private mount namespace (unshare -m) where a hosts file maps
# *.test names to 127.0.0.x and copies of /etc/containers and /etc/docker are bind-mounted over
# the real ones, so nothing of the machine's /etc is touched. A CA and certificates are made here
# with openssl; Debian's docker-registry serves https (one of them asking for a client
# certificate), and plain http for the insecure fallback.
set -u
if [ -z "${BG_TLS_NS:-}" ]; then
  if [ "$(id -u)" = 0 ]; then
    exec unshare -m env BG_TLS_NS=1 bash "$0" "$@"
  fi
  exec unshare -rm env BG_TLS_NS=1 bash "$0" "$@"
fi
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need docker-registry skopeo openssl python3 mount
T="$BANGER_SOURCE_DIR/tests/tools"
export BANGER_OCI_BACKOFF_SCALE=0.01
mount --make-rprivate / 2>/dev/null

# the CA, a certificate for registry.test and other.test, a client certificate, and a
# self-signed certificate nobody vouches for
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key && openssl req -x509 -new -key ca.key -subj /CN=banger-test-ca -days 2 -out ca.crt \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign ||
  { echo "openssl could not make a CA" >&2; exit 1; }
sign() { # name subject extfile-line
  key "$1.key" && openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" &&
    printf '%s\n' "$3" > "$1.ext" &&
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile "$1.ext" -out "$1.crt" 2>/dev/null || { echo "openssl: $1" >&2; exit 1; }
}
sign srv /CN=registry.test "subjectAltName=DNS:registry.test,DNS:other.test,DNS:mtls.test"
sign client /CN=banger-client "extendedKeyUsage=clientAuth"
key self.key && openssl req -x509 -new -key self.key -subj /CN=registry.test -days 2 \
  -addext subjectAltName=DNS:registry.test -out self.crt

# names: registry.test and other.test on 127.0.0.2, wrong.test too (not in the certificate),
# plain.test and self.test on 127.0.0.3
cat > hosts <<'HOSTS'
127.0.0.1 localhost
127.0.0.2 registry.test other.test wrong.test mtls.test
127.0.0.3 plain.test self.test
HOSTS
mount --bind hosts /etc/hosts || { echo "cannot bind-mount the hosts file" >&2; exit 1; }
for d in containers docker; do
  # certs.d lives under these; docker-registry's package makes /etc/docker
  [ -d "/etc/$d" ] || { echo "/etc/$d is missing (make deps)" >&2; exit 1; }
  mkdir -p "etc-$d"
  cp -a "/etc/$d/." "etc-$d/"
  mount --bind "etc-$d" "/etc/$d" || { echo "cannot bind-mount /etc/$d" >&2; exit 1; }
done

# registries: https on 127.0.0.2 (one plain, one asking for client certificates), self-signed
# https and plain http on 127.0.0.3, all over one storage
serve() { # addr config-extra
  local addr=$1 cfg=reg-$RANDOM.yml
  shift
  { cat "$BANGER_SOURCE_DIR/tests/registry/config.yml"; printf '%s\n' "$@"; } > "$cfg"
  REGISTRY_HTTP_ADDR=$addr REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=$PWD/registry-data \
    OTEL_TRACES_EXPORTER=none docker-registry serve "$cfg" >>registry.log 2>&1 &
  bg_track $!
}
mkdir -p registry-data
P=$(free_port)
serve "127.0.0.2:$P" "  tls:" "    certificate: $PWD/srv.crt" "    key: $PWD/srv.key"
M=$(free_port)
serve "127.0.0.2:$M" "  tls:" "    certificate: $PWD/srv.crt" "    key: $PWD/srv.key" \
  "    clientcas:" "      - $PWD/ca.crt"
S=$(free_port)
serve "127.0.0.3:$S" "  tls:" "    certificate: $PWD/self.crt" "    key: $PWD/self.key"
H=$(free_port)
serve "127.0.0.3:$H"
wait_on() { # addr port
  python3 - "$1" "$2" <<'PY' || { cat registry.log >&2; echo "nothing on $1:$2" >&2; exit 1; }
import socket, sys, time
end = time.time() + 10
while time.time() < end:
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[2])), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}
wait_on 127.0.0.2 "$P"; wait_on 127.0.0.2 "$M"; wait_on 127.0.0.3 "$S"; wait_on 127.0.0.3 "$H"
python3 "$T/mkimage.py" src --tag img --random-layer 3000 >img.json
skopeo copy -q --dest-cert-dir "$PWD/nowhere" --dest-tls-verify=false "oci:src:img" \
  "docker://registry.test:$P/x/img:1" >push.log 2>&1 || { cat push.log >&2; exit 1; }
OK="OK $(python3 -c "import json; print(json.load(open('img.json'))['manifest'])")"

PULL="$BANGER_SOURCE_DIR/tests/tools/pull.lua"
export HOME=$PWD/home
mkdir -p home
echo 0 > pulls
pull() { # ref [insecure] [VAR=VALUE...]: into a fresh cache each time
  local ref=$1 ins=${2:-0} n=$(($(cat pulls) + 1))
  shift 2 2>/dev/null || shift
  echo $n > pulls
  env "$@" timeout 60 "$BANGER" "$PULL" ref="$ref" insecure="$ins" cache="cache-$n" 2>&1
}

# a private CA is not trusted by default, and a certificate error is final
out=$(pull "registry.test:$P/x/img:1")
expect_contains "$out" "ERR network pulling registry.test:$P/x/img:1: manifest from registry.test:$P: SSL certificate problem" "private CA: refused by default"
expect_contains "$out" "certs.d/registry.test:$P/ca.crt" "private CA: the message says where a CA goes"
# insecure: https without verification (this registry speaks nothing else)
expect_eq "$(pull "registry.test:$P/x/img:1" 1)" "$OK" "insecure: unverified https"
expect_eq "$(pull "wrong.test:$P/x/img:1" 1)" "$OK" "insecure: a name the certificate lacks"
# the CA through the environment, verified
expect_eq "$(pull "registry.test:$P/x/img:1" 0 SSL_CERT_FILE="$PWD/ca.crt")" "$OK" "SSL_CERT_FILE"
mkdir -p cadir && cp ca.crt cadir/ && openssl rehash cadir 2>/dev/null
expect_eq "$(pull "registry.test:$P/x/img:1" 0 SSL_CERT_DIR="$PWD/cadir")" "$OK" "SSL_CERT_DIR"
out=$(pull "wrong.test:$P/x/img:1" 0 SSL_CERT_FILE="$PWD/ca.crt")
expect_contains "$out" "ERR network pulling wrong.test:$P/x/img:1: manifest from wrong.test:$P: " "trusted CA, wrong name: refused"
# certs.d/<host:port>/ca.crt, where containers/image and Docker read it; added to the
# system's CAs, not replacing them
mkdir -p "/etc/containers/certs.d/registry.test:$P"
cp ca.crt "/etc/containers/certs.d/registry.test:$P/ca.crt"
expect_eq "$(pull "registry.test:$P/x/img:1")" "$OK" "/etc/containers/certs.d"
out=$(pull "other.test:$P/x/img:1")
expect_contains "$out" "SSL certificate problem" "certs.d of one host does not vouch for another"
rm -r "/etc/containers/certs.d/registry.test:$P"
mkdir -p "/etc/docker/certs.d/other.test:$P"
cp ca.crt "/etc/docker/certs.d/other.test:$P/my-ca.crt"
expect_eq "$(pull "other.test:$P/x/img:1")" "$OK" "/etc/docker/certs.d"
mkdir -p "home/.config/containers/certs.d/registry.test:$P"
cp ca.crt "home/.config/containers/certs.d/registry.test:$P/ca.crt"
expect_eq "$(pull "registry.test:$P/x/img:1")" "$OK" "~/.config/containers/certs.d"
# a client certificate from certs.d (NAME.cert with NAME.key) for a registry that asks for one
out=$(pull "mtls.test:$M/x/img:1" 0 SSL_CERT_FILE="$PWD/ca.crt")
expect_contains "$out" "ERR network pulling mtls.test:$M/x/img:1: manifest from mtls.test:$M: " "client certificate: refused without one"
mkdir -p "home/.config/containers/certs.d/mtls.test:$M"
cp ca.crt "home/.config/containers/certs.d/mtls.test:$M/ca.crt"
cp client.crt "home/.config/containers/certs.d/mtls.test:$M/client.cert"
cp client.key "home/.config/containers/certs.d/mtls.test:$M/client.key"
expect_eq "$(pull "mtls.test:$M/x/img:1")" "$OK" "client certificate from certs.d"
# a self-signed registry: only with insecure
expect_contains "$(pull "self.test:$S/x/img:1")" "SSL certificate problem" "self-signed: refused"
expect_eq "$(pull "self.test:$S/x/img:1" 1)" "$OK" "self-signed: insecure"
# a plain http registry: insecure tries https, then plain http
expect_contains "$(pull "plain.test:$H/x/img:1")" "ERR network pulling plain.test:$H/x/img:1: manifest from plain.test:$H: " "plain http: refused without insecure"
expect_eq "$(pull "plain.test:$H/x/img:1" 1)" "$OK" "plain http: insecure falls back"

# a registry whose blobs are redirected to its storage on another host (as with S3 or MinIO
# behind a registry): the CAs certs.d gives for the registry vouch for that host too, as in
# Docker's transport; the insecure rule does not reach it (its certificate is verified)
rm -r "/etc/docker/certs.d/other.test:$P"
echo '[{"path": "/blobs/", "action": "redirect", "location": "https://other.test:'"$P"'", "times": -1}]' \
  > redir.faults
faultserver_start redir --bind 127.0.0.2 --upstream "http://127.0.0.3:$H" \
  --tls-cert "$PWD/srv.crt" --tls-key "$PWD/srv.key"
R=$FRONT_PORT
expect_contains "$(pull "registry.test:$R/x/img:1")" "SSL certificate problem" \
  "redirecting registry: its private CA not trusted by default"
out=$(pull "registry.test:$R/x/img:1" 1)
expect_contains "$out" "ERR network pulling registry.test:$R/x/img:1: " \
  "insecure redirecting registry: refused"
expect_contains "$out" "from other.test: SSL certificate problem" "insecure: the redirect's host is verified, and named"
mkdir -p "/etc/containers/certs.d/registry.test:$R"
cp ca.crt "/etc/containers/certs.d/registry.test:$R/ca.crt"
expect_eq "$(pull "registry.test:$R/x/img:1")" "$OK" "certs.d of the registry vouches for its storage"
expect_eq "$(python3 -c "
import json
print(sum(1 for l in open('redir.log') if '/blobs/' in json.loads(l)['path'] and json.loads(l)['status'] == 307) > 0)")" \
  True "the blobs were redirected"
rm -r "/etc/containers/certs.d/registry.test:$R"

# Basic credentials never go over plain http to a host that is not this one
echo '[{"basic": true}]' > basic.faults
faultserver_start basic --bind 127.0.0.3 --upstream "http://127.0.0.3:$H"
B=$FRONT_PORT
mkdir -p home/.docker
printf '{"auths":{"plain.test:%s":{"auth":"%s"}}}' "$B" "$(printf 'erin:pw5' | base64)" \
  > home/.docker/config.json
expect_eq "$(pull "plain.test:$B/x/img:1" 1)" "ERR network pulling plain.test:$B/x/img:1: refusing to send the credentials for plain.test:$B over plain http to plain.test" "Basic over plain http: refused"
expect_eq "$(python3 -c "
import json
print(sum(1 for l in open('basic.log') if json.loads(l)['basic_user']))")" 0 "Basic over plain http: the server never saw them"
finish
