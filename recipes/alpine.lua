-- Alpine: OpenRC services instead of systemd units, apk in the first-boot dispatch, and a
-- tighter size (Alpine installs are small).
--
--   banger-build recipes/alpine.lua image=alpine:3.20 [out=FILE] [size=256M]
local banger = require "banger"
local distros = require "banger.distros"

return banger.run {
  image = args.image,
  out = args.out,
  size = args.size,
  platform = args.platform,
  expect = { "alpine" },
  headroom = 0.15,
  agents = "openrc",
  dispatch = distros.only("apk"),
}
