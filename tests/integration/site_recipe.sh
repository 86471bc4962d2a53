#!/bin/bash
# examples/site-agent.lua: the default build with the site's changes made to the payload as data
# (its agent, config and unit from files beside the recipe added, a mode changed, an entry
# dropped) and a distro added to first boot; checked with e2fsck -fn and debugfs.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
command -v debugfs >/dev/null || skip "debugfs is not installed (make deps)"
demo_layout layout

"$BANGER" -q --cache-dir "$PWD/cache" "$BANGER_SOURCE_DIR/examples/site-agent.lua" \
  "image=oci:$PWD/layout:demo" out=site.ext4 endpoint=https://metrics.test 2>err
expect_eq "$?" 0 "site recipe ($(cat err))"
e2fsck -fn site.ext4 >/dev/null 2>&1
expect_eq "$?" 0 "e2fsck -fn"
mode_of() { debugfs -R "stat $1" site.ext4 2>/dev/null | sed -n 's/.*Mode: *\([0-7]*\).*/\1/p'; }
owner_of() { debugfs -R "stat $1" site.ext4 2>/dev/null | awk '/User:/ { print $2 ":" $4 }'; }
expect_eq "$(mode_of /usr/local/bin/site-agent)" "0755" "agent mode"
expect_eq "$(owner_of /usr/local/bin/site-agent)" "0:0" "agent owner"
expect_eq "$(debugfs -R 'cat /usr/local/bin/site-agent' site.ext4 2>/dev/null | sha256sum)" \
  "$(sha256sum < "$BANGER_SOURCE_DIR/examples/site/site-agent")" "agent bytes"
expect_eq "$(mode_of /etc/site-agent/site-agent.conf)" "0640" "config mode"
expect_contains "$(debugfs -R 'cat /etc/site-agent/site-agent.conf' site.ext4 2>/dev/null)" \
  "endpoint = https://metrics.test" "endpoint from args"
expect_eq "$(debugfs -R 'stat /etc/systemd/system/multi-user.target.wants/site-agent.service' \
  site.ext4 2>/dev/null | sed -n 's/^Fast link dest: "\(.*\)"$/\1/p')" \
  "/etc/systemd/system/site-agent.service" "site unit enabled"
expect_eq "$(debugfs -R 'cat /etc/systemd/system/site-agent.service' site.ext4 2>/dev/null)" \
  "$(cat "$BANGER_SOURCE_DIR/examples/site/site-agent.service")" "site unit bytes"
# changed and dropped entries
expect_eq "$(mode_of /usr/local/libexec/banger-first-boot)" "0700" "first-boot script made 0700"
debugfs -R "stat /etc/modules-load.d/banger-vsock.conf" site.ext4 2>&1 | grep -q "File not found"
expect_eq "$?" 0 "the modules-load file dropped"
debugfs -R "dump /usr/local/libexec/banger-first-boot fb.sh" site.ext4 2>/dev/null
printf 'ID=acme\nID_LIKE=debian\n' > osr
mkdir -p empty
out=$(PATH=$PWD/empty RUN_PLAN=1 OS_RELEASE_FILE=osr "$(command -v dash || command -v sh)" fb.sh 2>log)
expect_eq "$(head -n1 <<<"$out")" "apt-get install -y openssh-server" "the site's distro has its branch"
expect_contains "$(cat log)" "using the 'acme (apt-get)' branch (matched 'acme')" "and takes it"
# the default behaviour is still there
expect_eq "$(mode_of /usr/local/bin/banger-vsock-agent)" "0755" "banger agent injected too"
expect_eq "$(mode_of /var/lib/banger/first-boot-pending)" "0644" "first-boot marker"
expect_eq "$(mode_of /etc/systemd/system/banger-vsock-agent.service)" "0644" "banger units too"
finish
