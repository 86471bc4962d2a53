#!/bin/bash
# Boots what `banger-build recipes/alpine.lua` makes, twice, under QEMU: an OpenRC guest made from
# Debian bookworm packages (sysvinit's /etc/inittab runs OpenRC's runlevels, Debian's kernel,
# openssh-server) whose os-release says ID=alpine, since the recipe refuses other images.
# The first boot must start banger-network, banger-vsock-agent and banger-first-boot, configure
# the network from the command line, have the agent answer over AF_VSOCK, run first boot, which
# removes the marker, and have sshd listening; the second must skip first boot (the service's own
# marker check) and bring the rest up again. Read from the `BANGER-REPORT` lines the test
# service prints on the serial console (tests/boot/lib/guest/banger-test-report-openrc*).
#
# Debian has no apk-tools, so sshd is preinstalled and first boot takes its "sshd is already
# installed" short-cut: the apk branch itself cannot run here. What it would run is checked in
# plan mode by tests/integration/firstboot_dispatch.sh.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/boot/lib/boot.sh"
. "$BANGER_SOURCE_DIR/tests/boot/lib/recipe.sh"

recipe=$BANGER_SOURCE_DIR/recipes/alpine.lua
boot_begin
if build_with_recipe "$recipe" openrc "$PWD/openrc.ext4"; then
  boot_check "$PWD/openrc-1.log" openrc.ext4 user check_openrc_first_boot
  boot_check "$PWD/openrc-2.log" openrc.ext4 user check_openrc_second_boot
fi
boot_keep_or_clean
finish
