-- Put in front of a test recipe (cat tests/lib/measure.lua recipe > x.lua): what the recipe
-- itself read and filled, measured as a recipe can.

-- Bytes this process has read through read(2) and friends so far.
local function bytes_read()
  local f = assert(io.open("/proc/self/io"))
  local n = tonumber(f:read("a"):match("rchar: (%d+)"))
  f:close()
  return n
end

-- Writes zeros to path until the filesystem that holds it is full.
local function fill(path)
  local f = assert(io.open(path, "wb"))
  f:setvbuf("no")
  for _, n in ipairs { 1 << 20, 4096 } do
    local chunk = string.rep("\0", n)
    while f:write(chunk) do end
  end
  f:close()
end
