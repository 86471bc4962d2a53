#!/bin/bash
# banger-network-bootstrap under dash and busybox sh: planned commands for several kernel command
# lines, bad values rejected, and a real run against a fake `ip` and temporary files.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"

script=$BANGER_SOURCE_DIR/assets/banger-network-bootstrap.sh
shells=()
command -v dash >/dev/null && shells+=(dash)
command -v busybox >/dev/null && shells+=("busybox sh")
[ ${#shells[@]} -gt 0 ] || skip "neither dash nor busybox is installed"

plan() { # shell cmdline -> planned commands on stdout, log in ./log, status in $rc
  printf '%s\n' "$2" > cmdline
  out=$(BANGER_CMDLINE_FILE=cmdline RUN_PLAN=1 $1 "$script" 2>log); rc=$?
}

nl=$'\n'
full_plan="ip link set dev eth0 mtu 1400
ip link set dev eth0 up
ip addr replace 10.0.0.2/24 dev eth0
ip route replace default via 10.0.0.1 dev eth0
write /etc/resolv.conf
  # written by banger-network-bootstrap from the kernel command line
  nameserver 1.1.1.1
  nameserver 8.8.8.8
write /proc/sys/kernel/hostname
  vm1
write /etc/hostname
  vm1"

kernel_plan="ip link set dev ens3 up
ip addr replace 192.168.7.20/16 dev ens3
ip route replace default via 192.168.0.1 dev ens3
write /etc/resolv.conf
  # written by banger-network-bootstrap from the kernel command line
  nameserver 9.9.9.9
  nameserver 149.112.112.112
write /proc/sys/kernel/hostname
  kvm1
write /etc/hostname
  kvm1"

for sh in "${shells[@]}"; do
  w="[$sh]"
  sh -n "$script"; expect_eq "$?" 0 "$w sh -n"
  $sh -n "$script"; expect_eq "$?" 0 "$w $sh -n"

  plan "$sh" "console=ttyS0 banger.ip=10.0.0.2/24 banger.gw=10.0.0.1 banger.dns=1.1.1.1,8.8.8.8 banger.hostname=vm1 banger.mtu=1400 quiet"
  expect_eq "$rc" 0 "$w full plan exit status"
  expect_eq "$out" "$full_plan" "$w full plan"

  plan "$sh" "ip=192.168.7.20::192.168.0.1:255.255.0.0:kvm1:ens3:off:9.9.9.9:149.112.112.112"
  expect_eq "$out" "$kernel_plan" "$w kernel ip= plan"

  plan "$sh" "ip=192.168.7.20::192.168.0.1:255.255.0.0:kvm1:ens3:off banger.iface=eth1 banger.hostname=\"vm2\" banger.ip=10.9.0.5/8"
  expect_eq "$out" "ip link set dev eth1 up
ip addr replace 10.9.0.5/8 dev eth1
ip route replace default via 192.168.0.1 dev eth1 onlink
write /proc/sys/kernel/hostname
  vm2
write /etc/hostname
  vm2" "$w banger.* wins over ip=; a gateway off the subnet is onlink"

  plan "$sh" "banger.ip=172.16.0.2/30 -- banger.gw=172.16.0.1"
  expect_eq "$out" "ip link set dev eth0 up${nl}ip addr replace 172.16.0.2/30 dev eth0" \
    "$w words after -- belong to init"

  plan "$sh" "banger.gw=10.0.0.1 banger.iface=eth0.100"
  expect_eq "$out" "ip link set dev eth0.100 up${nl}ip route replace default via 10.0.0.1 dev eth0.100" \
    "$w a gateway alone"

  plan "$sh" "banger.dns=2606:4700:4700::1111"
  expect_eq "$out" "write /etc/resolv.conf
  # written by banger-network-bootstrap from the kernel command line
  nameserver 2606:4700:4700::1111" "$w DNS alone, IPv6"

  plan "$sh" "console=ttyS0 root=/dev/vda rw"
  expect_eq "$rc/$out" "0/" "$w no parameters: exit 0, nothing planned"
  expect_eq "$(cat log)" "banger-network-bootstrap: no banger.* or ip= parameter on the kernel command line; leaving the network alone" "$w no parameters: logged"

  plan "$sh" "ip=dhcp"
  expect_eq "$rc/$out" "0/" "$w ip=dhcp: nothing planned"
  expect_contains "$(cat log)" "ip=dhcp: address autoconfiguration is left to the kernel or a DHCP client" "$w ip=dhcp logged"

  plan "$sh" "ip=10.0.0.2::10.0.0.1:255.0.255.0::eth0:off banger.hostname=h"
  expect_eq "$rc" 0 "$w bad netmask in ip= is not fatal"
  expect_contains "$(cat log)" "ip=: '255.0.255.0' is not a netmask; ignoring ip=" "$w bad netmask logged"
  expect_eq "$out" "write /proc/sys/kernel/hostname${nl}  h${nl}write /etc/hostname${nl}  h" "$w bad ip= ignored"

  bad() { # cmdline message
    plan "$sh" "$1"
    expect_eq "$rc" 1 "$w exit status for $1"
    expect_eq "$out" "" "$w nothing planned for $1"
    expect_eq "$(cat log)" "banger-network-bootstrap: $2" "$w message for $1"
  }
  bad "banger.ip=10.0.0.256/24 banger.hostname=ok" \
    "banger.ip=10.0.0.256/24: not an IPv4 address with a prefix length (like 10.0.0.2/24)"
  bad "banger.ip=10.0.0.2" "banger.ip=10.0.0.2: not an IPv4 address with a prefix length (like 10.0.0.2/24)"
  bad "banger.ip=10.0.0.2/33" "banger.ip=10.0.0.2/33: not an IPv4 address with a prefix length (like 10.0.0.2/24)"
  bad "banger.ip=10.0.0.02/24" "banger.ip=10.0.0.02/24: not an IPv4 address with a prefix length (like 10.0.0.2/24)"
  bad "banger.ip=10.0.0.1.5/24" "banger.ip=10.0.0.1.5/24: not an IPv4 address with a prefix length (like 10.0.0.2/24)"
  bad "banger.gw=10.0.1" "banger.gw=10.0.1: not an IPv4 address (like 10.0.0.1)"
  bad "banger.gw=\$(reboot)" "banger.gw=\$(reboot): not an IPv4 address (like 10.0.0.1)"
  bad "banger.dns=1.1.1.1,example.com" "banger.dns=1.1.1.1,example.com: 'example.com' is not an IPv4 or IPv6 address"
  bad "banger.dns=1.1.1.1,1.0.0.1,8.8.8.8,8.8.4.4" "banger.dns=1.1.1.1,1.0.0.1,8.8.8.8,8.8.4.4: at most 3 name servers (the C library reads no more)"
  bad "banger.dns=" "banger.dns=: no address given"
  bad "banger.hostname=-vm" "banger.hostname=-vm: not a host name (letters, digits, '-' and '.', at most 64)"
  bad "banger.hostname=vm_1" "banger.hostname=vm_1: not a host name (letters, digits, '-' and '.', at most 64)"
  bad "banger.hostname=a..b" "banger.hostname=a..b: not a host name (letters, digits, '-' and '.', at most 64)"
  bad "banger.hostname=$(printf 'h%.0s' $(seq 65))" "banger.hostname=$(printf 'h%.0s' $(seq 65)): not a host name (letters, digits, '-' and '.', at most 64)"
  bad "banger.iface=eth0;reboot" "banger.iface=eth0;reboot: not an interface name (1 to 15 of A-Z a-z 0-9 _ . -)"
  bad "banger.iface=averyveryverylongname" "banger.iface=averyveryverylongname: not an interface name (1 to 15 of A-Z a-z 0-9 _ . -)"
  bad "banger.mtu=67" "banger.mtu=67: not an MTU (68 to 65535)"
  bad "banger.mtu=99999999999999999999" "banger.mtu=99999999999999999999: not an MTU (68 to 65535)"

  out=$(BANGER_CMDLINE_FILE=/nonexistent RUN_PLAN=1 $sh "$script" 2>&1); rc=$?
  expect_eq "$rc" 1 "$w unreadable cmdline exit status"
  expect_eq "$out" "banger-network-bootstrap: cannot read the kernel command line from /nonexistent" \
    "$w unreadable cmdline message"

  # A real run: a fake `ip` records its arguments; files land in this directory.
  rm -rf fake net root && mkdir -p fake net/eth0 root/etc root/run
  printf '#!/bin/sh\nprintf "%%s\\n" "$*" >> "%s/ip.log"\nexit ${FAKE_IP_STATUS:-0}\n' "$PWD" > fake/ip
  chmod +x fake/ip
  : > ip.log
  printf 'nameserver 127.0.0.53\n' > root/run/stub-resolv.conf
  ln -s ../run/stub-resolv.conf root/etc/resolv.conf
  printf 'old\n' > root/kernel-hostname
  printf '%s\n' "banger.ip=10.0.0.2/24 banger.gw=10.0.0.1 banger.dns=1.1.1.1 banger.hostname=vm1" > cmdline
  real() {
    PATH=$PWD/fake:$PATH BANGER_CMDLINE_FILE=cmdline BANGER_SYS_CLASS_NET=net \
      BANGER_RESOLV_CONF=root/etc/resolv.conf BANGER_HOSTNAME_FILE=root/etc/hostname \
      BANGER_KERNEL_HOSTNAME_FILE=root/kernel-hostname BANGER_IFACE_WAIT=1 $sh "$script"
  }
  out=$(real 2>log); rc=$?
  expect_eq "$rc/$out" "0/" "$w real run exit status and quiet stdout"
  expect_eq "$(cat ip.log)" "link set dev eth0 up
addr replace 10.0.0.2/24 dev eth0
route replace default via 10.0.0.1 dev eth0" "$w real run ip commands"
  expect_eq "$(cat root/etc/resolv.conf)" "# written by banger-network-bootstrap from the kernel command line${nl}nameserver 1.1.1.1" "$w resolv.conf written"
  [ -L root/etc/resolv.conf ]; expect_eq "$?" 1 "$w the resolv.conf symlink is replaced"
  expect_eq "$(cat root/run/stub-resolv.conf)" "nameserver 127.0.0.53" "$w the symlink's target is untouched"
  expect_eq "$(cat root/etc/hostname)" "vm1" "$w /etc/hostname written"
  expect_eq "$(cat root/kernel-hostname)" "vm1" "$w kernel hostname written"
  expect_eq "$(stat -c %a root/etc/hostname)" "644" "$w /etc/hostname mode"
  expect_contains "$(cat log)" "network configured: eth0 10.0.0.2/24 via 10.0.0.1" "$w real run log"
  expect_eq "$(ls root/etc)" "hostname${nl}resolv.conf" "$w no temporary files left"

  : > ip.log
  out=$(FAKE_IP_STATUS=3 real 2>log); rc=$?
  expect_eq "$rc" 1 "$w failing ip exit status"
  expect_contains "$(cat log)" "banger-network-bootstrap: 'ip link set dev eth0 up' failed (exit 3)" "$w failing ip message"

  rmdir net/eth0
  out=$(real 2>log); rc=$?
  expect_eq "$rc" 1 "$w missing interface exit status"
  expect_contains "$(cat log)" "interface eth0 did not appear within 1s (interfaces: none)" "$w missing interface message"
done

finish
