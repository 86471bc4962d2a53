#!/bin/bash
# Recipe arguments on the command line: the shipped recipes declare theirs, so a misspelt key is
# a usage error naming the closest one, values are typed, `RECIPE --help` lists them, and every
# build option reaches the build (pull=never really stays off the network).
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
demo_layout layout
r=$BANGER_SOURCE_DIR/recipes
img=image=oci:$PWD/layout:demo

"$BANGER" --cache-dir "$PWD/cache" "$r/default.lua" "$img" sise=2G out=typo.ext4 2>err; rc=$?
expect_eq "$rc" 2 "a misspelt key is a usage error"
expect_eq "$(cat err)" "banger-build: unknown argument 'sise'; did you mean 'size'? $r/default.lua takes image, out, size, headroom, label, inline_data, devices, xattrs, platform, pull, insecure, plan, cache, push, mirrors, kernel, init, strict, check, distroless, provenance, report (banger-build $r/default.lua --help)" "the misspelt key, the closest one and all of them"
expect_file_absent typo.ext4 "nothing built after a usage error"
expect_eq "$(ls cache 2>/dev/null | wc -l)" 0 "not even pulled"

"$BANGER" --cache-dir "$PWD/cache" "$r/default.lua" "$img" size=lots 2>err; rc=$?
expect_eq "$rc/$(cat err)" "2/banger-build: argument size=lots: invalid size \"lots\": expected bytes or a number with K, M, G or T" "a value of the wrong type"
"$BANGER" --cache-dir "$PWD/cache" "$r/default.lua" 2>err; rc=$?
expect_eq "$rc" 2 "image= is required"
expect_contains "$(cat err)" "argument image= is required: the image: NAME:TAG" "the required argument named"

# --help: the recipe's own comment and its arguments, and nothing run
for recipe in default debian alpine cache; do
  out=$("$BANGER" --cache-dir "$PWD/cache" "$r/$recipe.lua" --help 2>err); rc=$?
  expect_eq "$rc" 0 "$recipe --help exit status ($(cat err))"
  expect_contains "$out" "usage: banger-build $r/$recipe.lua [key=value ...] [options]" "$recipe --help usage"
  expect_contains "$out" "$(sed -n '1s/^-- //p' "$r/$recipe.lua")" "$recipe --help shows the recipe's comment"
done
out=$("$BANGER" "$r/default.lua" --help)
for a in "image=IMAGE " "out=PATH " "size=SIZE " "headroom=X " "label=TEXT " "platform=OS/ARCH " \
  "devices=skip|keep " "xattrs=drop|keep " \
  "pull=missing|always|never
" "insecure=BOOL " "plan=BOOL "; do
  expect_contains "$out" "
  $a" "default --help lists $a"
done
flat() { tr -s ' \n' '  '; }
expect_contains "$(flat <<<"$out")" "(default linux/amd64)" "default --help shows a default"
expect_contains "$("$BANGER" "$r/debian.lua" --help | flat)" "fraction of the content (default 0.5)" \
  "debian --help shows the recipe's own default"
expect_contains "$("$BANGER" "$r/alpine.lua" -h | flat)" "(default 0.15)" "-h is --help"
expect_contains "$("$BANGER" "$r/debian.lua" --help | flat)" "dropped or kept (default keep)" \
  "debian keeps xattrs by default"
expect_eq "$(ls cache 2>/dev/null | wc -l)" 0 "--help pulls nothing"

# every option reaches the build
"$BANGER" -q --cache-dir "$PWD/cache" "$r/default.lua" "$img" out=a.ext4 size=80M label=demo-root \
  platform=linux/x86_64 pull=missing 2>err
expect_eq "$?" 0 "a build with arguments ($(cat err))"
expect_eq "$(stat -c %s a.ext4)" "$((80 * 1048576))" "size= is the image's size"
expect_contains "$(dumpe2fs -h a.ext4 2>/dev/null | grep 'volume name')" "demo-root" "label= is the label"
e2fsck -fn a.ext4 >/dev/null 2>&1; expect_eq "$?" 0 "e2fsck -fn"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BANGER" -q --cache-dir "$PWD/cache" "$r/default.lua" "image=127.0.0.1:$port/x:1" pull=never \
  out=b.ext4 2>err; rc=$?
expect_eq "$rc" 1 "pull=never with an image the cache lacks"
expect_contains "$(cat err)" "not in the cache $PWD/cache and pull is \"never\"" "pull=never reaches the pull"
"$BANGER" -q --cache-dir "$PWD/cache" "$r/default.lua" "image=127.0.0.1:$port/x:1" \
  out=b.ext4 2>err; rc=$?
expect_eq "$rc" 1 "the same image with the default pull"
expect_contains "$(cat err)" "pulling 127.0.0.1:$port/x:1" "the default pull goes to the registry"
"$BANGER" -q --cache-dir "$PWD/cache" "$r/default.lua" "$img" pull=never out=c.ext4 2>err
expect_eq "$?" 0 "pull=never with the image cached ($(cat err))"
# a two-platform image: platform= picks the arm64 one
python3 "$BANGER_SOURCE_DIR/tests/tools/mkimage.py" multi --tag m --platform linux/amd64 \
  --layer demo-base.tar >/dev/null &&
  python3 "$BANGER_SOURCE_DIR/tests/tools/mkimage.py" multi --tag m --platform linux/arm64 \
    --layer demo-base.tar --layer demo-update.tar --append >/dev/null || exit 1
out=$("$BANGER" -q --json --cache-dir "$PWD/cache" "$r/default.lua" "image=oci:$PWD/multi:m" \
  platform=linux/aarch64 out=d.ext4 2>err)
expect_eq "$?" 0 "platform= on a two-platform image ($(cat err))"
expect_eq "$(python3 -c 'import json, sys; print(json.load(sys.stdin)["platform"])' <<<"$out")" \
  linux/arm64 "platform= reaches the pull"

# the site recipe declares an argument of its own on top of the build's
out=$("$BANGER" "$BANGER_SOURCE_DIR/examples/site-agent.lua" --help)
expect_contains "$out" "  endpoint=TEXT           the metrics endpoint written into site-agent.conf" \
  "a recipe's own argument in --help"
"$BANGER" -q --cache-dir "$PWD/cache" "$BANGER_SOURCE_DIR/examples/site-agent.lua" "$img" \
  endpont=x 2>err
expect_eq "$?/$(cut -d'?' -f1 err)" "2/banger-build: unknown argument 'endpont'; did you mean 'endpoint'" \
  "a recipe's own argument is checked too"
finish
