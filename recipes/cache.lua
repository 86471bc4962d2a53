-- Cache maintenance: check every blob of the OCI cache, or drop what no image uses any more.
--
--   banger-build cache action=verify   rehash every blob, remove bad ones, fix index.json
--   banger-build cache action=gc       remove blobs no pulled image references
--
-- The cache is --cache-dir (default $XDG_CACHE_HOME/banger/oci). A pull already rehashes what it
-- takes from the cache and fetches bad blobs again; this is for checking or trimming it at rest.
local banger = require "banger"
local oci = require "banger.oci"
local runtime = require "banger.runtime"

local args = banger.arguments {
  { "action", "verify|gc", "verify", "verify: rehash every blob, remove the bad ones and fix " ..
    "index.json; gc: remove the blobs no pulled image uses" },
}

local op = args.action == "gc" and oci.gc or oci.verify_cache
local removed, repaired = op(runtime.cache_dir)
if not removed then
  error(string.format("%s of %s: %s", args.action, runtime.cache_dir, repaired))
end
for _, digest in ipairs(removed) do
  banger.info("%s: removed %s", args.action, digest)
end
for _, line in ipairs(args.action == "verify" and repaired or {}) do
  banger.info("%s: %s", args.action, line)
end
banger.info("%s of %s: %d blob%s removed", args.action, runtime.cache_dir, #removed,
  #removed == 1 and "" or "s")
-- (an empty Lua table would print as a JSON object, so "removed" is left out when empty)
return { action = args.action, cache_dir = runtime.cache_dir, count = #removed,
  removed = #removed > 0 and removed or nil }
