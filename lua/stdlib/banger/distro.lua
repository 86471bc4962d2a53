--- Distro detection at build time, from the image's os-release file.
---@class banger.distro
local M = {}

--- Parses os-release(5) text: KEY=value lines, values optionally in single or double quotes,
--- with backslash escapes inside double quotes. Returns a table of the fields.
---@param text string
---@return table<string,string>
function M.parse_os_release(text)
  local fields = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local key, value = line:match("^%s*([A-Z0-9_]+)=(.*)$")
    if key then
      value = value:gsub("%s+$", "")
      local q = value:sub(1, 1)
      if (q == '"' or q == "'") and #value >= 2 and value:sub(-1) == q then
        value = value:sub(2, -2)
        if q == '"' then value = value:gsub("\\([\\\"$`])", "%1") end
      end
      fields[key] = value
    end
  end
  return fields
end

-- The image's words reach terminals and logs: bytes outside printable ASCII are shown as \xNN.
local printable = require("banger.errors").shown

---@class banger.distro.Info
---@field id string            ID, lower case ("linux" when absent, as os-release(5) says); bytes
---                            outside printable ASCII shown as \xNN
---@field id_like string[]     the ID_LIKE words, in order
---@field version_id? string
---@field pretty_name? string
---@field init "systemd"|"openrc"|"unknown"  the init system the image appears to have
---@field fields table<string,string>  every os-release field

--- Reads /etc/os-release (else /usr/lib/os-release) from a tree and tells what the image is.
--- Returns the info, or nil and a message when the image has no os-release.
---@param tree userdata  a banger.tree
---@return banger.distro.Info|nil
---@return string|nil err
function M.detect(tree)
  local text
  for _, path in ipairs { "/etc/os-release", "/usr/lib/os-release" } do
    text = tree:exists(path) and tree:read(path, 65536)
    if text then break end
  end
  if not text then return nil, "the image has no /etc/os-release or /usr/lib/os-release" end
  local f = M.parse_os_release(text)
  local info = {
    id = printable((f.ID or "linux"):lower()),
    id_like = {},
    version_id = f.VERSION_ID,
    pretty_name = f.PRETTY_NAME,
    fields = f,
  }
  for word in (f.ID_LIKE or ""):gmatch("%S+") do
    info.id_like[#info.id_like + 1] = printable(word:lower())
  end
  info.init = M.init_system(tree)
  return info
end

--- The init system an image appears to have, from the files it holds: "systemd", "openrc" or
--- "unknown".
---@param tree userdata  a banger.tree
---@return "systemd"|"openrc"|"unknown"
function M.init_system(tree)
  local function has(path)
    local st = tree:stat(path, { follow = true })
    return st ~= nil
  end
  if has("/lib/systemd/systemd") or has("/usr/lib/systemd/systemd") then return "systemd" end
  if has("/sbin/openrc") or has("/sbin/openrc-run") or has("/usr/sbin/openrc") then
    return "openrc"
  end
  return "unknown"
end

--- True when the distro's ID or one of its ID_LIKE words is in the given list.
---@param info banger.distro.Info
---@param ids string[]
---@return boolean
function M.is(info, ids)
  local want = {}
  for _, id in ipairs(ids) do want[id] = true end
  if want[info.id] then return true end
  for _, like in ipairs(info.id_like) do
    if want[like] then return true end
  end
  return false
end

return M
