#!/bin/bash
# banger.oci.parse_ref and the misuse errors of banger.oci.pull, through the Lua API.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
cat > ref.lua <<'LUA'
local oci = require "banger.oci"
local function show(s)
  local r, err = oci.parse_ref(s)
  if not r then return "nil " .. err end
  local keys = {}
  for k, v in pairs(r) do keys[#keys + 1] = k .. "=" .. tostring(v) end
  table.sort(keys)
  return table.concat(keys, " ")
end
for _, s in ipairs(args.refs and { args.refs } or {}) do print(show(s)) end
LUA
r() { "$BANGER" ref.lua refs="$1" 2>&1; }
expect_eq "$(r debian)" "name=docker.io/library/debian:latest registry=docker.io repository=library/debian tag=latest transport=docker" "debian"
expect_eq "$(r 127.0.0.1:5000/x:1)" "name=127.0.0.1:5000/x:1 registry=127.0.0.1:5000 repository=x tag=1 transport=docker" "host:port"
d=sha256:$(printf '%064d' 0)
expect_eq "$(r "quay.io/a/b@$d")" "digest=$d name=quay.io/a/b@$d registry=quay.io repository=a/b transport=docker" "digest only"
expect_eq "$(r oci:/srv/layout:v2)" "name=oci:/srv/layout:v2 path=/srv/layout tag=v2 transport=oci" "oci:DIR:TAG"
expect_eq "$(r oci-archive:img.tar)" "name=oci-archive:img.tar path=img.tar transport=oci-archive" "oci-archive"
expect_eq "$(r docker-archive:d.tar)" "name=docker-archive:d.tar path=d.tar transport=docker-archive" "docker-archive"
expect_eq "$(r UPPER)" "nil invalid reference 'UPPER': repository must be lower-case letters, digits and separators" "bad ref"

cat > misuse.lua <<'LUA'
local oci = require "banger.oci"
local ok, err = pcall(oci.pull, "x", { cache_dir = "c", pull = "sometimes" })
print(err)
ok, err = pcall(oci.pull, "x", { cache_dir = "c", progress = "loud" })
print(err)
ok, err = pcall(oci.pull, "x", { cache_dir = 5 })
print(err)
print(select(2, oci.pull("x", { cache_dir = "c", platform = "linux" })))
print(select(2, oci.pull("NOPE", { cache_dir = "c" })))
LUA
out=$("$BANGER" misuse.lua 2>&1)
expect_contains "$out" "option 'pull' must be \"missing\", \"always\" or \"never\", not 'sometimes'" "bad pull policy raises"
expect_contains "$out" "option 'progress' must be \"bar\", \"plain\" or \"none\", not 'loud'" "bad progress raises"
expect_contains "$out" "option 'cache_dir' must be a string" "bad cache_dir raises"
expect_contains "$out" "pulling docker.io/library/x:latest: invalid platform 'linux': expected os/arch[/variant]" "bad platform"
expect_contains "$out" "pulling NOPE: invalid reference 'NOPE': repository must be" "bad ref in pull"
finish
