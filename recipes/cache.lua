-- Cache maintenance: check every blob of the OCI cache, or drop what no image uses any more.
--
--   banger-build recipes/cache.lua action=verify   rehash blobs, remove bad ones, fix index.json
--                                                  (an artifact missing a blob loses its entry)
--   banger-build recipes/cache.lua action=gc       remove blobs no pulled image or built
--                [artifacts=N]                     artifact references; with artifacts=N keep
--                                                  only the N most recently used artifacts
--
-- The cache is --cache-dir (default $XDG_CACHE_HOME/banger/oci). A pull already rehashes what it
-- takes from the cache and fetches bad blobs again, and a restore checks every digest of its
-- artifact; this is for checking or trimming the cache at rest.
local banger = require "banger"
local oci = require "banger.oci"
local runtime = require "banger.runtime"

local action = args.action or "verify"
local ops = { verify = oci.verify_cache, gc = oci.gc }
if not ops[action] then
  error(string.format("action=%s: expected action=verify or action=gc", action))
end
local keep
if args.artifacts ~= nil then
  keep = math.tointeger(tonumber(args.artifacts))
  if action ~= "gc" or not keep or keep < 0 then
    error(string.format("artifacts=%s: expected a count of 0 or more, with action=gc",
      args.artifacts))
  end
end
local removed, notes = ops[action](runtime.cache_dir, { keep_artifacts = keep })
if not removed then
  error(string.format("%s of %s: %s", action, runtime.cache_dir, notes))
end
for _, line in ipairs(notes) do
  banger.info("%s: %s", action, action == "gc" and ("dropped " .. line) or line)
end
for _, digest in ipairs(removed) do
  banger.info("%s: removed %s", action, digest)
end
banger.info("%s of %s: %d blob%s removed", action, runtime.cache_dir, #removed,
  #removed == 1 and "" or "s")
-- (an empty Lua table would print as a JSON object, so "removed" is left out when empty)
return { action = action, cache_dir = runtime.cache_dir, count = #removed,
  removed = #removed > 0 and removed or nil,
  dropped = action == "gc" and #notes > 0 and notes or nil,
  repaired = action == "verify" and #notes > 0 and notes or nil }
