-- Cache maintenance: check every blob of the OCI cache, or drop what no image uses any more.
--
--   banger-build recipes/cache.lua action=verify   rehash blobs, remove bad ones, fix index.json
--   banger-build recipes/cache.lua action=gc       remove blobs no pulled image references
--
-- The cache is --cache-dir (default $XDG_CACHE_HOME/banger/oci). A pull already rehashes what it
-- takes from the cache and fetches bad blobs again; this is for checking or trimming it at rest.
local banger = require "banger"
local oci = require "banger.oci"
local runtime = require "banger.runtime"

local action = args.action or "verify"
local ops = { verify = oci.verify_cache, gc = oci.gc }
if not ops[action] then
  error(string.format("action=%s: expected action=verify or action=gc", action))
end
local removed, repaired = ops[action](runtime.cache_dir)
if not removed then
  error(string.format("%s of %s: %s", action, runtime.cache_dir, repaired))
end
for _, digest in ipairs(removed) do
  banger.info("%s: removed %s", action, digest)
end
for _, line in ipairs(action == "verify" and repaired or {}) do
  banger.info("%s: %s", action, line)
end
banger.info("%s of %s: %d blob%s removed", action, runtime.cache_dir, #removed,
  #removed == 1 and "" or "s")
-- (an empty Lua table would print as a JSON object, so "removed" is left out when empty)
return { action = action, cache_dir = runtime.cache_dir, count = #removed,
  removed = #removed > 0 and removed or nil }
