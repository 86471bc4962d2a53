-- Fetch a built root filesystem on a host that never builds: the rootfs artifact a registry
-- holds (docs/fleet.md), checked (its artifactType, every digest, the image's sha256 and size)
-- and written sparse under a temp name, renamed when whole.
--
--   banger-build fetch ref=REGISTRY/REPO:TAG [out=FILE] [insecure=true]
--   banger-build fetch key=sha256:<hex> cache=REGISTRY/REPO [out=FILE]
--
-- By key, the artifact this host's cache holds for it is used when there is one; otherwise (and
-- by ref always) it is fetched into the cache first (--cache-dir), so a second fetch of the same
-- artifact costs no transfer.
local banger = require "banger"
local oci = require "banger.oci"
local runtime = require "banger.runtime"

local args = banger.arguments {
  { "ref", "string", nil, "the artifact: REGISTRY/REPO:TAG (or REGISTRY/REPO@sha256:...)" },
  { "key", "string", nil, "or the build key (sha256:...), with cache=" },
  { "cache", "string", nil, "with key=: the registry cache holding it, REGISTRY/REPO" },
  { "out", "path", nil, "the image file to write (default NAME-TAG.ext4 here)" },
  { "insecure", "boolean", false, "plain http or unverified TLS to a registry not on loopback" },
}
local ref, key = args.ref, args.key
if ref and key then error("give ref= or key= (with cache=), not both") end
if key then
  if not key:match("^sha256:%x+$") or #key ~= 71 then
    error(string.format("key=%s: expected sha256:<64 hex digits>", key))
  end
  if not args.cache then error("key= needs cache=REGISTRY/REPO: where the artifact is") end
  ref = args.cache .. ":banger-" .. key:sub(8)
elseif not ref then
  error("ref=REGISTRY/REPO:TAG is required (or key=sha256:... with cache=REGISTRY/REPO)")
end
local out = args.out or banger.default_out(ref)

local t0 = runtime.clock()
local source = "local"
local art = key and oci.find_rootfs(key)
if not art then
  local err
  source = "registry"
  art, err = oci.fetch_rootfs(ref, { key = key, insecure = args.insecure })
  if not art then error(string.format("fetching %s: %s", ref, err), 0) end
end
local t1 = runtime.clock()
local ok, err = oci.restore_rootfs(art, out)
if not ok then error(err, 0) end
local t2 = runtime.clock()
banger.info("wrote %s (%s) from %s artifact %s", out, banger.sizes.format(art.image_size),
  source, art.digest)
return {
  ref = ref, key = art.key, artifact = art.digest, output = out, sha256 = art.sha256,
  size = art.image_size, cache = source,
  timings = { fetch = t1 - t0, restore = t2 - t1 },
}
