-- Alpine: OpenRC services instead of systemd units, the apk branch of first boot, less headroom.
--
-- The payload's services are /etc/init.d scripts enabled in the default runlevel; Alpine
-- installs are small, so the free space is 15% of the content. Images of other distros are
-- refused before anything is written.
--
--   banger-build alpine image=alpine:3.20 [out=FILE] [size=256M]
local banger = require "banger"
local distros = require "banger.distros"
local guest = require "banger.guest"

local args = banger.arguments(banger.BUILD_ARGS, { headroom = 0.15 })

return banger.run {
  args = args,
  expect = { "alpine" },
  agents = "openrc",
  payload = guest.payload("openrc"),
  dispatch = distros.only("apk"),
}
