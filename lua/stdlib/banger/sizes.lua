--- Sizes: parsing "512M"/"1G", formatting, and the sizing policy recipes choose.
---@class banger.sizes
local M = {}

local MiB = 1024 * 1024

--- The smallest image banger-build writes: 64 MiB.
M.FLOOR = 64 * MiB

local UNITS = { [""] = 1, K = 1024, M = MiB, G = 1024 * MiB, T = 1024 * 1024 * MiB }

--- Parses a size: a number of bytes, or digits with K, M, G or T (powers of 1024; "KiB", "MB"
--- and lower case are accepted too). Returns bytes, or nil and a message.
---@param s string|integer
---@return integer|nil bytes
---@return string|nil err
function M.parse(s)
  if math.type(s) == "integer" then
    if s < 0 then return nil, "size must not be negative" end
    return s
  end
  if type(s) ~= "string" then return nil, "size must be a string or an integer" end
  local num, unit = s:match("^%s*(%d+)%s*([kKmMgGtT]?)[iI]?[bB]?%s*$")
  if not num then
    return nil, string.format("invalid size %q: expected bytes or a number with K, M, G or T", s)
  end
  local n = math.tointeger(tonumber(num))
  local mult = UNITS[unit:upper()]
  if not n or n > math.maxinteger // mult then
    return nil, string.format("invalid size %q: too large", s)
  end
  return n * mult
end

--- Formats bytes for people: "64 MiB", "1.5 GiB", "512 B".
---@param n integer
---@return string
function M.format(n)
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local v, i = n, 1
  while v >= 1024 and i < #units do
    v, i = v / 1024, i + 1
  end
  if i == 1 or v == math.floor(v) then
    return string.format("%d %s", math.floor(v), units[i])
  end
  return string.format("%.1f %s", v, units[i])
end

---@class banger.sizes.Policy
---@field headroom? number         free space and inodes as a fraction of what the tree takes
---                                (default 0.25)
---@field min_free? integer        at least this many free bytes (default 64 MiB)
---@field min_free_inodes? integer at least this many free inodes (default 16384)

--- The content-aware sizing policy: what an image leaves free beyond its tree. The size itself
--- comes from the ext4 writer's own model (`banger.ext4.size_for`), which never undercounts.
--- Returns the policy with defaults filled in, or nil and a message.
---@param opts? banger.sizes.Policy
---@return banger.sizes.Policy|nil
---@return string|nil err
function M.policy(opts)
  opts = opts or {}
  local p = {
    headroom = opts.headroom == nil and 0.25 or opts.headroom,
    min_free = opts.min_free == nil and 64 * MiB or opts.min_free,
    min_free_inodes = opts.min_free_inodes == nil and 16384 or opts.min_free_inodes,
  }
  if type(p.headroom) ~= "number" or p.headroom < 0 or p.headroom > 1000 then
    return nil, "headroom must be a fraction within 0..1000"
  end
  if math.type(p.min_free) ~= "integer" or p.min_free < 0 then
    return nil, "min_free must be a non-negative integer (bytes)"
  end
  if math.type(p.min_free_inodes) ~= "integer" or p.min_free_inodes < 0 then
    return nil, "min_free_inodes must be a non-negative integer"
  end
  return p
end

return M
