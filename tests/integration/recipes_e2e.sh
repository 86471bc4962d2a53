#!/bin/bash
# End to end: images pushed to a real registry on loopback, built by the shipped recipes, checked
# with e2fsck -fn and debugfs. Also the failure paths: no output file may be left behind.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need e2fsck debugfs python3
registry_start
tools=$BANGER_SOURCE_DIR/tests/tools
export SOURCE_DATE_EPOCH=1700000000
cache=$PWD/cache

# ---- a two-layer Debian-like image ----
cat > base.layer <<'SPEC'
dir      /etc                   0755 0 0
file     /etc/os-release        0644 0 0 =ID=debian
dir      /etc/alternatives      0755 0 0
symlink  /etc/alternatives/awk  0777 0 0 /usr/bin/mawk
dir      /usr                   0755 0 0
dir      /usr/bin               0755 0 0
file     /usr/bin/mawk          0755 0 0 =mawk
file     /usr/bin/sudo          4755 0 0 =sudo
dir      /lib                   0755 0 0
dir      /lib/systemd           0755 0 0
file     /lib/systemd/systemd   0755 0 0 =systemd
dir      /home                  0755 0 0
dir      /home/user             0700 1000 1000
file     /home/user/.profile    0644 1000 1000 =profile
file     /home/user/big         0640 100000 100001 %5000
dir      /var                   0755 0 0
dir      /var/cache             0755 0 0
file     /var/cache/gone        0644 0 0 =stale
dir      /etc/conf.d            0755 0 0
file     /etc/conf.d/lower      0644 0 0 =lower
char     /dev/null              0666 0 0 1 3
SPEC
cat > top.layer <<'SPEC'
whiteout /var/cache/gone
opaque   /etc/conf.d
file     /etc/conf.d/upper      0644 0 0 =upper
file     /usr/bin/newgrp        2755 0 42 =newgrp
SPEC
python3 "$tools/mktar.py" base.layer base.tar || exit 1
python3 "$tools/mktar.py" top.layer top.tar || exit 1
python3 "$tools/mkimage.py" deb-oci --tag 1 --layer base.tar --layer top.tar >/dev/null || exit 1
registry_push deb-oci 1 e2e/deb:1

# debugfs_stat PATH: "type mode uid gid" of PATH in image $img
stat_of() {
  debugfs -R "stat \"$1\"" "$img" 2>/dev/null | awk '
    /Type:/ { for (i = 1; i <= NF; i++) { if ($i == "Type:") t = $(i+1); if ($i == "Mode:") m = $(i+1) } }
    /User:/ { for (i = 1; i <= NF; i++) { if ($i == "User:") u = $(i+1); if ($i == "Group:") g = $(i+1) } }
    END { print t, m, u, g }'
}
link_of() {
  debugfs -R "stat \"$1\"" "$img" 2>/dev/null | sed -n 's/^Fast link dest: "\(.*\)"$/\1/p'
}

img=$PWD/deb.ext4
"$BANGER" -q --cache-dir "$cache" "$BANGER_SOURCE_DIR/recipes/default.lua" \
  "image=$REGISTRY/e2e/deb:1" "out=$img" 2>err; rc=$?
expect_eq "$rc" 0 "default recipe exit status ($(cat err))"
e2fsck -fn "$img" >fsck.log 2>&1; expect_eq "$?" 0 "e2fsck -fn on the default build"

for row in \
  "/usr/local/bin/banger-vsock-agent|regular 0755 0 0" \
  "/usr/local/libexec/banger-network-bootstrap|regular 0755 0 0" \
  "/etc/systemd/system/banger-network.service|regular 0644 0 0" \
  "/etc/systemd/system/banger-vsock-agent.service|regular 0644 0 0" \
  "/etc/modules-load.d/banger-vsock.conf|regular 0644 0 0" \
  "/usr/local/libexec/banger-first-boot|regular 0755 0 0" \
  "/etc/systemd/system/banger-first-boot.service|regular 0644 0 0" \
  "/var/lib/banger/first-boot-pending|regular 0644 0 0" \
  "/etc/systemd/system/multi-user.target.wants/banger-network.service|symlink 0777 0 0" \
  "/etc/systemd/system/multi-user.target.wants/banger-vsock-agent.service|symlink 0777 0 0" \
  "/etc/systemd/system/multi-user.target.wants/banger-first-boot.service|symlink 0777 0 0" \
  "/|directory 0755 0 0" \
  "/dev|directory 0755 0 0" \
  "/proc|directory 0755 0 0" \
  "/sys|directory 0755 0 0" \
  "/run|directory 0755 0 0" \
  "/tmp|directory 01777 0 0" \
  "/var/lib/banger|directory 0755 0 0" \
  "/usr/bin/sudo|regular 04755 0 0" \
  "/usr/bin/newgrp|regular 02755 0 42" \
  "/home/user|directory 0700 1000 1000" \
  "/home/user/.profile|regular 0644 1000 1000" \
  "/home/user/big|regular 0640 100000 100001" \
  "/etc/alternatives/awk|symlink 0777 0 0"; do
  expect_eq "$(stat_of "${row%%|*}")" "${row#*|}" "debugfs stat ${row%%|*}"
done
for unit in banger-network banger-vsock-agent banger-first-boot; do
  expect_eq "$(link_of "/etc/systemd/system/multi-user.target.wants/$unit.service")" \
    "/etc/systemd/system/$unit.service" "wants link of $unit"
done
expect_eq "$(link_of /etc/alternatives/awk)" "/usr/bin/mawk" "absolute symlink kept"
debugfs -R "stat /var/cache/gone" "$img" 2>&1 | grep -q "File not found"
expect_eq "$?" 0 "whiteout removed /var/cache/gone"
debugfs -R "stat /etc/conf.d/lower" "$img" 2>&1 | grep -q "File not found"
expect_eq "$?" 0 "opaque directory hid the lower file"
expect_eq "$(debugfs -R 'cat /etc/conf.d/upper' "$img" 2>/dev/null)" "upper" "upper file content"
debugfs -R "stat /dev/null" "$img" 2>&1 | grep -q "File not found"
expect_eq "$?" 0 "device nodes skipped by default"
debugfs -R "dump /usr/local/libexec/banger-first-boot first-boot" "$img" 2>/dev/null
expect_contains "$(cat first-boot)" "/etc/os-release" "first-boot script injected"
expect_eq "$(debugfs -R 'cat /usr/local/bin/banger-vsock-agent' "$img" 2>/dev/null | sha256sum)" \
  "$(sha256sum <"$BANGER_BUILD_DIR/banger-vsock-agent")" "agent binary injected byte for byte"

# --json: the result, and the output's sha256 (cache=off: this is a build, not a restore)
out=$("$BANGER" -q --json --cache-dir "$cache" "$BANGER_SOURCE_DIR/recipes/default.lua" \
  "image=$REGISTRY/e2e/deb:1" "out=$PWD/deb2.ext4" cache=off)
json() { python3 -c 'import json, sys; d = json.load(sys.stdin)
for k in sys.argv[1].split("."): d = d[k]
print(d)' "$1" <<<"$out"; }
expect_eq "$(json sha256)" "sha256:$(sha256sum deb2.ext4 | cut -d' ' -f1)" "--json sha256"
expect_eq "$(json platform)" "linux/amd64" "--json platform"
expect_eq "$(json output)" "$PWD/deb2.ext4" "--json output"
expect_eq "$(json image)" "$REGISTRY/e2e/deb:1" "--json image"
expect_eq "$(json size)" "$(stat -c %s deb2.ext4)" "--json size"
expect_eq "$(json digest)" "$(python3 -c 'import json; print(json.load(open("deb-oci/index.json"))["manifests"][0]["digest"])')" "--json digest"
expect_eq "$(json ok)" "True" "--json ok"
expect_eq "$(json cache)" "off" "--json cache"
expect_contains "$(json key)" "sha256:" "--json key"
for phase in pull flatten inject build total; do
  expect_contains "$(json timings.$phase)" "." "--json timing of $phase"
done
expect_eq "$(sha256sum <deb.ext4)" "$(sha256sum <deb2.ext4)" "same image twice: byte-identical"

# the debian recipe accepts it; the alpine recipe refuses it before writing anything
"$BANGER" -q --cache-dir "$cache" "$BANGER_SOURCE_DIR/recipes/debian.lua" \
  "image=$REGISTRY/e2e/deb:1" "out=$PWD/debian.ext4" 2>err
expect_eq "$?" 0 "debian recipe ($(cat err))"
e2fsck -fn debian.ext4 >/dev/null 2>&1; expect_eq "$?" 0 "e2fsck on the debian recipe's image"
"$BANGER" -q --cache-dir "$cache" "$BANGER_SOURCE_DIR/recipes/alpine.lua" \
  "image=$REGISTRY/e2e/deb:1" "out=$PWD/wrong.ext4" 2>err
expect_eq "$?" 1 "alpine recipe on a debian image"
expect_contains "$(cat err)" "is 'debian', but this recipe is for alpine" "alpine recipe refuses"
expect_file_absent wrong.ext4 "no output after a refused build"

# ---- an Alpine-like image through recipes/alpine.lua ----
cat > alpine.layer <<'SPEC'
dir      /etc                   0755 0 0
file     /etc/os-release        0644 0 0 =ID=alpine
dir      /sbin                  0755 0 0
file     /sbin/openrc           0755 0 0 =openrc
dir      /bin                   0755 0 0
file     /bin/busybox           0755 0 0 =busybox
symlink  /bin/sh                0777 0 0 /bin/busybox
SPEC
python3 "$tools/mktar.py" alpine.layer alpine.tar || exit 1
python3 "$tools/mkimage.py" alp-oci --tag 3 --layer alpine.tar >/dev/null || exit 1
registry_push alp-oci 3 e2e/alpine:3
img=$PWD/alpine.ext4
"$BANGER" -q --cache-dir "$cache" "$BANGER_SOURCE_DIR/recipes/alpine.lua" \
  "image=$REGISTRY/e2e/alpine:3" "out=$img" 2>err
expect_eq "$?" 0 "alpine recipe ($(cat err))"
e2fsck -fn "$img" >/dev/null 2>&1; expect_eq "$?" 0 "e2fsck on the alpine image"
for name in banger-network banger-vsock-agent banger-first-boot; do
  expect_eq "$(stat_of /etc/init.d/$name)" "regular 0755 0 0" "OpenRC service $name"
  expect_eq "$(link_of /etc/runlevels/default/$name)" "/etc/init.d/$name" "runlevel link $name"
done
expect_eq "$(stat_of /usr/local/bin/banger-vsock-agent)" "regular 0755 0 0" "alpine agent"
debugfs -R "stat /etc/systemd/system" "$img" 2>&1 | grep -q "File not found"
expect_eq "$?" 0 "no systemd units on alpine"

# ---- failure paths: a clear message, exit 1, no output file ----
"$BANGER" --cache-dir "$cache" "$BANGER_SOURCE_DIR/recipes/default.lua" \
  "image=$REGISTRY/e2e/missing:1" out=missing.ext4 2>err
expect_eq "$?" 1 "missing image exit status"
expect_contains "$(cat err)" "error: $BANGER_SOURCE_DIR/recipes/default.lua: pulling $REGISTRY/e2e/missing:1" \
  "missing image message names the recipe and the image"
expect_file_absent missing.ext4 "no output for a missing image"

printf 'dir /etc 0755 0 0\nsymlink /etc/x 0777 0 0 ../../../root\n' > evil.layer
python3 "$tools/mktar.py" evil.layer evil.tar || exit 1
python3 "$tools/mkimage.py" evil-oci --tag 1 --layer base.tar --layer evil.tar >/dev/null || exit 1
registry_push evil-oci 1 e2e/evil:1
"$BANGER" --cache-dir "$cache" "$BANGER_SOURCE_DIR/recipes/default.lua" \
  "image=$REGISTRY/e2e/evil:1" out=evil.ext4 2>err
expect_eq "$?" 1 "escaping symlink exit status"
expect_contains "$(cat err)" "layer 2 (sha256:" "escaping symlink names the layer"
expect_contains "$(cat err)" "of $REGISTRY/e2e/evil:1: etc/x: unsafe symlink" \
  "escaping symlink names the image and the entry"
expect_file_absent evil.ext4 "no output for a hostile layer"

port=$(free_port)
"$BANGER" --cache-dir "$cache" "$BANGER_SOURCE_DIR/recipes/default.lua" \
  "image=127.0.0.1:$port/x:1" out=unreach.ext4 2>err
expect_eq "$?" 1 "unreachable registry exit status"
expect_contains "$(cat err)" "pulling 127.0.0.1:$port/x:1" "unreachable registry message"
expect_file_absent unreach.ext4 "no output for an unreachable registry"

python3 "$tools/mkimage.py" big-oci --tag 1 --layer base.tar --random-layer 70000000 >/dev/null
registry_push big-oci 1 e2e/big:1
"$BANGER" --cache-dir "$cache" "$BANGER_SOURCE_DIR/recipes/default.lua" \
  "image=$REGISTRY/e2e/big:1" out=big.ext4 size=64M 2>err
expect_eq "$?" 1 "too small a fixed size exit status"
expect_contains "$(cat err)" "image too small: needs at least" "too small message"
expect_file_absent big.ext4 "no output when the image does not fit"
expect_eq "$(ls -A | grep -c '^\.big')" 0 "no temporary file left behind"

printf 'local banger = require "banger"\nbanger.run { image = args.image, out = "r.ext4",\n  edit_tree = function() error("site policy says no") end }\n' > bad.lua
"$BANGER" --cache-dir "$cache" bad.lua "image=$REGISTRY/e2e/deb:1" 2>err
expect_eq "$?" 1 "recipe error exit status"
expect_contains "$(cat err)" "bad.lua:3: site policy says no" "recipe error names file and line"
expect_file_absent r.ext4 "no output after a recipe error"

finish
