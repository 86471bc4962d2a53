#!/bin/bash
# Boots what `banger-build recipes/default.lua` makes from a Debian guest (systemd, sshd, Debian's
# kernel) pulled from a loopback registry, twice, under QEMU. The first boot must reach
# multi-user with banger-network and banger-vsock-agent active, run first-boot, find sshd, remove
# the marker and have sshd listening; the second must not run first-boot again. All read from
# the `BANGER-REPORT` lines the guest prints on its serial console (tests/boot/lib/guest/).
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/boot/lib/boot.sh"
. "$BANGER_SOURCE_DIR/tests/boot/lib/recipe.sh"

recipe=$BANGER_SOURCE_DIR/recipes/default.lua
boot_begin
if build_with_recipe "$recipe" sshd "$PWD/sshd.ext4"; then
  boot_check "$PWD/sshd-1.log" sshd.ext4 user check_sshd_first_boot
  boot_check "$PWD/sshd-2.log" sshd.ext4 user check_sshd_second_boot
fi
boot_keep_or_clean
finish
