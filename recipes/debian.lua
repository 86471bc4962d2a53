-- Debian and its derivatives (ubuntu, kali, raspbian, pop, linuxmint...): only the apt branch
-- of the first-boot dispatch, xattrs kept (file capabilities such as ping's), and more room for
-- apt's caches on first boot. Images of other distros are refused before anything is written.
--
--   banger-build recipes/debian.lua image=debian:bookworm [out=FILE] [size=2G]
local banger = require "banger"
local distros = require "banger.distros"

return banger.run {
  image = args.image,
  out = args.out,
  size = args.size,
  platform = args.platform,
  expect = { "debian", "ubuntu" },
  xattrs = "keep",
  headroom = 0.5,
  agents = "systemd",
  dispatch = distros.only("apt-get"),
}
