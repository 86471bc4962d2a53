-- Debian and its derivatives only: xattrs kept, more headroom, the apt branch of first boot.
--
-- For debian, ubuntu, kali, raspbian, pop, linuxmint and the like: xattrs are kept (file
-- capabilities such as ping's), the image gets half its content again as free space for apt's
-- caches on first boot, and the first-boot dispatch holds the apt-get entry alone. Images of
-- other distros are refused before anything is written.
--
--   banger-build debian image=debian:bookworm [out=FILE] [size=2G]
local banger = require "banger"
local distros = require "banger.distros"
local guest = require "banger.guest"

local args = banger.arguments(banger.BUILD_ARGS, { headroom = 0.5, xattrs = "keep" })

return banger.run {
  args = args,
  expect = { "debian", "ubuntu" },
  agents = "systemd",
  payload = guest.payload("systemd"),
  dispatch = distros.only("apt-get"),
}
