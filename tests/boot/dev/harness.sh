#!/bin/bash
# DEV ONLY. NOT A TEST: ctest does not run this file, and nothing here says anything about
# banger-build. It proves the boot harness itself (guest build, registry round trip, kernel
# extraction, QEMU command line, report parsing) before the real pipeline exists, by making the
# ext4 with `mkfs.ext4 -d` from the unpacked OCI image and injecting MINIMAL STAND-INS for the
# guest assets at the paths of /work/shared/design.md's table. The stand-ins are crude on purpose
# (the vsock "agent" only sleeps); the real assets are tested by tests/boot/*.sh through
# `banger-build recipes/default.lua`.
#
#   tests/boot/dev/harness.sh [WORKDIR]     (default: build/boot-dev)
#
# BANGER_DEV_ASSETS=DIR takes the units, the modules-load conf and the network bootstrap from
# DIR (an assets/ directory) instead of the stand-ins, when the files are there.
set -u
BANGER_SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BANGER_BUILD_DIR=${BANGER_BUILD_DIR:-$BANGER_SOURCE_DIR/build}
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/boot/lib/boot.sh"

work=${1:-$BANGER_BUILD_DIR/boot-dev}
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1
boot_require_tools
command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 is not installed"
assets=${BANGER_DEV_ASSETS:-}

put() { # ROOT PATH MODE  (content on stdin)
  mkdir -p "$1$(dirname "$2")"
  cat > "$1$2"
  chmod "$3" "$1$2"
  chown 0:0 "$1$2"
}

asset_or() { # NAME  (stand-in on stdin; the real file wins when BANGER_DEV_ASSETS has it)
  if [ -n "$assets" ] && [ -f "$assets/$1" ]; then
    cat "$assets/$1"
  else
    cat
  fi
}

inject_standins() { # ROOT
  local r=$1
  asset_or banger-network-bootstrap.sh <<'EOF' | put "$r" /usr/local/libexec/banger-network-bootstrap 755
#!/bin/sh
# DEV STAND-IN: banger.ip/gw/dns/hostname from the kernel command line, on eth0.
set -e
for w in $(cat /proc/cmdline); do
  case $w in
    banger.ip=*) ip=${w#*=} ;; banger.gw=*) gw=${w#*=} ;;
    banger.dns=*) dns=${w#*=} ;; banger.hostname=*) hn=${w#*=} ;;
  esac
done
[ -n "${ip:-}" ] || exit 0
ip link set eth0 up
ip addr add "$ip" dev eth0
[ -z "${gw:-}" ] || ip route add default via "$gw"
[ -z "${dns:-}" ] || printf 'nameserver %s\n' "$dns" > /etc/resolv.conf
[ -z "${hn:-}" ] || { printf '%s\n' "$hn" > /etc/hostname; hostname "$hn"; }
EOF
  put "$r" /usr/local/bin/banger-vsock-agent 755 <<'EOF'
#!/bin/sh
# DEV STAND-IN: no vsock listener at all, it only stays up while the vsock module is loaded.
[ -d /sys/module/vsock ] || { echo "banger-vsock-agent: vsock module not loaded" >&2; exit 1; }
exec sleep infinity
EOF
  asset_or banger-network.service <<'EOF' | put "$r" /etc/systemd/system/banger-network.service 644
[Unit]
Description=DEV STAND-IN banger network
After=systemd-udevd.service systemd-udev-trigger.service
Before=network.target network-online.target
Wants=network.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/libexec/banger-network-bootstrap
[Install]
WantedBy=multi-user.target
EOF
  asset_or banger-vsock-agent.service <<'EOF' | put "$r" /etc/systemd/system/banger-vsock-agent.service 644
[Unit]
Description=DEV STAND-IN banger vsock agent
After=systemd-modules-load.service
[Service]
ExecStart=/usr/local/bin/banger-vsock-agent
Restart=always
RestartSec=5
[Install]
WantedBy=multi-user.target
EOF
  asset_or banger-vsock.conf <<'EOF' | put "$r" /etc/modules-load.d/banger-vsock.conf 644
vsock
vmw_vsock_virtio_transport
EOF
  put "$r" /usr/local/libexec/banger-first-boot 755 <<'EOF'
#!/bin/sh
# DEV STAND-IN: the debian branch of the first-boot script only.
me=banger-first-boot
marker=/var/lib/banger/first-boot-pending
log() { printf '%s: %s\n' "$me" "$*" >&2; }
run() { "$@"; s=$?; [ $s -eq 0 ] || { log "command failed (exit $s): $*"; exit 1; }; }
if command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; then
  log "sshd is already installed; nothing to do"
  rm -f "$marker"
  exit 0
fi
run apt-get update
run env DEBIAN_FRONTEND=noninteractive apt-get install -y openssh-server
run systemctl enable --now ssh
rm -f "$marker"
log "sshd is installed and started; first boot done"
EOF
  asset_or banger-first-boot.service <<'EOF' | put "$r" /etc/systemd/system/banger-first-boot.service 644
[Unit]
Description=DEV STAND-IN banger first boot
ConditionPathExists=/var/lib/banger/first-boot-pending
Wants=network-online.target banger-network.service
After=network-online.target banger-network.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/libexec/banger-first-boot
StandardOutput=journal+console
StandardError=journal+console
[Install]
WantedBy=multi-user.target
EOF
  put "$r" /var/lib/banger/first-boot-pending 644 < /dev/null
  mkdir -p "$r/etc/systemd/system/multi-user.target.wants"
  for u in network vsock-agent first-boot; do
    ln -sfn "/etc/systemd/system/banger-$u.service" \
      "$r/etc/systemd/system/multi-user.target.wants/banger-$u.service"
  done
  mkdir -p "$r/dev" "$r/proc" "$r/sys" "$r/run" "$r/tmp"
  chmod 1777 "$r/tmp"
}

# pull (registry round trip) -> unpack -> stand-ins -> mkfs.ext4 -d
make_image() { # GUEST OUT.ext4
  local guest=$1 out=$2 oci start mib
  oci=$(boot_guest oci "$guest") || return 1
  boot_registry_push "$oci" "guest:$guest" || return 1
  start=$SECONDS
  rm -rf "pulled-$guest" "bundle-$guest"
  skopeo --policy <(printf '{"default":[{"type":"insecureAcceptAnything"}]}') copy -q \
    --src-tls-verify=false "docker://$REGISTRY/guest:$guest" "oci:pulled-$guest:latest" || return 1
  umoci unpack --image "pulled-$guest:latest" "bundle-$guest" >/dev/null || return 1
  inject_standins "bundle-$guest/rootfs"
  mib=$(( $(du -sm "bundle-$guest/rootfs" | cut -f1) * 13 / 10 + 64 ))
  mkfs.ext4 -q -F -d "bundle-$guest/rootfs" -L root "$out" "${mib}M" || return 1
  rm -rf "bundle-$guest" "pulled-$guest"
  printf 'image %s: %d MiB, made in %d s\n' "$out" "$mib" "$((SECONDS - start))" >&2
}

boot_registry_start "$work/registry" || exit 1
trap boot_registry_stop EXIT

make_image sshd sshd.ext4 || exit 1
boot_kernel sshd.ext4 kernel-sshd || exit 1
boot_check "$work/sshd-1.log" sshd.ext4 user check_sshd_first_boot
boot_check "$work/sshd-2.log" sshd.ext4 user check_sshd_second_boot

make_image nossh nossh.ext4 || exit 1
boot_kernel nossh.ext4 kernel-nossh || exit 1
boot_check "$work/nossh-1.log" nossh.ext4 none check_nossh_boot 1
boot_check "$work/nossh-2.log" nossh.ext4 none check_nossh_boot 2

[ "$bg_fail" -eq 0 ] || printf 'images and serial logs kept in %s\n' "$work" >&2
finish
