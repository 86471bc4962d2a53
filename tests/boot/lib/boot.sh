# Shared by the boot tests: the guest builder, kernel extraction, the QEMU
# run and the checks on the `BANGER-REPORT key=value` lines the guest prints on its serial console.
# Source tests/lib.sh first (expect_eq, skip, finish).
boot_lib=$BANGER_SOURCE_DIR/tests/boot/lib
# The shared loopback registry helper when the tree has one, else the boot tests' own.
if [ -f "$BANGER_SOURCE_DIR/tests/lib/registry.sh" ]; then
  . "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
  boot_registry_start() { # DIR (unused: the shared helper keeps its data in the test directory)
    registry_start
  }
  boot_registry_stop() { bg_cleanup; }
  boot_registry_push() { registry_push "$1" latest "$2"; }
else
  . "$boot_lib/registry.sh"
fi

export BANGER_BOOT_CACHE=${BANGER_BOOT_CACHE:-${BANGER_BUILD_DIR:-$BANGER_SOURCE_DIR/build}/boot-cache}
# Under TCG a boot takes about a minute; the bound is generous so a loaded machine still passes.
BOOT_TIMEOUT=${BANGER_BOOT_TIMEOUT:-360}
BOOT_CMDLINE_NET="banger.ip=10.0.2.15/24 banger.gw=10.0.2.2 banger.dns=10.0.2.3 banger.hostname=bangertest"
# What a first boot that could not install sshd logs (assets/first-boot.sh.in, `die`).
FIRSTBOOT_FAIL_TEXT="command failed (exit"

boot_require_tools() {
  local t
  for t in qemu-system-x86_64 debugfs mmdebstrap umoci skopeo docker-registry python3 timeout; do
    command -v "$t" >/dev/null || skip "$t is not installed (make deps)"
  done
}

boot_guest() { # rootfs|oci NAME -> path on stdout; times the build
  local start=$SECONDS out
  out=$("$BANGER_SOURCE_DIR/tests/tools/boot-guest.sh" "$1" "$2") || return 1
  printf 'guest %s (%s): ready in %d s\n' "$2" "$1" "$((SECONDS - start))" >&2
  printf '%s\n' "$out"
}

# Takes /boot/vmlinuz-* and /boot/initrd.img-* out of an ext4 image with debugfs, which also
# proves they are in it. Sets KERNEL and INITRD.
boot_kernel() { # IMAGE OUTDIR
  local img=$1 dir=$2 v i
  mkdir -p "$dir"
  v=$(debugfs -R "ls -p /boot" "$img" 2>/dev/null | awk -F/ '$3 ~ /^100/ && $6 ~ /^vmlinuz-/ { print $6 }' | sort | tail -n 1)
  i=$(debugfs -R "ls -p /boot" "$img" 2>/dev/null | awk -F/ '$3 ~ /^100/ && $6 ~ /^initrd\.img-/ { print $6 }' | sort | tail -n 1)
  if [ -z "$v" ] || [ -z "$i" ]; then
    printf 'no /boot/vmlinuz-* or /boot/initrd.img-* in %s\n' "$img" >&2
    return 1
  fi
  KERNEL=$dir/$v
  INITRD=$dir/$i
  debugfs -R "dump /boot/$v $KERNEL" "$img" >/dev/null 2>&1 || return 1
  debugfs -R "dump /boot/$i $INITRD" "$img" >/dev/null 2>&1 || return 1
  [ -s "$KERNEL" ] && [ -s "$INITRD" ]
}

# KVM when /dev/kvm is there and a paused VM starts on it (nested hosts can refuse MSRs and
# make QEMU abort), else TCG. BANGER_BOOT_ACCEL=tcg forces software emulation.
# `host,-arch-capabilities`: the MSR behind that feature is the one nested hosts refuse.
BOOT_KVM_CPU=host,-arch-capabilities
boot_accel() {
  if [ -n "${BANGER_BOOT_ACCEL:-}" ]; then
    printf '%s\n' "$BANGER_BOOT_ACCEL"
    return
  fi
  if [ -z "${BOOT_KVM_OK:-}" ]; then
    BOOT_KVM_OK=no
    if [ "$(cat "$BANGER_BOOT_CACHE/kvm-stalls" 2>/dev/null)" = "$(uname -r)" ]; then
      :  # an earlier run saw KVM stall on this host kernel
    elif [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
      timeout 2 qemu-system-x86_64 -accel kvm -cpu "$BOOT_KVM_CPU" -machine q35 -m 64 \
        -display none -nodefaults -monitor none -S >/dev/null 2>&1
      [ $? -eq 124 ] && BOOT_KVM_OK=yes
    fi
  fi
  if [ "$BOOT_KVM_OK" = yes ]; then printf 'kvm\n'; else printf 'tcg\n'; fi
}

VSOCK_DEVICE=no
[ -c /dev/vhost-vsock ] && VSOCK_DEVICE=yes

# The TSC frequency a microvm guest is told under TCG (kHz): the host's, which TCG's TSC follows.
# microvm has no port 0x61, HPET or ACPI PM timer, so the kernel cannot calibrate the TSC against
# anything, and without kvmclock (KVM only) it waits forever for a timer (docs/boot-test.md).
boot_tsc_khz() {
  awk -F: '/^cpu MHz/ { printf "%d\n", $2 * 1000; found = 1; exit } END { if (!found) print 2000000 }' \
    /proc/cpuinfo
}

# Boots IMAGE with KERNEL/INITRD; the serial console goes to LOG. NET is `user` (QEMU user
# networking, the banger.* parameters on the command line) or `none` (no network device at all).
# BOOT_MACHINE picks the device model: q35 (default; virtio-pci) or microvm (virtio-mmio, no PCI,
# the devices described to the kernel by ACPI).
# Returns 0 when the guest printed its whole report and powered off, 124 on timeout.
boot_vm() { # LOG IMAGE NET
  local log=$1 img=$2 net=$3 machine=${BOOT_MACHINE:-q35} accel cpu rc start cmdline pid bus
  local -a args
  [ -n "${BOOT_ACCEL:-}" ] || BOOT_ACCEL=$(boot_accel)
  accel=$BOOT_ACCEL
  cpu=max
  [ "$accel" = kvm ] && cpu=$BOOT_KVM_CPU
  cmdline="root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=-1"
  if [ "$machine" = microvm ]; then
    bus=device
    args=(-machine microvm,acpi=on -nodefaults
          -drive "id=d0,file=$img,if=none,format=raw,cache=unsafe" -device virtio-blk-device,drive=d0)
    [ "$accel" = kvm ] || cmdline="$cmdline tsc_early_khz=$(boot_tsc_khz)"
  else
    bus=pci
    args=(-machine q35 -drive "file=$img,if=virtio,format=raw,cache=unsafe")
  fi
  args+=(-accel "$accel" -cpu "$cpu" -m 1024 -smp 2 -nographic -no-reboot
         -kernel "$KERNEL" -initrd "$INITRD" -serial "file:$log" -monitor none)
  if [ "$net" = user ]; then
    args+=(-netdev user,id=n0 -device "virtio-net-$bus,netdev=n0")
    cmdline="$cmdline $BOOT_CMDLINE_NET"
  elif [ "$machine" != microvm ]; then
    args+=(-nic none)
  fi
  if [ "$VSOCK_DEVICE" = yes ]; then
    args+=(-device "vhost-vsock-$bus,guest-cid=3")
  fi
  start=$SECONDS
  : > "$log"
  timeout --kill-after=10 "$BOOT_TIMEOUT" qemu-system-x86_64 "${args[@]}" -append "$cmdline" \
    > "$log.qemu" 2>&1 < /dev/null &
  pid=$!
  # A nested KVM can start a VM and then never run it, or stop it at once with an internal
  # error: with no kernel banner on the console after BOOT_KVM_GRACE seconds, or QEMU gone before
  # one, this boot and the later ones fall back to TCG, and the cache remembers it for this host
  # kernel.
  if [ "$accel" = kvm ]; then
    while ! grep -q 'Linux version' "$log"; do
      if ! kill -0 "$pid" 2>/dev/null || [ $((SECONDS - start)) -ge "${BANGER_BOOT_KVM_GRACE:-20}" ]; then
        printf 'KVM: no kernel banner after %d s; falling back to TCG\n' "$((SECONDS - start))" >&2
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        BOOT_ACCEL=tcg
        mkdir -p "$BANGER_BOOT_CACHE" && uname -r > "$BANGER_BOOT_CACHE/kvm-stalls"
        boot_vm "$@"
        return
      fi
      sleep 1
    done
  fi
  wait "$pid"
  rc=$?
  BOOT_SECONDS=$((SECONDS - start))
  printf 'boot %s (%s, %s, net %s): qemu exit %d after %d s; serial log %s\n' \
    "$(basename "$log")" "$machine" "$accel" "$net" "$rc" "$BOOT_SECONDS" "$log" >&2
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    printf 'the guest did not power off within %d s\n' "$BOOT_TIMEOUT" >&2
    return 124
  fi
  if ! grep -q 'BANGER-REPORT end' "$log"; then
    printf 'the guest powered off without a complete report; last lines of %s:\n' "$log" >&2
    tr -d '\r' < "$log" | tail -n 40 >&2
    return 1
  fi
  return "$rc"
}

# Boots and, when the guest reported, runs CHECK LOG ARGS...; a boot without a report is a failure.
boot_check() { # LOG IMAGE NET CHECK [ARGS...]
  local log=$1 img=$2 net=$3 fn=$4
  shift 4
  if boot_vm "$log" "$img" "$net"; then
    "$fn" "$log" "$@"
  else
    bg_fail=$((bg_fail + 1))
    printf 'FAIL %s: no report from the guest (serial log %s)\n' "$(basename "$log")" "$log" >&2
  fi
}

report() { # LOG KEY -> the value of the last `BANGER-REPORT KEY=value` line
  tr -d '\r' < "$1" | sed -n "s/^.*BANGER-REPORT $2=//p" | tail -n 1
}

expect_report() { # LOG KEY WANT
  expect_eq "$(report "$1" "$2")" "$3" "$(basename "$1"): $2"
}

report_logs() { # LOG -> the unit journal lines the guest printed
  tr -d '\r' < "$1" | sed -n 's/^.*BANGER-LOG //p'
}

expect_vsock_active() { # LOG
  expect_report "$1" vsock active
  expect_vsock_health "$1"
}

expect_vsock_health() { # LOG
  local health
  # the agent answered a HEALTH request over AF_VSOCK (the guest's loopback transport)
  health=$(report "$1" vsock-health)
  case $health in
    "OK banger-vsock-agent "*" uptime="[0-9]*) bg_pass=$((bg_pass + 1)) ;;
    *) bg_fail=$((bg_fail + 1))
       printf 'FAIL %s: vsock-health: expected an OK answer, got [%s]\n' "$(basename "$1")" \
         "$health" >&2 ;;
  esac
}

# The image with sshd, first boot: everything injected ran and first-boot removed the marker.
check_sshd_first_boot() { # LOG
  local log=$1
  expect_report "$log" boot 1
  expect_report "$log" multi-user active
  expect_report "$log" network active
  expect_vsock_active "$log"
  expect_report "$log" vsock-module loaded
  expect_report "$log" firstboot ran
  expect_report "$log" firstboot-result success
  expect_report "$log" marker absent
  expect_report "$log" sshd-binary present
  expect_report "$log" sshd listening
  expect_report "$log" hostname bangertest
  expect_report "$log" addr 10.0.2.15/24
  expect_report "$log" gw 10.0.2.2
  expect_report "$log" dns 10.0.2.3
  expect_report "$log" disk-transport "${BOOT_DISK_TRANSPORT:-pci}"
}

# The same image booted again: first-boot's condition is false, so it does not run.
check_sshd_second_boot() { # LOG
  local log=$1
  expect_report "$log" boot 2
  expect_report "$log" multi-user active
  expect_report "$log" network active
  expect_vsock_active "$log"
  expect_report "$log" firstboot skipped
  expect_report "$log" marker absent
  expect_report "$log" sshd listening
  expect_report "$log" addr 10.0.2.15/24
}

# The image without sshd and without a network: first-boot runs, fails, says why, keeps the
# marker; the next boot runs it again.
check_nossh_boot() { # LOG N
  local log=$1
  expect_report "$log" boot "$2"
  expect_report "$log" multi-user active
  expect_report "$log" firstboot ran
  expect_report "$log" firstboot-result exit-code
  expect_report "$log" marker present
  expect_report "$log" sshd-binary absent
  expect_report "$log" sshd not-listening
  expect_contains "$(report_logs "$log")" "$FIRSTBOOT_FAIL_TEXT" "$(basename "$log"): first-boot failure line"
}

# What the OpenRC guest's console shows of first boot: the script's short-cut line when sshd is
# already installed, and the service's own line when the marker is gone.
FIRSTBOOT_SSHD_PRESENT_TEXT="banger-first-boot: sshd is already installed; nothing to do"
FIRSTBOOT_DONE_TEXT="banger first boot already done"

console() { # LOG -> the serial log without carriage returns
  tr -d '\r' < "$1"
}

# The OpenRC guest with sshd (recipes/alpine.lua), common to both boots: OpenRC's default
# runlevel, the three banger services started, the network as the command line said, the vsock
# agent answering, sshd listening, the marker gone, nothing crashed.
check_openrc_boot() { # LOG N
  local log=$1
  expect_report "$log" boot "$2"
  expect_report "$log" init init
  expect_report "$log" runlevel default
  expect_report "$log" network started
  expect_report "$log" vsock started
  expect_report "$log" firstboot started
  expect_report "$log" vsock-module loaded
  expect_vsock_health "$log"
  expect_report "$log" marker absent
  expect_report "$log" sshd-binary present
  expect_report "$log" ssh-service running
  expect_report "$log" sshd listening
  expect_report "$log" hostname bangertest
  expect_report "$log" addr 10.0.2.15/24
  expect_report "$log" gw 10.0.2.2
  expect_report "$log" dns 10.0.2.3
  expect_report "$log" failed ""
}

# First boot: the first-boot script ran, found sshd (the guest has it preinstalled) and removed
# the marker; the service did not take its "already done" path.
check_openrc_first_boot() { # LOG
  check_openrc_boot "$1" 1
  expect_eq "$(console "$1" | grep -cF "$FIRSTBOOT_SSHD_PRESENT_TEXT")" 1 \
    "$(basename "$1"): first-boot ran"
  expect_eq "$(console "$1" | grep -cF "$FIRSTBOOT_DONE_TEXT")" 0 \
    "$(basename "$1"): first-boot did not skip"
}

# Second boot: the marker is absent, so the service's own condition skips the script.
check_openrc_second_boot() { # LOG
  check_openrc_boot "$1" 2
  expect_eq "$(console "$1" | grep -cF "$FIRSTBOOT_DONE_TEXT")" 1 \
    "$(basename "$1"): first-boot skipped"
  expect_eq "$(console "$1" | grep -cF "$FIRSTBOOT_SSHD_PRESENT_TEXT")" 0 \
    "$(basename "$1"): first-boot script did not run"
}
