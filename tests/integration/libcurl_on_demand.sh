#!/bin/bash
# libcurl is loaded when the first registry session starts, not with the program: the program
# does not link it, a build that never talks to a registry runs where libcurl cannot load, and
# a pull there fails with the reason, naming the library.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"

expect_eq "$(ldd "$BANGER" | grep -c libcurl)" 0 "the program does not link libcurl"

# a libcurl.so.4 that is no libcurl: found first through LD_LIBRARY_PATH
mkdir fake
cc -shared -fPIC -o fake/libcurl.so.4 -x c /dev/null
expect_eq "$?" 0 "a stand-in libcurl.so.4 built"

# a build from a local layer: flattened and written without libcurl
mkdir -p root/etc
echo 'ID=debian' > root/etc/os-release
tar -C root -cf layer.tar etc
cat > local.lua <<'LUA'
local tree, ext4 = require "banger.tree", require "banger.ext4"
local t = assert(tree.from_layers({
  { path = "layer.tar", media_type = "application/vnd.oci.image.layer.v1.tar" } }))
local fs = assert(ext4.create("local.ext4", { size = 64 << 20, tree = t }))
assert(fs:close())
print("built")
LUA
out=$(LD_LIBRARY_PATH=$PWD/fake "$BANGER" -q local.lua 2>err); rc=$?
expect_eq "$rc/$out/$(cat err)" "0/built/" "a local build runs without libcurl"
expect_eq "$(debugfs -R 'cat /etc/os-release' local.ext4 2>/dev/null)" "ID=debian" \
  "and its image holds the layer"

# a pull needs it: a clean error, nothing written
LD_LIBRARY_PATH=$PWD/fake "$BANGER" -q --cache-dir cache "$BANGER_SOURCE_DIR/recipes/default.lua" \
  image=127.0.0.1:9/x/y:1 out=pulled.ext4 2>err; rc=$?
expect_eq "$rc" 1 "a pull without libcurl fails"
expect_contains "$(cat err)" "127.0.0.1:9/x/y:1" "the error names the image"
expect_contains "$(cat err)" "libcurl.so.4 has no curl_easy_cleanup" "and why libcurl did not load"
expect_file_absent pulled.ext4 "nothing written"
finish
