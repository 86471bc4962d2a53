local spec = require "spec"
local banger = require "banger"
local it, eq = spec.it, spec.eq

it("names outputs after the image", function()
  eq(banger.default_out("debian:bookworm"), "debian-bookworm.ext4")
  eq(banger.default_out("debian"), "debian-latest.ext4")
  eq(banger.default_out("127.0.0.1:5000/team/app:1.2"), "app-1.2.ext4")
  eq(banger.default_out("ghcr.io/x/y@sha256:" .. string.rep("ab", 32)), "y-abababababab.ext4")
  eq(banger.default_out("oci:/tmp/layout:demo"), "layout-demo.ext4")
end)

it("derives a stable seed from the image and the recipe", function()
  local img = { digest = "sha256:" .. string.rep("0", 64) }
  eq(banger.seed(img, "a"), banger.seed(img, "a"))
  assert(banger.seed(img, "a") ~= banger.seed(img, "b"))
end)

it("checks options up front", function()
  -- the error points at the caller: this file
  local msg = spec.raises(function() banger.run { image = "x", sise = "1G" } end)
  assert(msg:match("^[^:]*pipeline_spec%.lua:%d+: run: unknown option 'sise'$"), msg)
  spec.raises(function() banger.run {} end, "image= is required, e.g. image=debian:bookworm")
  spec.raises(function() banger.size(nil, { size = "1M" }) end, "size: 1 MiB is under the 64 MiB floor")
  spec.raises(function() banger.size(nil, { size = "lots" }) end, 'size: invalid size "lots"')
  spec.raises(function() banger.pull("") end, "pull: an image reference is required")
end)

it("counts what flattening dropped, for the report", function()
  local tar = require "tarball"
  local l = tar.layer(spec.tmpdir(), {
    { name = "dev/big", type = "3", major = 4096, minor = 0 },
    { name = "dev/ok", type = "3", major = 1, minor = 3 },
  })
  local t <close> = banger.flatten({ ref = "test:img", layers = { l } }, { devices = "keep" })
  eq(t:exists("/dev/ok"), true)
  local before = banger.losses.counts.device or 0
  banger.losses:take(t)
  eq(banger.losses.counts.device, before + 1)
  local notes = t:notes()
  eq(notes[1].path, "/dev/big")
end)

spec.done()
