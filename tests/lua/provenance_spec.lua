local spec = require "spec"
local provenance = require "banger.provenance"
local cjson = require "cjson"
local it, eq = spec.it, spec.eq

local HEX = string.rep("ab", 32)

local function img()
  return {
    ref = "127.0.0.1:5000/e2e/deb:1", digest = "sha256:" .. string.rep("11", 32),
    media_type = "application/vnd.oci.image.manifest.v1+json", platform = "linux/amd64",
    layers = {
      { digest = "sha256:" .. string.rep("22", 32), diff_id = "sha256:" .. string.rep("33", 32),
        media_type = "application/vnd.oci.image.layer.v1.tar+gzip" },
      { digest = "sha256:" .. string.rep("44", 32), diff_id = "sha256:" .. string.rep("55", 32),
        media_type = "application/vnd.oci.image.layer.v1.tar+zstd" },
    },
  }
end

local function recipe()
  local path = spec.tmpdir() .. "/my recipe.lua"
  local f = assert(io.open(path, "wb"))
  f:write("return 1\n")
  f:close()
  return path
end

it("says what was built, from what and how", function()
  local path = recipe()
  local s = provenance.statement {
    output = "/some/dir/vm.ext4", sha256 = "sha256:" .. HEX, img = img(), recipe = path,
    recipe_name = "default", args = { image = "127.0.0.1:5000/e2e/deb:1", size = "2G" },
    files = { { path = "/usr/local/bin/banger-vsock-agent", source = "agent",
      sha256 = "sha256:" .. string.rep("66", 32) } },
    internal = { key = "sha256:" .. string.rep("77", 32) }, started = 1700000000,
  }
  eq(s._type, "https://in-toto.io/Statement/v1")
  eq(s.predicateType, "https://slsa.dev/provenance/v1")
  eq(#s.subject, 1)
  eq(s.subject[1].name, "vm.ext4")
  eq(s.subject[1].digest.sha256, HEX)
  local bd = s.predicate.buildDefinition
  eq(bd.buildType, "urn:banger-build:" .. require("banger.runtime").version)
  eq(bd.externalParameters.recipe, "default")
  eq(bd.externalParameters.args.size, "2G")
  eq(bd.internalParameters.platform, "linux/amd64")
  eq(bd.internalParameters.key, "sha256:" .. string.rep("77", 32))
  local deps = bd.resolvedDependencies
  eq(#deps, 5)
  eq(deps[1].name, "image")
  eq(deps[1].uri, "docker://127.0.0.1:5000/e2e/deb:1")
  eq(deps[1].digest.sha256, string.rep("11", 32))
  eq(deps[1].annotations.platform, "linux/amd64")
  eq(deps[2].name, "layer 1")
  eq(deps[2].digest.sha256, string.rep("22", 32))
  eq(deps[2].annotations.diffID, "sha256:" .. string.rep("33", 32))
  eq(deps[3].annotations.diffID, "sha256:" .. string.rep("55", 32))
  eq(deps[4].name, "recipe")
  eq(deps[4].uri, "file:" .. path:gsub(" ", "%%20"))
  eq(deps[4].digest.sha256, require("banger.digest").sha256("return 1\n"):sub(8))
  eq(deps[5].name, "agent")
  eq(deps[5].annotations.path, "/usr/local/bin/banger-vsock-agent")
  eq(s.predicate.runDetails.builder.id, "urn:banger-build:builder")
  eq(s.predicate.runDetails.metadata.startedOn, os.getenv("SOURCE_DATE_EPOCH") and
    provenance.time() or "2023-11-14T22:13:20Z")
end)

it("names a Docker Hub image by its full name, a local one as written", function()
  local i = img()
  i.ref = "debian:bookworm"
  local s = provenance.statement { output = "x", sha256 = "sha256:" .. HEX, img = i,
    recipe = recipe() }
  eq(s.predicate.buildDefinition.resolvedDependencies[1].uri,
    "docker://docker.io/library/debian:bookworm")
  i.ref = "oci:/tmp/layout:demo"
  s = provenance.statement { output = "x", sha256 = "sha256:" .. HEX, img = i, recipe = recipe() }
  eq(s.predicate.buildDefinition.resolvedDependencies[1].uri, "oci:/tmp/layout:demo")
  spec.raises(function()
    provenance.statement { output = "x", sha256 = "md5", img = i, recipe = recipe() }
  end, "provenance: not a digest: md5")
end)

it("writes the same value as the same bytes, keys sorted", function()
  local v = { b = 1, a = { z = "x", y = provenance.array() }, c = { 3, 2, 1 }, d = {} }
  local text = provenance.encode(v)
  eq(text, '{\n  "a": {\n    "y": [],\n    "z": "x"\n  },\n  "b": 1,\n  "c": [\n    3,\n' ..
    '    2,\n    1\n  ],\n  "d": {}\n}\n')
  -- built in another order, the same bytes
  local w = { d = {}, c = { 3, 2, 1 } }
  w.a = { y = provenance.array(), z = "x" }
  w.b = 1
  eq(provenance.encode(w), text)
  eq(cjson.decode(text).a.z, "x")
  eq(provenance.encode({ s = "a\"b\n\1" }), '{\n  "s": "a\\"b\\n\\u0001"\n}\n')
  -- slashes as they are, a backslash before one kept
  local slashes = { u = "file:/a b/c", w = "x\\/y\\\\/z" }
  eq(provenance.encode(slashes), '{\n  "u": "file:/a b/c",\n  "w": "x\\\\/y\\\\\\\\/z"\n}\n')
  eq(cjson.decode(provenance.encode(slashes)).w, slashes.w)
end)

it("takes its times from SOURCE_DATE_EPOCH when it is set", function()
  if os.getenv("SOURCE_DATE_EPOCH") then
    eq(provenance.time(1), provenance.time(2))
  else
    eq(provenance.time(0), "1970-01-01T00:00:00Z")
    eq(provenance.time(1700000000), "2023-11-14T22:13:20Z")
  end
  eq(provenance.path_for("out/vm.ext4"), "out/vm.ext4.intoto.json")
end)


it("names the boot files taken out of the image as subjects too", function()
  local k = {
    kernel = { path = "/k/vmlinuz", sha256 = "sha256:" .. string.rep("a1", 32) },
    unpacked = { path = "/k/vmlinux", sha256 = "sha256:" .. string.rep("a3", 32) },
  }
  local s = provenance.statement { output = "vm.ext4", sha256 = "sha256:" .. HEX, img = img(),
    recipe = recipe(), kernel = k }
  eq(#s.subject, 3)
  eq(s.subject[1].name, "vm.ext4")
  eq(s.subject[2].name, "vmlinuz")
  eq(s.subject[2].digest.sha256, string.rep("a1", 32))
  eq(s.subject[3].name, "vmlinux")
  eq(s.subject[3].digest.sha256, string.rep("a3", 32))
  k.initrd = { path = "/k/initrd.img", sha256 = "sha256:" .. string.rep("a2", 32) }
  s = provenance.statement { output = "vm.ext4", sha256 = "sha256:" .. HEX, img = img(),
    recipe = recipe(), kernel = k }
  eq(s.subject[3].name, "initrd.img")
  eq(#cjson.decode(provenance.encode(s)).subject, 4)
end)

spec.done()
