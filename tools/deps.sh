#!/bin/sh
# Makes sure the Debian packages given (the Makefile's DEPS) are installed: as root it installs
# the missing ones through apt-get, after apt-get update; as anyone else it prints the apt-get
# line to run and fails, so `make` stops before a build that cannot work. Without dpkg-query
# (not a Debian system) it says so and lets the build try.
set -u

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "deps: no dpkg-query, so the packages cannot be checked; the build needs: $*" >&2
  exit 0
fi
installed=" $(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null |
  awk '$2 == "ii" { printf "%s ", $1 }')"
missing=
for p in "$@"; do
  case $installed in
    *" $p "*) ;;
    *) missing="$missing $p" ;;
  esac
done
missing=${missing# }
[ -n "$missing" ] || exit 0

install="apt-get install -y --no-install-recommends $missing"
if [ "$(id -u)" != 0 ]; then
  {
    echo "deps: these Debian packages are missing: $missing"
    echo "deps: install them as root (after apt-get update), then run make again:"
    echo "  sudo $install"
  } >&2
  exit 1
fi
echo "deps: installing $missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update || { echo "deps: apt-get update failed" >&2; exit 1; }
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing ||
  { echo "deps: apt-get install failed" >&2; exit 1; }
