#!/bin/bash
# The command line: help, version, usage errors, recipe errors, sandbox, args, --json.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"

out=$("$BANGER" --help); rc=$?
expect_eq "$rc" 0 "--help exit status"
expect_contains "$out" "usage: banger-build RECIPE" "--help text"
out=$("$BANGER" --version); rc=$?
expect_eq "$rc" 0 "--version exit status"
expect_contains "$out" "banger-build 0." "--version text"

"$BANGER" --frobnicate x.lua >/dev/null 2>err; rc=$?
expect_eq "$rc" 2 "unknown option exit status"
expect_contains "$(cat err)" "unknown option --frobnicate" "unknown option message"
expect_contains "$(cat err)" "usage:" "usage after a bad option"
"$BANGER" >/dev/null 2>err; rc=$?
expect_eq "$rc" 2 "no recipe exit status"
"$BANGER" r.lua notakeyvalue 2>err; rc=$?
expect_eq "$rc" 2 "bare word exit status"
"$BANGER" r.lua --progress sideways 2>err; rc=$?
expect_eq "$rc" 2 "bad --progress exit status"

mkdir -p recipes
printf 'local x = 1\n\nerror("the image is on fire")\n' > recipes/boom.lua
"$BANGER" recipes/boom.lua 2>err; rc=$?
expect_eq "$rc" 1 "raising recipe exit status"
expect_eq "$(cat err)" "banger-build: error: recipes/boom.lua:3: the image is on fire" "one-line error"
"$BANGER" -v recipes/boom.lua 2>err; rc=$?
expect_eq "$rc" 1 "raising recipe exit status with -v"
expect_contains "$(cat err)" "stack traceback:" "-v adds a traceback"

"$BANGER" recipes/missing.lua 2>err; rc=$?
expect_eq "$rc" 1 "missing recipe exit status"
expect_contains "$(cat err)" "cannot open recipes/missing.lua" "missing recipe message"

printf 'local x = \n' > recipes/syntax.lua
"$BANGER" recipes/syntax.lua 2>err; rc=$?
expect_eq "$rc" 1 "syntax error exit status"
expect_contains "$(cat err)" "recipes/syntax.lua:2:" "syntax error names file and line"

cat > recipes/sandbox.lua <<'LUA'
assert(os.execute == nil, "os.execute is still there")
assert(io.popen == nil, "io.popen is still there")
assert(package.loadlib == nil, "package.loadlib is still there")
assert(package.cpath == "", "package.cpath is not empty")
local ok, err = pcall(require, "lfs")
assert(not ok, "a native module was loaded")
assert(rawget(_G, "banger") == nil, "a global leaked")
assert(require("cjson").encode({1}) == "[1]")
assert(require("helper").answer == 42, "a Lua file beside the recipe could not be required")
io.write(args.image, " ", args.size, " ", tostring(args.missing), "\n")
LUA
printf 'return { answer = 42 }\n' > recipes/helper.lua
out=$("$BANGER" recipes/sandbox.lua image=debian:bookworm size=1G 2>err); rc=$?
expect_eq "$rc" 0 "sandbox recipe exit status ($(cat err))"
expect_eq "$out" "debian:bookworm 1G nil" "args reach the recipe"

printf 'require("banger.runtime").set_result({ output = "x.ext4", size = 5 })\n' > recipes/json.lua
out=$("$BANGER" --json -q recipes/json.lua); rc=$?
expect_eq "$rc" 0 "--json exit status"
expect_contains "$out" '"output":"x.ext4"' "--json carries the result"
expect_contains "$out" '"ok":true' "--json says ok"
expect_contains "$out" '"total":' "--json has the total time"
out=$("$BANGER" --json -q recipes/boom.lua 2>/dev/null); rc=$?
expect_eq "$rc" 1 "--json failing recipe exit status"
expect_contains "$out" '"ok":false' "--json says not ok"

mkdir -p dev/banger
printf 'return { where = "dev" }\n' > dev/banger/probe.lua
printf 'io.write(require("banger.probe").where, "\\n")\n' > recipes/dev.lua
out=$(BANGER_LUA_PATH=$PWD/dev "$BANGER" recipes/dev.lua); rc=$?
expect_eq "$rc" 0 "BANGER_LUA_PATH exit status"
expect_eq "$out" "dev" "BANGER_LUA_PATH overrides the built-in library"
"$BANGER" recipes/dev.lua 2>err; rc=$?
expect_eq "$rc" 1 "unknown module exit status"
expect_contains "$(cat err)" "module 'banger.probe' not found" "unknown module message"

out=$("$BANGER" --cache-dir /tmp/somewhere recipes/json.lua -q --progress=none); rc=$?
expect_eq "$rc" 0 "options after the recipe"
printf 'io.write(require("banger.runtime").cache_dir, "\\n")\n' > recipes/cache.lua
out=$(XDG_CACHE_HOME=/x/y "$BANGER" recipes/cache.lua); rc=$?
expect_eq "$out" "/x/y/banger/oci" "cache dir from XDG_CACHE_HOME"
out=$(env -u XDG_CACHE_HOME HOME=/h "$BANGER" recipes/cache.lua)
expect_eq "$out" "/h/.cache/banger/oci" "cache dir from HOME"
out=$("$BANGER" --cache-dir /c recipes/cache.lua)
expect_eq "$out" "/c" "cache dir from --cache-dir"

finish
