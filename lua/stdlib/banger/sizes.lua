--- Sizes: parsing "512M"/"1G", formatting, and the sizing policies recipes choose from.
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

--- Rounds n up to a multiple of m.
local function round_up(n, m)
  return (n + m - 1) // m * m
end

---@class banger.sizes.ContentOpts
---@field headroom? number    fraction of the content added as free space (default 0.25)
---@field min_free? integer   at least this many free bytes (default 64 MiB)
---@field min_free_inodes? integer  at least this many free inodes (default 16384)
---@field block_size? integer  (default 4096)

--- Content-aware sizing from tree statistics (`tree:stats(block_size)`): data blocks plus
--- ext4 metadata (inode tables at 256 bytes an inode, journal, group descriptors), plus headroom,
--- rounded up to a MiB, never under the 64 MiB floor. Returns bytes and the inode count to use.
---@param stats table
---@param opts? banger.sizes.ContentOpts
---@return integer bytes
---@return integer inodes
function M.content(stats, opts)
  opts = opts or {}
  local bs = opts.block_size or 4096
  local headroom = opts.headroom or 0.25
  local min_free = opts.min_free or 64 * MiB
  local min_free_inodes = opts.min_free_inodes or 16384
  assert(type(headroom) == "number" and headroom >= 0, "headroom must be a non-negative number")
  local data = stats.data_blocks * bs
  local inodes = stats.inodes + math.max(min_free_inodes, math.ceil(stats.inodes * headroom))
  local free = math.max(min_free, math.ceil(data * headroom))
  local total = data + free + inodes * 256
  -- journal: mkfs.ext4 uses 16 MiB up to 1 GiB, 32 MiB up to 8 GiB, 64 MiB beyond
  total = total + (total < 1024 * MiB and 16 * MiB or total < 8192 * MiB and 32 * MiB or 64 * MiB)
  -- group descriptors, bitmaps, reserved GDT blocks, superblock backups: about 1.5%
  total = total + total // 64
  total = round_up(math.max(total, M.FLOOR), MiB)
  return total, round_up(inodes, 8)
end

return M
