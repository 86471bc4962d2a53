-- A site recipe: the default build, with this site's changes made to the payload as data.
--
-- It adds the site's own agent, its config and its systemd unit (files in site/ beside this
-- recipe), tightens the first-boot script to 0700, drops the vsock modules-load file (the site's
-- kernels have vsock built in), and teaches first boot the site's own distro.
--
--   banger-build examples/site-agent.lua image=debian:bookworm [out=FILE] [size=2G]
--                [endpoint=https://metrics.example.internal]
local banger = require "banger"
local distros = require "banger.distros"
local guest = require "banger.guest"

local args = banger.arguments(banger.BUILD_ARGS, {
  { "endpoint", "string", nil, "the metrics endpoint written into site-agent.conf" },
})

local here = require("banger.runtime").recipe:match("^(.*)/[^/]*$") or "."
local f = assert(io.open(here .. "/site/site-agent.conf", "rb"))
local conf = f:read("a")
f:close()
if args.endpoint then
  conf = conf:gsub("endpoint = [^\n]*", "endpoint = " .. args.endpoint)
end

local payload = guest.payload("systemd")
-- add: the agent, its config (0640: the endpoint is nobody else's business), its unit and link
for _, e in ipairs {
  { path = "/usr/local/bin/site-agent", kind = "file", mode = "0755", owner = "0:0",
    source = "file:site/site-agent" },
  { path = "/etc/site-agent/site-agent.conf", kind = "file", mode = "0640", owner = "0:0",
    content = conf },
  { path = "/etc/systemd/system/site-agent.service", kind = "file", mode = "0644",
    owner = "0:0", source = "file:site/site-agent.service" },
  { path = "/etc/systemd/system/multi-user.target.wants/site-agent.service", kind = "symlink",
    target = "/etc/systemd/system/site-agent.service" },
} do
  payload[#payload + 1] = e
end
-- change: only root runs the first-boot script
guest.find(payload, "/usr/local/libexec/banger-first-boot").mode = "0700"
-- drop: no modules-load file
guest.drop(payload, "/etc/modules%-load%.d/banger%-vsock%.conf")

-- first boot on the site's own Debian derivative, before the default entries
local dispatch = distros.default()
table.insert(dispatch, 1, {
  ids = { "acme" },
  manager = "apt-get",
  install = { "apt-get install -y openssh-server" },
  enable = { "systemctl enable --now ssh" },
})

return banger.run {
  args = args,
  payload = payload,
  dispatch = dispatch,
}
