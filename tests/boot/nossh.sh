#!/bin/bash
# Boots what `banger-build recipes/default.lua` makes from a Debian guest without openssh-server,
# with no network device at all, twice: first-boot must try the install, fail with its
# "command failed" line, and keep the marker, so the second boot tries again.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/boot/lib/boot.sh"
. "$BANGER_SOURCE_DIR/tests/boot/lib/recipe.sh"

recipe=$BANGER_SOURCE_DIR/recipes/default.lua
boot_begin
if build_with_recipe "$recipe" nossh "$PWD/nossh.ext4"; then
  boot_check "$PWD/nossh-1.log" nossh.ext4 none check_nossh_boot 1
  boot_check "$PWD/nossh-2.log" nossh.ext4 none check_nossh_boot 2
fi
boot_keep_or_clean
finish
