--- The site configuration: a Lua file that returns a table, read once per run from the first
--- of `$XDG_CONFIG_HOME/banger/config.lua` (`~/.config/banger/config.lua` when XDG_CONFIG_HOME
--- is unset) and `/etc/banger/config.lua` that exists. It is data: it runs with an empty
--- environment (no functions, no globals), as text only.
---
---   return {
---     mirrors = {
---       -- per registry, tried in order before it; a failing one falls through to the next
---       ["docker.io"] = { "mirror.example.net:5000", { location = "10.0.0.7:5000/hub",
---                         insecure = true } },
---     },
---   }
---@class banger.config
local M = {}

local raise = require("banger.errors").raise

local MAX_BYTES = 1 << 20
local loaded

--- The files looked at, in order.
---@return string[]
function M.paths()
  local xdg = os.getenv("XDG_CONFIG_HOME")
  local home = os.getenv("HOME")
  local list = {}
  if xdg and xdg:sub(1, 1) == "/" then
    list[#list + 1] = xdg .. "/banger/config.lua"
  elseif home and home:sub(1, 1) == "/" then
    list[#list + 1] = home .. "/.config/banger/config.lua"
  end
  list[#list + 1] = "/etc/banger/config.lua"
  return list
end

local KNOWN = { mirrors = true }

local function check(cfg, path)
  if type(cfg) ~= "table" then
    raise(string.format("%s: the configuration must return a table, not %s", path, type(cfg)))
  end
  for k in pairs(cfg) do
    if not KNOWN[k] then raise(string.format("%s: unknown setting '%s'", path, tostring(k))) end
  end
  local mirrors = cfg.mirrors or {}
  if type(mirrors) ~= "table" then raise(path .. ": mirrors must be a table of registries") end
  for registry, list in pairs(mirrors) do
    if type(registry) ~= "string" or type(list) ~= "table" then
      raise(string.format("%s: mirrors[%s] must be a list of mirrors", path, tostring(registry)))
    end
    for i, m in ipairs(list) do
      local loc = type(m) == "table" and m.location or m
      if type(loc) ~= "string" or loc == "" then
        raise(string.format("%s: mirrors[%q][%d]: expected \"HOST[:PORT][/PREFIX]\" or "
          .. "{ location = ..., insecure = ..., resolve = ... }", path, registry, i))
      end
    end
  end
  cfg.mirrors = mirrors
  return cfg
end

--- The site configuration (an empty one when no file exists), and the file it came from.
---@return table cfg
---@return string|nil path
function M.load()
  if loaded then return loaded.cfg, loaded.path end
  for _, path in ipairs(M.paths()) do
    local f = io.open(path, "rb")
    if f then
      local text = f:read(MAX_BYTES + 1)
      f:close()
      if text and #text > MAX_BYTES then raise(path .. ": larger than 1 MiB") end
      local chunk, err = load(text or "", "@" .. path, "t", {})
      if not chunk then raise(err) end
      local ok, cfg = pcall(chunk)
      if not ok then raise(tostring(cfg)) end
      loaded = { cfg = check(cfg, path), path = path }
      return loaded.cfg, path
    end
  end
  loaded = { cfg = { mirrors = {} } }
  return loaded.cfg
end

--- The mirrors for an image's registry: `given` when not nil (a list, or a string of
--- comma-separated locations), else the site configuration's.
---@param ref string  the image reference
---@param given? string|table
---@return table|nil mirrors
function M.mirrors(ref, given)
  if type(given) == "string" then
    local list = {}
    for loc in given:gmatch("[^,%s]+") do list[#list + 1] = loc end
    return list
  elseif given ~= nil then
    return given
  end
  local parsed = require("banger.oci").parse_ref(ref)
  if not parsed or parsed.transport ~= "docker" then return nil end
  local cfg = M.load()
  return cfg.mirrors[parsed.registry]
end

return M
