#!/bin/bash
# Meant to boot what `banger-build recipes/alpine.lua` makes, on an Alpine-like guest. It skips,
# and says why: no such guest can be made from the packages this test may use.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"

[ -f "$BANGER_SOURCE_DIR/recipes/alpine.lua" ] ||
  skip "recipes/alpine.lua does not exist yet, so there is no image to boot"
# The guests come from Debian's mirror only. Debian bookworm packages busybox and openrc but not
# apk-tools (`apt-cache policy apk-tools`: no candidate) nor a musl userland to run it, so a guest
# claiming ID=alpine could not run the alpine first-boot branch (`apk add openssh`), and the test
# would prove nothing about it; an OpenRC guest on Debian's kernel is not built by
# tests/tools/boot-guest.sh.
skip "no Alpine-like guest: Debian bookworm has busybox and openrc but no apk-tools, so the\
 alpine first-boot branch cannot run; tests/tools/boot-guest.sh builds systemd guests only"
