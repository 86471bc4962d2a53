#!/bin/bash
# Boots what `banger-build recipes/default.lua kernel=DIR` makes from the Debian guest with sshd,
# twice, on QEMU's microvm machine: virtio-mmio devices and no PCI, the device model Firecracker
# uses, with the kernel and initrd banger-build wrote into DIR (the uncompressed vmlinux ELF,
# booted through its PVH entry point, as a VMM that takes a vmlinux does). The checks are the
# q35 boot's: multi-user, banger-network, banger-vsock-agent answering, first boot once; and the
# root disk on virtio-mmio with no PCI device in the machine.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/boot/lib/boot.sh"
. "$BANGER_SOURCE_DIR/tests/boot/lib/recipe.sh"

recipe=$BANGER_SOURCE_DIR/recipes/default.lua
kdir=$PWD/vmm
json_field() { # FILE EXPR (python, d = the JSON)
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2"
}

boot_begin
BANGER_BOOT_RECIPE_ARGS="--json kernel=$kdir ${BANGER_BOOT_RECIPE_ARGS:-}"
if build_with_recipe "$recipe" sshd "$PWD/sshd.ext4"; then
  # what kernel= wrote is what the image's /boot holds (taken out with debugfs as the q35 test
  # does), and vmlinux is the uncompressed x86-64 ELF, as file(1) sees it
  grep '^{' build-sshd.log > build.json
  cmp -s "$kdir/vmlinuz" "$KERNEL"; expect_eq "$?" 0 "vmlinuz is the image's /boot/$(basename "$KERNEL")"
  cmp -s "$kdir/initrd.img" "$INITRD"; expect_eq "$?" 0 "initrd.img is the image's /boot/$(basename "$INITRD")"
  expect_contains "$(file -b "$kdir/vmlinux")" "ELF 64-bit LSB executable, x86-64" "file(1) on vmlinux"
  expect_eq "$(json_field build.json 'd["kernel"]["unpacked"]["path"]')" "$kdir/vmlinux" "--json names vmlinux"
  expect_eq "$(json_field build.json 'd["kernel"]["initrd"]["path"]')" "$kdir/initrd.img" "--json names initrd.img"
  expect_eq "$(json_field build.json 'd["kernel"]["kernel"]["path"]')" "$kdir/vmlinuz" "--json names vmlinuz"
  expect_eq "$(json_field build.json 'd["kernel"]["unpacked"]["size"]')" "$(stat -c %s "$kdir/vmlinux")" \
    "--json vmlinux size"
  KERNEL=$kdir/vmlinux
  INITRD=$kdir/initrd.img
  export BOOT_MACHINE=microvm BOOT_DISK_TRANSPORT=mmio
  boot_check "$PWD/microvm-1.log" sshd.ext4 user check_sshd_first_boot
  expect_report "$PWD/microvm-1.log" pci-devices 0
  boot_check "$PWD/microvm-2.log" sshd.ext4 user check_sshd_second_boot
  expect_report "$PWD/microvm-2.log" pci-devices 0
fi
boot_keep_or_clean
[ "$bg_fail" -ne 0 ] || rm -rf "$kdir"
finish
