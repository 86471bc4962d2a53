---@meta banger.oci
-- LuaCATS stubs for the C module banger.oci (core/lua/l_oci.c).

---@class banger.oci
local oci = {}

---@class banger.oci.Ref
---@field transport "docker"|"oci"|"oci-archive"|"docker-archive"
---@field registry? string     "docker.io", "127.0.0.1:5000"
---@field repository? string   "library/debian"
---@field tag? string
---@field digest? string       "sha256:<hex>" when pinned
---@field path? string         local sources: the directory or archive
---@field name string          the normalised name: "docker.io/library/debian:latest"

--- Parses and normalises a reference (Docker's rules: docker.io, library/, latest), or a local
--- source in skopeo's syntax: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE.
---@param s string
---@return banger.oci.Ref|nil
---@return string? err
function oci.parse_ref(s) end

--- Parses a platform ("linux/arm64/v8"; the aliases x86_64 and aarch64 are normalised) and
--- returns it normalised ("linux/arm64/v8"), or nil and a message.
---@param s string
---@return string|nil
---@return string? err
function oci.parse_platform(s) end

---@class banger.oci.PullOpts
---@field cache_dir? string    default: banger.runtime.cache_dir
---@field platform? string     "linux/amd64" (default), "linux/arm64/v8", ...
---@field pull? "missing"|"always"|"never"
---@field insecure? boolean    https without verification, then plain http (Docker's rule)
---@field progress? "bar"|"plain"|"none"  default: banger.runtime.progress
---@field parallel? integer    layer downloads at once (default 3)

---@class banger.oci.Layer
---@field digest string
---@field media_type string
---@field size integer
---@field diff_id string
---@field path string          the verified blob in the cache

---@class banger.oci.Image
---@field ref string           the normalised name
---@field digest string        the manifest's digest
---@field media_type string
---@field platform string
---@field config table         the image config (JSON null is the light userdata NULL, as cjson.null)
---@field layers banger.oci.Layer[]  oldest first

--- Pulls an image into the OCI-layout cache (every blob digest-verified, written under a temp
--- name and renamed) or finds it there; nil, "pulling NAME: ...", code on failure.
---@param ref string
---@param opts? banger.oci.PullOpts
---@return banger.oci.Image|nil
---@return string? err
---@return string? code
function oci.pull(ref, opts) end

--- Rehashes every blob in the cache and removes the bad ones, then repairs index.json (a wrong
--- mediaType or size corrected, an entry whose manifest is gone dropped, an unreadable index
--- replaced); returns the removed digests and one line per repair, or nil, err.
---@param dir? string  default: banger.runtime.cache_dir
---@return string[]|nil removed
---@return string[]|string repaired  the repairs, or the error
function oci.verify_cache(dir) end

--- Removes blobs that no index.json entry references; returns their digests.
---@param dir? string
---@return string[]|nil
---@return string? err
function oci.gc(dir) end

return oci
