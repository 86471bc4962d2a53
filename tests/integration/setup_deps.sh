#!/bin/bash
# tools/deps.sh, the first step of `make demo` and `make test`: missing packages are installed as
# root through apt-get after apt-get update; anyone else gets the apt-get line and a failure.
# dpkg-query, id and apt-get are fakes here, so nothing is installed.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
deps=$BANGER_SOURCE_DIR/tools/deps.sh
mkdir -p fake
cat > fake/dpkg-query <<'SH'
#!/bin/sh
# prints what the real one does for the packages named in $PWD/installed
shift 2
for p in "$@"; do
  if grep -qx "$p" installed; then printf '%s ii \n' "$p"; else echo "dpkg-query: no packages found matching $p" >&2; fi
done
SH
printf '#!/bin/sh\necho "${FAKE_UID:-0}"\n' > fake/id
printf '#!/bin/sh\necho "apt-get $*" >> calls\n[ "$1" != update ] || exit ${FAKE_UPDATE_STATUS:-0}\n' > fake/apt-get
chmod +x fake/*
run() { PATH=$PWD/fake:$PATH sh "$deps" "$@" >out 2>err; rc=$?; }

printf 'cmake\nfile\n' > installed
: > calls
run cmake file
expect_eq "$rc/$(cat err)/$(cat calls)" "0//" "everything installed: nothing to do"

FAKE_UID=1000 run cmake file groff-base lua5.4
expect_eq "$rc" 1 "a user without the packages: make stops"
expect_eq "$(cat err)" "deps: these Debian packages are missing: groff-base lua5.4
deps: install them as root (after apt-get update), then run make again:
  sudo apt-get install -y --no-install-recommends groff-base lua5.4" "the one apt-get line to run"
expect_eq "$(cat calls)" "" "a user's run calls no apt-get"

run cmake file groff-base lua5.4
expect_eq "$rc" 0 "root: installs"
expect_eq "$(cat calls)" "apt-get update
apt-get install -y --no-install-recommends groff-base lua5.4" "apt-get update, then the missing ones"

: > calls
FAKE_UPDATE_STATUS=100 run cmake groff-base
expect_eq "$rc/$(cat calls)" "1/apt-get update" "a failed apt-get update stops it"

mkdir -p bare
ln -sf "$(command -v sh)" bare/sh
PATH=$PWD/bare sh "$deps" cmake >out 2>err; rc=$?
expect_eq "$rc" 0 "not Debian: the build may try"
expect_contains "$(cat err)" "deps: no dpkg-query, so the packages cannot be checked" "and says so"

# the Makefile's DEPS holds what the tests need, and every build starts with them
expect_contains "$(make -s -C "$BANGER_SOURCE_DIR" -n demo BUILD="$PWD/b" | head -n1)" \
  "sh tools/deps.sh cmake " "make demo checks the packages first"
for p in file groff-base lua5.4 mmdebstrap; do
  expect_contains " $(make -s -C "$BANGER_SOURCE_DIR" -n deps | head -n1) " " $p " "DEPS has $p"
done
finish
