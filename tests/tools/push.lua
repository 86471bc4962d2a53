-- Pushes an artifact of the cache for the registry tests: banger-build push.lua what=KEY|DIGEST
-- dest=REF [chunk=BYTES] [from=REPO]. Prints the pushed reference and what happened to the
-- blobs ("existed mounted uploaded referrers"); a failure is an error.
local oci = require "banger.oci"
local pushed, info = oci.push(args.what, args.dest, {
  chunk_size = args.chunk and math.tointeger(tonumber(args.chunk)),
  mount_from = args.from,
})
if not pushed then error(info, 0) end
print(pushed)
print(string.format("existed=%d mounted=%d uploaded=%d referrers=%s", info.existed,
  info.mounted, info.uploaded, info.referrers))
