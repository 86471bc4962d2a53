-- A site recipe: the default build, plus this site's own agent, its config file and its systemd
-- unit, taken from the files in site/ beside this recipe.
--
--   banger-build examples/site-agent.lua image=debian:bookworm [out=FILE] [size=2G]
--                [endpoint=https://metrics.example.internal]
local banger = require "banger"
local distros = require "banger.distros"
local guest = require "banger.guest"
local runtime = require "banger.runtime"

local here = runtime.recipe:match("^(.*)/[^/]*$") or "."

local function read(name)
  local f = assert(io.open(here .. "/site/" .. name, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

return banger.run {
  image = args.image,
  out = args.out,
  size = args.size,
  platform = args.platform,
  dispatch = distros.default(),
  -- the files read below: their contents are part of the build key, so a changed agent or
  -- config is a new build, not the restore of an old one
  inputs = { here .. "/site/site-agent", here .. "/site/site-agent.conf",
    here .. "/site/site-agent.service" },
  edit_tree = function(tree)
    guest.file(tree, "/usr/local/bin/site-agent", nil,
      { mode = 493, from = here .. "/site/site-agent" })
    local conf = read("site-agent.conf")
    if args.endpoint then
      conf = conf:gsub("endpoint = [^\n]*", "endpoint = " .. args.endpoint)
    end
    -- the config holds the endpoint only; 0640 and group 0 keep it from other users anyway
    guest.file(tree, "/etc/site-agent/site-agent.conf", conf, { mode = 416 })
    guest.file(tree, "/etc/systemd/system/site-agent.service", read("site-agent.service"))
    guest.systemd_enable(tree, "site-agent.service")
  end,
}
