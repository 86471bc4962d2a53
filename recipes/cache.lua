-- Cache maintenance: check every blob of the OCI cache, or drop what no image uses any more.
--
--   banger-build cache action=verify   rehash every blob, remove bad ones, fix index.json (an
--                                      artifact missing a blob loses its entry)
--   banger-build cache action=gc       remove blobs no pulled image or built artifact references
--              [artifacts=N]           first keep only the N most recently used artifacts
--
-- The cache is --cache-dir (default $XDG_CACHE_HOME/banger/oci). A pull already rehashes what it
-- takes from the cache and fetches bad blobs again, and a restore checks every digest of its
-- artifact; this is for checking or trimming the cache at rest.
local banger = require "banger"
local oci = require "banger.oci"
local runtime = require "banger.runtime"

local args = banger.arguments {
  { "action", "verify|gc", "verify", "verify: rehash every blob, remove the bad ones and fix " ..
    "index.json; gc: remove the blobs no pulled image or built artifact uses" },
  { "artifacts", "integer", nil, "gc: keep only this many of the most recently used built " ..
    "artifacts (default: all)" },
}
if args.artifacts ~= nil and (args.action ~= "gc" or args.artifacts < 0) then
  error(string.format("artifacts=%d: expected a count of 0 or more, with action=gc",
    args.artifacts))
end

local op = args.action == "gc" and oci.gc or oci.verify_cache
local removed, notes = op(runtime.cache_dir, { keep_artifacts = args.artifacts })
if not removed then
  error(string.format("%s of %s: %s", args.action, runtime.cache_dir, notes))
end
for _, line in ipairs(notes) do
  banger.info("%s: %s", args.action, args.action == "gc" and ("dropped " .. line) or line)
end
for _, digest in ipairs(removed) do
  banger.info("%s: removed %s", args.action, digest)
end
banger.info("%s of %s: %d blob%s removed", args.action, runtime.cache_dir, #removed,
  #removed == 1 and "" or "s")
-- (an empty Lua table would print as a JSON object, so the lists are left out when empty)
return { action = args.action, cache_dir = runtime.cache_dir, count = #removed,
  removed = #removed > 0 and removed or nil,
  dropped = args.action == "gc" and #notes > 0 and notes or nil,
  repaired = args.action == "verify" and #notes > 0 and notes or nil }
