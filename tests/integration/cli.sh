#!/bin/bash
# The command line: help, version, usage errors (getopt_long, --), recipe errors, the sandbox
# (no host commands, no bytecode, no debug library; nothing written in plan or help mode), args,
# --json.
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
"$BANGER" r.lua --cache-dir 2>err; rc=$?
expect_eq "$rc/$(head -n1 err)" "2/banger-build: option --cache-dir needs a value" "option without its value"
"$BANGER" -z r.lua 2>err; rc=$?
expect_eq "$rc/$(head -n1 err)" "2/banger-build: unknown option -z" "unknown short option"
"$BANGER" r.lua a=1 b=2 a=3 2>err; rc=$?
expect_eq "$rc/$(cat err)" "2/banger-build: argument 'a' given twice" "an argument given twice"
"$BANGER" --list-recipes r.lua 2>err; rc=$?
expect_eq "$rc" 2 "--list-recipes with a recipe"

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

cat > bytecode.lua <<'LUA'
return { answer = 42 }
LUA
luac5.4 -o recipes/bin.luac bytecode.lua || { echo "FAIL: luac5.4 (lua5.4) is needed" >&2; exit 1; }
cp recipes/bin.luac recipes/binmod.lua
cat > recipes/sandbox.lua <<'LUA'
assert(debug == nil, "the debug library is still there")
assert(package.loaded.debug == nil, "the debug library is still loaded")
assert(not pcall(require, "debug"), "the debug library can be required")
assert(string.dump == nil, "string.dump is still there")
local f = assert(io.open("recipes/bin.luac", "rb"))
local chunk = f:read("a")
f:close()
local fn, err = load(chunk)
assert(fn == nil and err:find("attempt to load a binary chunk", 1, true), "load took bytecode")
fn, err = load(chunk, "x", "b")
assert(fn == nil and err:find("binary chunk", 1, true), "load in mode b took bytecode")
fn, err = loadfile("recipes/bin.luac")
assert(fn == nil and err:find("binary chunk", 1, true), "loadfile took bytecode")
assert(not pcall(dofile, "recipes/bin.luac"), "dofile ran bytecode")
local ok, rerr = pcall(require, "binmod")
assert(not ok and rerr:find("binary chunk", 1, true), "require loaded bytecode: " .. tostring(rerr))
assert(load("return 1 + 1")() == 2, "text chunks load")
assert(load("return x", "=t", "t", { x = 7 })() == 7, "load keeps its environment argument")
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
# -- ends the options: a recipe whose name starts with a dash, and a value that looks like one
printf 'io.write(args.x, "\\n")\n' > -dash.lua
out=$("$BANGER" -q -- -dash.lua x=--plan 2>err); rc=$?
expect_eq "$rc/$out" "0/--plan" "-- ends the options ($(cat err))"
"$BANGER" -q -dash.lua 2>/dev/null; expect_eq "$?" 2 "without --, -dash.lua is an option"
out=$("$BANGER" -qv -- -dash.lua x=1 2>err); rc=$?
expect_eq "$rc/$out" "0/1" "short options together"
printf 'io.write(require("banger.runtime").cache_dir, "\\n")\n' > recipes/cache.lua
out=$(XDG_CACHE_HOME=/x/y "$BANGER" recipes/cache.lua); rc=$?
expect_eq "$out" "/x/y/banger/oci" "cache dir from XDG_CACHE_HOME"
out=$(env -u XDG_CACHE_HOME HOME=/h "$BANGER" recipes/cache.lua)
expect_eq "$out" "/h/.cache/banger/oci" "cache dir from HOME"
out=$("$BANGER" --cache-dir /c recipes/cache.lua)
expect_eq "$out" "/c" "cache dir from --cache-dir"

# plan mode (--plan) and a recipe's --help write nothing, whatever the recipe tries
cat > recipes/writer.lua <<'LUA'
local what = args.what
if what == "open" then assert(io.open("written.txt", "w")):write("x")
elseif what == "remove" then os.remove("keep.txt")
elseif what == "rename" then os.rename("keep.txt", "moved.txt")
elseif what == "ext4" then
  local t = require("banger.tree").new()
  require("banger.ext4").create("x.ext4", { size = 64 * 1048576, tree = t })
elseif what == "read" then assert(io.open("keep.txt", "r")):close() io.write("read\n")
end
LUA
: > keep.txt
for what in open remove rename ext4; do
  "$BANGER" --plan recipes/writer.lua what=$what 2>err; rc=$?
  expect_eq "$rc" 1 "--plan refuses $what"
  expect_contains "$(cat err)" "a plan writes nothing" "--plan refuses $what: message"
  "$BANGER" recipes/writer.lua --help what=$what >out 2>err; rc=$?
  expect_eq "$rc" 0 "--help of a recipe that writes ($what)"
  expect_contains "$(cat out)" "This recipe declares no arguments" "--help of an undeclared recipe"
done
expect_file_absent written.txt "nothing written under --plan or --help"
expect_file_absent moved.txt "nothing renamed under --plan or --help"
expect_file_absent x.ext4 "no image under --plan or --help"
expect_eq "$(test -e keep.txt && echo kept)" kept "nothing removed under --plan or --help"
out=$("$BANGER" --plan recipes/writer.lua what=read 2>err); rc=$?
expect_eq "$rc/$out" "0/read" "--plan still reads"

finish
