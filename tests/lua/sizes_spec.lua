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

it("chooses a policy and nothing else", function()
  local p = sizes.policy()
  eq(p.headroom, 0.25)
  eq(p.min_free, 64 * MiB)
  eq(p.min_free_inodes, 16384)
  p = sizes.policy { headroom = 1, min_free = 0 }
  eq(p.headroom, 1)
  eq(p.min_free, 0)
  eq(p.min_free_inodes, 16384)
  eq(select(2, sizes.policy { headroom = -1 }), "headroom must be a fraction within 0..1000")
  eq(select(2, sizes.policy { min_free = 1.5 }), "min_free must be a non-negative integer (bytes)")
  eq(select(2, sizes.policy { min_free_inodes = -2 }),
    "min_free_inodes must be a non-negative integer")
  eq(sizes.content, nil) -- the model lives next to the writer (banger.ext4.size_for)
end)

it("sizes by content with the writer's model", function()
  local tree, ext4 = require "banger.tree", require "banger.ext4"
  local t <close> = tree.new()
  for i = 1, 40 do assert(t:write("/data/" .. i, string.rep(string.char(i), MiB))) end
  local need = assert(ext4.min_size(t))
  -- the policy's free space comes on top of what the tree takes
  local bytes, inodes = assert(ext4.size_for(t, sizes.policy()))
  assert(bytes >= need + 64 * MiB, string.format("%d < %d + 64 MiB", bytes, need))
  assert(bytes % MiB == 0)
  assert(inodes >= 16384 + 42, inodes)
  local more = ext4.size_for(t, sizes.policy { headroom = 4 })
  assert(more >= need + 160 * MiB, more) -- 4 x 40 MiB of content free
  eq(ext4.size_for(t, { headroom = 0, min_free = 0, min_free_inodes = 0 }) >= need, true)
  spec.raises(function() ext4.size_for(t, { headroom = -1 }) end, "headroom must be a fraction")
end)

spec.done()
