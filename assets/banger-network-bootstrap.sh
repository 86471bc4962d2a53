#!/bin/sh
# banger-network-bootstrap: configures the guest's network from the kernel command line.
# Installed as /usr/local/libexec/banger-network-bootstrap; run once at boot (before the network
# is considered up) by banger-network.service or the banger-network OpenRC service.
#
# Parameters (docs/guest.md has the details):
#   banger.iface=NAME        interface to configure (default: the ip= device, else eth0)
#   banger.ip=ADDR/PREFIX    IPv4 address and prefix length, e.g. 10.0.0.2/24
#   banger.gw=ADDR           IPv4 default gateway
#   banger.dns=ADDR[,ADDR]   name servers for resolv.conf (at most 3; IPv4 or IPv6)
#   banger.hostname=NAME     host name (letters, digits, '-' and '.', at most 64 bytes)
#   banger.mtu=N             interface MTU (68 to 65535)
#   ip=CLIENT:SERVER:GW:NETMASK:HOSTNAME:DEVICE:AUTOCONF:DNS0:DNS1
#                            the kernel's own form; banger.* values win over its fields.
# No parameter at all: the network is left alone. A bad banger.* value: nothing is changed, the
# reason is logged and the exit status is 1. An ip= the script cannot use is logged and ignored,
# since the kernel may have applied it already.
#
# Test seams: BANGER_CMDLINE_FILE (default /proc/cmdline); RUN_PLAN=1 prints the commands and
# file writes instead of doing them; BANGER_RESOLV_CONF (/etc/resolv.conf), BANGER_HOSTNAME_FILE
# (/etc/hostname), BANGER_KERNEL_HOSTNAME_FILE (/proc/sys/kernel/hostname), BANGER_SYS_CLASS_NET
# (/sys/class/net) and BANGER_IFACE_WAIT (seconds to wait for the interface, default 10).

set -u
set -f

me=banger-network-bootstrap
cmdline_file=${BANGER_CMDLINE_FILE:-/proc/cmdline}
resolv_conf=${BANGER_RESOLV_CONF:-/etc/resolv.conf}
hostname_file=${BANGER_HOSTNAME_FILE:-/etc/hostname}
kernel_hostname_file=${BANGER_KERNEL_HOSTNAME_FILE:-/proc/sys/kernel/hostname}
sys_class_net=${BANGER_SYS_CLASS_NET:-/sys/class/net}
iface_wait=${BANGER_IFACE_WAIT:-10}
plan=${RUN_PLAN:-0}

log() { printf '%s: %s\n' "$me" "$*" >&2; }
die() { log "$*"; exit 1; }

# --- validation -------------------------------------------------------------------------------

is_uint() { # value max
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  # no leading zeros, and short enough that the arithmetic cannot overflow
  case $1 in 0?*) return 1 ;; esac
  [ ${#1} -le 5 ] && [ "$1" -le "$2" ]
}

# Functions that split on IFS run in a subshell, so the caller's IFS is never touched.
is_ipv4() (
  case $1 in *.*.*.*.*) return 1 ;; *.*.*.*) ;; *) return 1 ;; esac
  IFS=.
  set -- $1
  [ $# -eq 4 ] && is_uint "$1" 255 && is_uint "$2" 255 && is_uint "$3" 255 && is_uint "$4" 255
)

is_ipv6() {
  case $1 in *[!0-9A-Fa-f:.]* | *:*:*:*:*:*:*:*:*:* | '') return 1 ;; *:*:*) ;; *) return 1 ;; esac
  [ ${#1} -le 45 ]
}

ipv4_to_int() (
  IFS=.
  set -- $1
  echo $(( ($1 << 24) | ($2 << 16) | ($3 << 8) | $4 ))
)

# A dotted netmask as a prefix length; fails for a mask that is not contiguous.
mask_to_prefix() {
  is_ipv4 "$1" || return 1
  _m=$(ipv4_to_int "$1")
  _p=0
  while [ $_p -lt 32 ] && [ $(( (_m >> (31 - _p)) & 1 )) -eq 1 ]; do _p=$((_p + 1)); done
  [ $(( (_m << _p) & 4294967295 )) -eq 0 ] || return 1
  echo "$_p"
}

is_hostname() (
  [ ${#1} -ge 1 ] && [ ${#1} -le 64 ] || return 1
  case $1 in *[!A-Za-z0-9.-]* | .* | *. | *..* | -* | *.-* | *-. | *-) return 1 ;; esac
  IFS=.
  for label in $1; do
    [ ${#label} -le 63 ] || return 1
  done
)

is_iface() {
  [ ${#1} -ge 1 ] && [ ${#1} -le 15 ] || return 1
  case $1 in *[!A-Za-z0-9_.-]* | -* | . | ..) return 1 ;; esac
}

# --- reading the command line -----------------------------------------------------------------

iface=; addr=; prefix=; gw=; dns=; host=; mtu=
k_iface=; k_addr=; k_prefix=; k_gw=; k_dns=; k_host=
seen=0

# The kernel's ip= form; anything it cannot use is logged and ignored.
parse_kernel_ip() {
  case $1 in
    off | none | '') return 0 ;;
    dhcp | on | any | bootp | rarp | dhcp6 | auto6)
      log "ip=$1: address autoconfiguration is left to the kernel or a DHCP client"
      return 0 ;;
  esac
  case $1 in *'['*) log "ip=$1: IPv6 addresses are not supported; ignoring ip="; return 0 ;; esac
  _saved_ifs=$IFS; IFS=:
  set -- $1
  IFS=$_saved_ifs
  _client=${1:-}; _gw=${3:-}; _mask=${4:-}; _host=${5:-}; _dev=${6:-}; _auto=${7:-}
  _dns0=${8:-}; _dns1=${9:-}
  case $_auto in
    '' | off | none) ;;
    *) log "ip=: autoconf '$_auto' is left to the kernel or a DHCP client"; _client=; _gw= ;;
  esac
  if [ -n "$_client" ]; then
    is_ipv4 "$_client" || { log "ip=: '$_client' is not an IPv4 address; ignoring ip="; return 0; }
    if [ -n "$_mask" ]; then
      k_prefix=$(mask_to_prefix "$_mask") ||
        { log "ip=: '$_mask' is not a netmask; ignoring ip="; return 0; }
    else
      k_prefix=24
    fi
    k_addr=$_client
  fi
  if [ -n "$_gw" ]; then
    is_ipv4 "$_gw" || { log "ip=: '$_gw' is not an IPv4 gateway; ignoring it"; _gw=; }
    k_gw=$_gw
  fi
  if [ -n "$_host" ]; then
    if is_hostname "$_host"; then k_host=$_host; else log "ip=: bad hostname '$_host'; ignoring it"; fi
  fi
  if [ -n "$_dev" ]; then
    if is_iface "$_dev"; then k_iface=$_dev; else log "ip=: bad device '$_dev'; ignoring it"; fi
  fi
  for _d in $_dns0 $_dns1; do
    if is_ipv4 "$_d"; then k_dns="$k_dns${k_dns:+,}$_d"; else log "ip=: bad DNS '$_d'; ignoring it"; fi
  done
}

[ -r "$cmdline_file" ] || die "cannot read the kernel command line from $cmdline_file"
cmdline=$(cat "$cmdline_file") || die "cannot read the kernel command line from $cmdline_file"

for word in $cmdline; do
  [ "$word" = -- ] && break # the rest belongs to init
  value=${word#*=}
  # the kernel lets a value be double-quoted
  case $value in \"*\") value=${value#\"}; value=${value%\"} ;; esac
  case $word in
    banger.iface=*)
      is_iface "$value" || die "banger.iface=$value: not an interface name (1 to 15 of A-Z a-z 0-9 _ . -)"
      iface=$value; seen=1 ;;
    banger.ip=*)
      case $value in */*) ;; *) value=bad ;; esac
      addr=${value%/*}; prefix=${value##*/}
      { is_ipv4 "$addr" && is_uint "$prefix" 32; } ||
        die "banger.ip=${word#*=}: not an IPv4 address with a prefix length (like 10.0.0.2/24)"
      seen=1 ;;
    banger.gw=*)
      is_ipv4 "$value" || die "banger.gw=$value: not an IPv4 address (like 10.0.0.1)"
      gw=$value; seen=1 ;;
    banger.dns=*)
      _saved_ifs=$IFS; IFS=,
      _n=0
      for d in $value; do
        { is_ipv4 "$d" || is_ipv6 "$d"; } ||
          { IFS=$_saved_ifs; die "banger.dns=$value: '$d' is not an IPv4 or IPv6 address"; }
        _n=$((_n + 1))
      done
      IFS=$_saved_ifs
      [ "$_n" -ge 1 ] || die "banger.dns=$value: no address given"
      [ "$_n" -le 3 ] || die "banger.dns=$value: at most 3 name servers (the C library reads no more)"
      dns=$value; seen=1 ;;
    banger.hostname=*)
      is_hostname "$value" ||
        die "banger.hostname=$value: not a host name (letters, digits, '-' and '.', at most 64)"
      host=$value; seen=1 ;;
    banger.mtu=*)
      { is_uint "$value" 65535 && [ "$value" -ge 68 ]; } ||
        die "banger.mtu=$value: not an MTU (68 to 65535)"
      mtu=$value; seen=1 ;;
    banger.*=*)
      log "unknown parameter ${word%%=*}; ignoring it" ;;
    ip=*)
      seen=1
      parse_kernel_ip "$value" ;;
  esac
done

if [ "$seen" = 0 ]; then
  log "no banger.* or ip= parameter on the kernel command line; leaving the network alone"
  exit 0
fi

# banger.* wins over ip=
[ -n "$addr" ] || { addr=$k_addr; prefix=$k_prefix; }
[ -n "$gw" ] || gw=$k_gw
[ -n "$dns" ] || dns=$k_dns
[ -n "$host" ] || host=$k_host
[ -n "$iface" ] || iface=${k_iface:-eth0}

# --- doing it ---------------------------------------------------------------------------------

run() {
  if [ "$plan" = 1 ]; then
    printf '%s\n' "$*"
    return 0
  fi
  log "running: $*"
  "$@" || die "'$*' failed (exit $?)"
}

# Writes whole lines to a file through a temporary name, so the file is never half-written and
# a symlink in its place (a resolver's stub) is replaced rather than followed.
write_file() { # path line...
  _path=$1; shift
  if [ "$plan" = 1 ]; then
    printf 'write %s\n' "$_path"
    printf '  %s\n' "$@"
    return 0
  fi
  log "writing $_path"
  _tmp=$_path.banger-tmp.$$
  { printf '%s\n' "$@" > "$_tmp" && chmod 644 "$_tmp" && mv -f "$_tmp" "$_path"; } ||
    { rm -f "$_tmp"; die "cannot write $_path"; }
}

# /proc files cannot be replaced, only written.
write_in_place() { # path value
  if [ "$plan" = 1 ]; then
    printf 'write %s\n  %s\n' "$1" "$2"
    return 0
  fi
  log "writing $1"
  printf '%s\n' "$2" > "$1" || die "cannot write $1"
}

if [ -n "$addr$gw$mtu" ]; then
  if [ "$plan" != 1 ] && [ ! -e "$sys_class_net/$iface" ]; then
    log "waiting up to ${iface_wait}s for interface $iface"
    _i=0
    while [ ! -e "$sys_class_net/$iface" ] && [ "$_i" -lt "$iface_wait" ]; do
      sleep 1
      _i=$((_i + 1))
    done
    if [ ! -e "$sys_class_net/$iface" ]; then
      _have=$(ls "$sys_class_net" 2>/dev/null | tr '\n' ' ')
      die "interface $iface did not appear within ${iface_wait}s (interfaces: ${_have:-none})"
    fi
  fi
  [ -z "$mtu" ] || run ip link set dev "$iface" mtu "$mtu"
  run ip link set dev "$iface" up
  [ -z "$addr" ] || run ip addr replace "$addr/$prefix" dev "$iface"
  if [ -n "$gw" ]; then
    onlink=
    if [ -n "$addr" ]; then
      # a gateway outside the interface's subnet needs onlink, or the kernel refuses the route
      _mask=$(( prefix == 0 ? 0 : (4294967295 << (32 - prefix)) & 4294967295 ))
      [ $(( $(ipv4_to_int "$addr") & _mask )) -eq $(( $(ipv4_to_int "$gw") & _mask )) ] ||
        onlink=onlink
    fi
    run ip route replace default via "$gw" dev "$iface" $onlink
  fi
fi

if [ -n "$dns" ]; then
  set -- "# written by $me from the kernel command line"
  _saved_ifs=$IFS; IFS=,
  for d in $dns; do set -- "$@" "nameserver $d"; done
  IFS=$_saved_ifs
  write_file "$resolv_conf" "$@"
fi

if [ -n "$host" ]; then
  write_in_place "$kernel_hostname_file" "$host"
  write_file "$hostname_file" "$host"
fi

if [ "$plan" != 1 ]; then
  if [ -n "$addr$gw$mtu$dns$host" ]; then
    log "network configured${addr:+: $iface $addr/$prefix}${gw:+ via $gw}"
  else
    log "nothing usable on the kernel command line; leaving the network alone"
  fi
fi
exit 0
