local spec = require "spec"
local fleet = require "banger.fleet"
local config = require "banger.config"
local it, eq = spec.it, spec.eq

local D = "sha256:" .. string.rep("ab", 32)
local img = { platform = "linux/amd64", layers = { { diff_id = D }, { diff_id = "sha256:" ..
  string.rep("cd", 32) } } }

local function key(over)
  local ctx = { recipe_text = "return 1", args = { image = "x" } }
  for k, v in pairs(over or {}) do ctx[k] = v end
  return fleet.key(over and over.img or img, ctx)
end

it("makes a key of what decides the output, and of nothing else", function()
  local k = key()
  assert(k:match("^sha256:%x+$") and #k == 71, k)
  eq(key(), k, "stable")
  assert(key({ recipe_text = "return 2" }) ~= k, "the recipe's text counts")
  assert(key({ args = { image = "x", size = "2G" } }) ~= k, "an argument counts")
  eq(key({ args = { image = "x", out = "y.ext4", cache = "off", push = "r/x:1", pull = "always",
    insecure = "true", mirrors = "m:5000" } }), k, "where the output goes does not")
  local swapped = { platform = img.platform, layers = { img.layers[2], img.layers[1] } }
  assert(key({ img = swapped }) ~= k, "the layers' order counts")
  local arm = { platform = "linux/arm64/v8", layers = img.layers }
  assert(key({ img = arm }) ~= k, "the platform counts")
  -- a manifest digest is no input: a registry converting the manifest keeps the key
  local converted = { platform = img.platform, layers = img.layers, digest = D }
  eq(key({ img = converted }), k, "the manifest digest does not count")
end)

it("lists its inputs in the key's text", function()
  local lines = fleet.key_lines(img, { recipe_text = "", args = { b = "2", a = "1" } })
  eq(lines[1], fleet.KEY_FORMAT)
  local text = table.concat(lines, "\n")
  assert(text:find('arg "a" "1"\narg "b" "2"', 1, true), "arguments sorted by name")
  assert(text:find("layer 1 " .. D, 1, true), "DiffIDs in order")
  assert(text:find("\ntime ", 1, true), "SOURCE_DATE_EPOCH")
  assert(text:find("\nbuiltins sha256:", 1, true), "the built-in library and assets")
  assert(text:find("\next2fs ", 1, true), "libext2fs's version")
end)

it("hashes the files a recipe names as inputs", function()
  local f = assert(io.open("input.txt", "wb"))
  f:write("one")
  f:close()
  local k1 = key({ inputs = { "input.txt" } })
  f = assert(io.open("input.txt", "wb"))
  f:write("two")
  f:close()
  assert(key({ inputs = { "input.txt" } }) ~= k1, "another content, another key")
  spec.raises(function() key({ inputs = { "missing.txt" } }) end, "input missing.txt")
end)

it("counts the payload, the bytes of its file: sources, and the dispatch table", function()
  local here = io.open("agent.bin", "wb")
  here:write("v1")
  here:close()
  local cwd = os.getenv("PWD")
  local payload = { { path = "/usr/local/bin/a", kind = "file", mode = "0755",
    source = "file:" .. cwd .. "/agent.bin" } }
  local k1 = key({ payload = payload })
  eq(key({ payload = payload }), k1, "stable")
  assert(k1 ~= key(), "a payload counts")
  here = io.open("agent.bin", "wb")
  here:write("v2")
  here:close()
  assert(key({ payload = payload }) ~= k1, "the bytes of a file: source count")
  local k2 = key({ payload = payload })
  payload[1].mode = "0700"
  assert(key({ payload = payload }) ~= k2, "an entry's mode counts")
  local d = { { ids = { "debian" }, manager = "apt-get", install = {}, enable = {} } }
  local k3 = key({ dispatch = d })
  d[1].ids[2] = "ubuntu"
  assert(key({ dispatch = d }) ~= k3, "the dispatch table counts")
end)

it("reads cache= as off, local or a registry repository", function()
  eq(fleet.cache_mode(nil), "local")
  eq(fleet.cache_mode("local"), "local")
  eq(fleet.cache_mode("off"), "off")
  local mode, repo = fleet.cache_mode("127.0.0.1:5000/fleet/cache")
  eq(mode, "registry")
  eq(repo, "127.0.0.1:5000/fleet/cache")
  spec.raises(function() fleet.cache_mode("127.0.0.1:5000/fleet/cache:tag") end, "no tag")
  spec.raises(function() fleet.cache_mode("127.0.0.1:5000/x@" .. D) end, "no tag")
  spec.raises(function() fleet.cache_mode("nothing") end, "REGISTRY/REPO")
end)

it("dates an artifact in RFC 3339, UTC (SOURCE_DATE_EPOCH: tests/integration/fleet_push.sh)", function()
  assert(fleet.created():match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"), fleet.created())
end)

it("takes mirrors as given, or from the site configuration", function()
  local m = config.mirrors("127.0.0.1:5000/x:1", "a.example:5000, b.example:5001")
  eq(#m, 2)
  eq(m[2], "b.example:5001")
  eq(#config.mirrors("x:1", ""), 0, "an empty list turns the site's off")
  eq(config.mirrors("oci:dir:tag"), nil, "local images have none")
  local paths = config.paths()
  eq(paths[#paths], "/etc/banger/config.lua")
end)

it("refuses a NUL byte in a key, reference, path or mirror", function()
  local oci = require "banger.oci"
  local k = "sha256:" .. string.rep("ab", 32)
  spec.raises(function() oci.find_rootfs(k .. "\0x") end, "a NUL byte in the build key")
  spec.raises(function() oci.fetch_rootfs("127.0.0.1:1/x:1\0y") end,
    "a NUL byte in the artifact reference")
  spec.raises(function() oci.push(k, "127.0.0.1:1/x:1\0y") end,
    "a NUL byte in the push destination")
  spec.raises(function() oci.restore_rootfs(k, "out\0.ext4") end, "a NUL byte in the output path")
  spec.raises(function() oci.pull("127.0.0.1:1/x:1", { mirrors = { "m:5000\0x" } }) end,
    "a NUL byte in mirror 1")
end)

spec.done()
