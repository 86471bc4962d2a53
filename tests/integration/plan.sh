#!/bin/bash
# --plan and plan=1: what a build would inject (every path with its kind, mode, owner and
# source), the size it would choose (the size the real build then has) and the first-boot branch
# (the one the injected script then takes); nothing written. Also --progress: plain lines for
# flatten and build, a bar on request.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
command -v debugfs >/dev/null || { echo "FAIL: debugfs is not installed (make deps)" >&2; exit 1; }
demo_layout layout
r=$BANGER_SOURCE_DIR/recipes
img=image=oci:$PWD/layout:demo
cache=(--cache-dir "$PWD/cache")

out=$("$BANGER" -q "${cache[@]}" "$r/default.lua" "$img" out=p.ext4 --plan 2>err); rc=$?
expect_eq "$rc" 0 "--plan exit status ($(cat err))"
expect_file_absent p.ext4 "--plan writes no image"
expect_eq "$(ls -A | grep -c '^\.p\.ext4')" 0 "nor a temporary one"
expect_contains "$out" "plan for oci:$PWD/layout:demo ($r/default.lua): nothing is written" "the plan's first line"
expect_contains "$out" "first boot  the 'debian (apt-get)' branch (matched 'debian')
                DEBIAN_FRONTEND=noninteractive apt-get update" "the first-boot branch, from ID_LIKE=debian"
expect_contains "$out" "injected    16 paths" "how many paths"
row() { grep -E "^    $1 +$2 $3 +$4 +$5" <<<"$out" >/dev/null; expect_eq "$?" 0 "plan row $1 $4"; }
row dir 0755 0:0 /dev created
row dir 1777 0:0 /tmp created
row file 0755 0:0 /usr/local/bin/banger-vsock-agent "agent agents/banger-vsock-agent.amd64 \\(x86-64\\)"
row file 0755 0:0 /usr/local/libexec/banger-network-bootstrap "asset:banger-network-bootstrap.sh"
row file 0755 0:0 /usr/local/libexec/banger-first-boot "first-boot \\("
row file 0644 0:0 /var/lib/banger/first-boot-pending empty
row file 0644 0:0 /etc/modules-load.d/banger-vsock.conf "asset:banger-vsock.conf"
for u in banger-network banger-vsock-agent banger-first-boot; do
  row file 0644 0:0 /etc/systemd/system/$u.service "asset:$u.service"
  row symlink 0777 0:0 /etc/systemd/system/multi-user.target.wants/$u.service \
    "-> /etc/systemd/system/$u.service"
done
planned=$(sed -n 's/^  size        .* (\([0-9]*\) bytes).*/\1/p' <<<"$out")

out2=$("$BANGER" -q "${cache[@]}" "$r/default.lua" "$img" out=p.ext4 plan=1); rc=$?
expect_eq "$rc/$out2" "0/$out" "plan=1 is --plan"
expect_file_absent p.ext4 "plan=1 writes no image"
json=$("$BANGER" -q --json "${cache[@]}" "$r/default.lua" "$img" out=p.ext4 --plan)
field() { python3 -c 'import json, sys; d = json.load(sys.stdin)
for k in sys.argv[1].split("."): d = d[int(k)] if k.isdigit() else d[k]
print(d)' "$1" <<<"$json"; }
expect_eq "$(field plan)/$(field ok)" "True/True" "--json --plan"
expect_eq "$(field size)" "$planned" "--json has the planned size"
expect_eq "$(field first_boot.branch)" "debian (apt-get)" "--json has the branch"
expect_eq "$(field injected.5.path)/$(field injected.5.mode)" "/usr/local/bin/banger-vsock-agent/0755" \
  "--json has the injected paths"

# the build does what the plan said
"$BANGER" -q "${cache[@]}" "$r/default.lua" "$img" out=p.ext4 2>err
expect_eq "$?" 0 "the build ($(cat err))"
expect_eq "$(stat -c %s p.ext4)" "$planned" "the image has the planned size"
debugfs -R "dump /usr/local/libexec/banger-first-boot fb.sh" p.ext4 2>/dev/null
debugfs -R "dump /etc/os-release osr" p.ext4 2>/dev/null
mkdir -p empty
PATH=$PWD/empty RUN_PLAN=1 OS_RELEASE_FILE=osr "$(command -v dash || command -v sh)" fb.sh >/dev/null 2>log
expect_contains "$(cat log)" "using the 'debian (apt-get)' branch (matched 'debian')" \
  "the injected script takes the planned branch"

# a distro with a fallback, and a fixed size
sed 's|@os-release|=ID=rocky|' "$BANGER_SOURCE_DIR/examples/demo/base.layer" > rocky.layer
python3 "$BANGER_SOURCE_DIR/tests/tools/mktar.py" rocky.layer rocky.tar &&
  python3 "$BANGER_SOURCE_DIR/tests/tools/mkimage.py" rocky --tag 9 --layer rocky.tar >/dev/null || exit 1
out=$("$BANGER" -q "${cache[@]}" "$r/default.lua" "image=oci:$PWD/rocky:9" size=1G --plan)
expect_contains "$out" "first boot  the 'fedora (dnf)' branch (matched 'rocky')" "rocky plans dnf"
expect_contains "$out" "if dnf is not installed in the guest: the 'fedora (yum)' branch" "and names yum"
expect_contains "$out" "size        1 GiB (1073741824 bytes), fixed by size=" "a fixed size"
out=$("$BANGER" -q "${cache[@]}" "$r/debian.lua" "image=oci:$PWD/rocky:9" --plan 2>err); rc=$?
expect_eq "$rc" 1 "a plan still refuses a distro the recipe is not for"

# the site recipe's edits show in its plan
out=$("$BANGER" -q "${cache[@]}" "$BANGER_SOURCE_DIR/examples/site-agent.lua" "$img" --plan)
grep -qE "^    file +0755 0:0 +/usr/local/bin/site-agent +$BANGER_SOURCE_DIR/examples/site/site-agent" <<<"$out"
expect_eq "$?" 0 "the site's agent, from the file beside the recipe"
grep -qE "^    file +0640 0:0 +/etc/site-agent/site-agent.conf +[0-9]+ bytes" <<<"$out"
expect_eq "$?" 0 "the site's config, as content"
grep -qE "^    file +0700 0:0 +/usr/local/libexec/banger-first-boot " <<<"$out"
expect_eq "$?" 0 "the changed mode"
expect_eq "$(grep -c modules-load <<<"$out")" 0 "the dropped entry"

# progress: plain lines, or a bar
"$BANGER" --progress plain "${cache[@]}" "$r/default.lua" "$img" out=q.ext4 cache=off 2>err
expect_eq "$?" 0 "a build with --progress plain"
expect_contains "$(cat err)" "flattening oci:$PWD/layout:demo: layer 1 of 2, " "a line for layer 1"
expect_contains "$(cat err)" "flattening oci:$PWD/layout:demo: layer 2 of 2, " "a line for layer 2"
grep -qE "^flattening .*: layer 2 of 2, ([0-9.]+ [KM]?i?B) of \1 read, [0-9]+ entries$" err
expect_eq "$?" 0 "every byte of the layers read by the end"
grep -qE "^writing q.ext4: ([0-9]+) of \1 inodes written$" err
expect_eq "$?" 0 "a line for the inodes written"
"$BANGER" --progress none "${cache[@]}" "$r/default.lua" "$img" out=q.ext4 cache=off 2>err
expect_eq "$(grep -c 'flattening\|writing' err)" 0 "--progress none"
cat > bar.lua <<'LUA'
local banger = require "banger"
local tree = require("banger.tree")
local img = banger.pull(args.image)
local t <close> = assert(tree.from_layers(img.layers, { image = "demo", progress = "bar" }))
local fs <close> = assert(require("banger.ext4").create("bar.ext4",
  { size = 64 * 1048576, tree = t, progress = "bar" }))
LUA
"$BANGER" -q "${cache[@]}" bar.lua "$img" 2>err
expect_eq "$?" 0 "a bar on request"
expect_contains "$(cat err)" $'\r\033[Kflattening demo [' "a bar, drawn in place"
expect_eq "$(tail -c 4 err | od -An -c | tr -d ' ')" '\r033[K' "and cleared at the end"
finish
