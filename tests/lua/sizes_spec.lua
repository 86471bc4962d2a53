local spec = require "spec"
local sizes = require "banger.sizes"
local it, eq = spec.it, spec.eq

local MiB = 1024 * 1024

it("parses sizes", function()
  eq(sizes.parse("512M"), 512 * MiB)
  eq(sizes.parse("1G"), 1024 * MiB)
  eq(sizes.parse("2g"), 2048 * MiB)
  eq(sizes.parse("64MiB"), 64 * MiB)
  eq(sizes.parse("100"), 100)
  eq(sizes.parse(4096), 4096)
  eq(sizes.parse("10K"), 10240)
  eq(select(2, sizes.parse("1.5G")),
    'invalid size "1.5G": expected bytes or a number with K, M, G or T')
  eq(select(2, sizes.parse("G")), 'invalid size "G": expected bytes or a number with K, M, G or T')
  eq(select(2, sizes.parse("99999999999999999999T")), 'invalid size "99999999999999999999T": too large')
  eq(select(2, sizes.parse(-1)), "size must not be negative")
end)

it("formats sizes", function()
  eq(sizes.format(512), "512 B")
  eq(sizes.format(64 * MiB), "64 MiB")
  eq(sizes.format(1536 * MiB), "1.5 GiB")
end)

it("sizes by content, never under the floor", function()
  local small = { data_blocks = 10, inodes = 5 }
  local bytes, inodes = sizes.content(small)
  -- 40 KiB of data: 64 MiB free + 4 MiB of inodes + 16 MiB journal, +1/64, rounded to a MiB
  eq(bytes, 86 * MiB)
  eq(bytes % MiB, 0)
  eq(inodes, 16392) -- 5 + 16384 free, rounded up to 8
  -- 1 GiB of data with 25% headroom lands between 1.25 and 1.4 GiB
  local big = { data_blocks = 262144, inodes = 30000 }
  local b = sizes.content(big)
  assert(b > 1280 * MiB and b < 1434 * MiB, "content size out of range: " .. b)
  -- more headroom, more space
  assert(sizes.content(big, { headroom = 1.0 }) > b)
  spec.raises(function() sizes.content(big, { headroom = -1 }) end, "headroom must be")
end)

spec.done()
