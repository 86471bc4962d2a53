#!/bin/bash
# Builds the Debian guests the boot tests run, from Debian's mirror with mmdebstrap, and packs
# each one as a multi-layer OCI image. Everything is cached and reused across runs.
#
#   boot-guest.sh rootfs NAME   build (or reuse) the guest's root filesystem; prints the tar path
#   boot-guest.sh oci NAME      build (or reuse) its OCI layout; prints DIR (the image is DIR:latest)
#
# NAME is `sshd` (systemd, sshd, kernel), `nossh` (the same without openssh-server) or `openrc`
# (sysvinit running OpenRC's runlevels, sshd, kernel; its os-release says ID=alpine, see below).
# Cache: $BANGER_BOOT_CACHE, else $BANGER_BUILD_DIR/boot-cache, else <source>/build/boot-cache.
# The root filesystem's cache key hashes the package list, the mirror and the mmdebstrap options;
# the OCI image's adds the layer splitter and the test unit, so editing those only repacks.
# `rm -rf` the cache directory to start from nothing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
lib=$src/tests/boot/lib
cache=${BANGER_BOOT_CACHE:-${BANGER_BUILD_DIR:-$src/build}/boot-cache}
suite=bookworm

die() { printf 'boot-guest: %s\n' "$*" >&2; exit 1; }
say() { printf 'boot-guest: %s\n' "$*" >&2; }

# The smallest set that boots systemd to multi-user on a Debian kernel: systemd-sysv is /sbin/init,
# udev loads the virtio and vsock modules, iproute2 is what the network bootstrap calls, kmod is
# modprobe. linux-image-amd64 brings initramfs-tools (the initrd is made inside the guest).
# The openrc guest: sysvinit-core is /sbin/init and its /etc/inittab hands the runlevels to
# OpenRC; udev comes with initramfs-tools anyway and loads the drivers.
packages() {
  local common=udev,kmod,iproute2,linux-image-amd64
  case $1 in
    sshd) printf 'systemd,systemd-sysv,%s,openssh-server\n' "$common" ;;
    nossh) printf 'systemd,systemd-sysv,%s\n' "$common" ;;
    openrc) printf 'sysvinit-core,openrc,%s,openssh-server\n' "$common" ;;
    *) die "unknown guest '$1' (sshd, nossh or openrc)" ;;
  esac
}

init_of() { # NAME -> systemd or openrc
  case $1 in openrc) echo openrc ;; *) echo systemd ;; esac
}

# The Debian mirror the host already uses (deb822 or one-line sources); deb.debian.org otherwise.
mirror() {
  local m
  if [ -n "${BANGER_BOOT_MIRROR:-}" ]; then
    printf '%s\n' "$BANGER_BOOT_MIRROR"
    return
  fi
  m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
      awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
  if [ -z "$m" ]; then
    m=$(cat /etc/apt/sources.list 2>/dev/null |
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
  fi
  printf '%s\n' "${m:-http://deb.debian.org/debian}"
}

# Bump when build_rootfs changes in a way the other inputs do not show.
rootfs_version=2

rootfs_key() { # NAME
  { echo "$rootfs_version"; packages "$1"; mirror; dpkg_filters; flavour_hooks "$1"; } | sha256sum | cut -c1-16
}

oci_key() {
  cat "$lib/mklayers.py" "$lib"/guest/* | sha256sum | cut -c1-16
}

# Drivers and filesystems a q35 VM with virtio devices never loads are left out at unpack time
# (dpkg path filters), so the guest stays small and the initrd is made from what is left. The
# kernel itself is Debian's, untouched.
dpkg_filters() {
  local m p
  for m in /lib/modules /usr/lib/modules; do
    printf -- '--dpkgopt=path-exclude=%s/*/kernel/drivers/*\n' "$m"
    for p in virtio/'*' block/virtio_blk.ko'*' net/virtio_net.ko'*' net/net_failover.ko'*' \
        char/hw_random/'*' vhost/'*'; do
      printf -- '--dpkgopt=path-include=%s/*/kernel/drivers/%s\n' "$m" "$p"
    done
    for p in sound net/wireless net/bluetooth net/mac80211 net/netfilter net/sunrpc net/ceph; do
      printf -- '--dpkgopt=path-exclude=%s/*/kernel/%s/*\n' "$m" "$p"
    done
    printf -- '--dpkgopt=path-exclude=%s/*/kernel/fs/*\n' "$m"
    for p in ext4/'*' jbd2/'*' mbcache.ko'*'; do
      printf -- '--dpkgopt=path-include=%s/*/kernel/fs/%s\n' "$m" "$p"
    done
  done
  for p in /usr/share/doc /usr/share/man /usr/share/locale /usr/share/info /lib/firmware \
      /usr/lib/firmware; do
    printf -- '--dpkgopt=path-exclude=%s/*\n' "$p"
  done
  printf -- '--dpkgopt=path-include=%s\n' '/usr/share/doc/*/copyright'
}

# What only the openrc guest gets (nothing for the systemd ones, so their cache keys stand).
# Its os-release says ID=alpine, because recipes/alpine.lua refuses other images; Debian has no
# apk-tools, so first boot can only take its "sshd is already installed" short-cut here.
flavour_hooks() { # NAME -> one mmdebstrap option a line
  [ "$1" = openrc ] || return 0
  local rel='NAME="Alpine-like banger boot test guest"\nID=alpine\nVERSION_ID=3.20.0\n'
  rel="${rel}PRETTY_NAME=\"Debian bookworm packages, OpenRC, ID=alpine (banger boot test)\"\n"
  printf -- '--customize-hook=rm -f "$1/etc/os-release"; printf '"'%s'"' > "$1/usr/lib/os-release"\n' "$rel"
  printf -- '--customize-hook=cp "$1/usr/lib/os-release" "$1/etc/os-release"\n'
}

build_rootfs() { # NAME DIR
  local name=$1 dir=$2 debs=$cache/debs filters hooks
  mkdir -p "$debs" "$dir"
  mapfile -t filters < <(dpkg_filters)
  mapfile -t hooks < <(flavour_hooks "$name")
  say "mmdebstrap $suite ($name) from $(mirror)"
  # The .deb cache is shared by the guests: the second one downloads almost nothing.
  mmdebstrap --variant=minbase --include="$(packages "$name")" --format=tar \
    --skip=essential/unlink \
    "${filters[@]}" \
    --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d"' \
    --essential-hook='printf "COMPRESS=gzip\n" > "$1/etc/initramfs-tools/conf.d/banger-test"' \
    --setup-hook='mkdir -p "$1/var/cache/apt/archives/"' \
    --setup-hook="sync-in $debs /var/cache/apt/archives/" \
    --customize-hook="sync-out /var/cache/apt/archives $debs" \
    --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
    --customize-hook='printf "debian-guest\n" > "$1/etc/hostname"' \
    --customize-hook='rm -f "$1/etc/resolv.conf"' \
    "${hooks[@]}" \
    "$suite" "$dir/rootfs.tar.tmp" "$(mirror)" >&2
  mv "$dir/rootfs.tar.tmp" "$dir/rootfs.tar"
}

build_oci() { # NAME DIR
  local name=$1 dir=$2 l
  rm -rf "$dir/layers" "$dir/oci"
  mkdir -p "$dir/layers"
  python3 "$lib/mklayers.py" "$dir/rootfs.tar" "$lib/guest" "$dir/layers" "$(init_of "$name")" >&2
  umoci init --layout "$dir/oci"
  umoci new --image "$dir/oci:latest"
  for l in base kernel test; do
    umoci raw add-layer --image "$dir/oci:latest" --history.created_by "banger boot test: $l" \
      "$dir/layers/$l.tar"
  done
  umoci config --image "$dir/oci:latest" --os linux --architecture amd64 \
    --config.cmd /sbin/init --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  umoci gc --layout "$dir/oci"
  rm -rf "$dir/layers"
}

[ $# -eq 2 ] || die "usage: boot-guest.sh rootfs|oci NAME"
what=$1 name=$2
packages "$name" >/dev/null
for tool in mmdebstrap umoci python3 flock; do
  command -v "$tool" >/dev/null || die "$tool is not installed (make deps)"
done
dir=$cache/$name-$(rootfs_key "$name")
mkdir -p "$cache"
# One builder at a time per cache: a parallel run waits and then finds the result in place.
exec 9>"$cache/.lock"
flock 9
if [ ! -f "$dir/rootfs.tar" ]; then
  start=$SECONDS
  # Guests built from older inputs are never used again.
  rm -rf "$cache/$name"-*
  build_rootfs "$name" "$dir"
  say "rootfs $name built in $((SECONDS - start)) s"
fi
case $what in
  rootfs) printf '%s\n' "$dir/rootfs.tar" ;;
  oci)
    key=$(oci_key)
    if [ ! -f "$dir/oci-$key.done" ]; then
      start=$SECONDS
      rm -f "$dir"/oci-*.done
      build_oci "$name" "$dir"
      : > "$dir/oci-$key.done"
      say "OCI image $name packed in $((SECONDS - start)) s"
    fi
    printf '%s\n' "$dir/oci" ;;
  *) die "unknown action '$what' (rootfs or oci)" ;;
esac
