-- One pull through banger.oci for the integration tests: prints "OK <digest>" or
-- "ERR <code> <message>".
--   banger-build tests/tools/pull.lua ref=REF [cache=DIR] [pull=always|missing|never]
--     [progress=none|plain|bar] [parallel=N] [insecure=1]
local oci = require "banger.oci"
local img, err, code = oci.pull(args.ref, {
  cache_dir = args.cache or "cache",
  pull = args.pull or "always",
  progress = args.progress or "none",
  parallel = tonumber(args.parallel or "3"),
  insecure = args.insecure == "1",
})
if img then print("OK " .. img.digest) else print("ERR " .. code .. " " .. err) end
