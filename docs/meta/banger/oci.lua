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
---@field layers? boolean      false: the manifest and config only, no layer (what a build key needs)
---@field digest? string       the manifest the reference named when it was resolved before
---@field mirrors? (string|banger.oci.Mirror)[]  tried in order before the registry

---@class banger.oci.Mirror
---@field location string      "HOST[:PORT][/PREFIX]": a registry host (a dot, a port or localhost)
---@field insecure? boolean
---@field resolve? boolean     may say what a tag names (else tags are resolved at the origin and
---                            only content named by digest comes from the mirror)

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
---@field manifest_size integer
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

--- Removes blobs that no index.json entry references (artifacts included); with keep_artifacts
--- = N, first drops all but the N most recently used artifact entries. Returns the removed
--- digests and a line per artifact entry dropped.
---@param dir? string
---@param opts? {keep_artifacts?: integer}
---@return string[]|nil removed
---@return string[]|string dropped  or the error
function oci.gc(dir, opts) end

---@class banger.oci.Rootfs     a rootfs artifact (docs/fleet.md)
---@field digest string         of its manifest
---@field size integer          of its manifest
---@field key string            the build key
---@field tag string            "banger-<key hex>"
---@field recipe string         the recipe's sha256
---@field created string
---@field layer {digest: string, size: integer}  the zstd-compressed image
---@field sha256 string         of the image
---@field image_size integer
---@field subject? {digest: string, media_type: string, size: integer}  the source image

---@class banger.oci.RemoteOpts
---@field cache_dir? string
---@field insecure? boolean
---@field progress? "bar"|"plain"|"none"
---@field mount_from? string    push: a repository of the same registry that may hold the blobs
---@field chunk_size? integer   push: PATCH size for larger blobs (default 16 MiB)
---@field key? string           fetch_rootfs: the key the artifact must carry
---@field platform? string      fetch_rootfs, restore_rootfs: recorded in index.json

--- Stores the ext4 image at path as a rootfs artifact in the cache, recorded under meta.key.
--- meta.sha256, the image's when the caller has it (`img:close{sha256 = true}`), is taken as
--- given instead of hashing the image again.
---@param path string
---@param meta {key: string, recipe: string, created: string, platform?: string, subject: {media_type: string, digest: string, size: integer}, sha256?: string}
---@param opts? {cache_dir?: string}
---@return banger.oci.Rootfs|nil
---@return string? err
---@return string? code
function oci.store_rootfs(path, meta, opts) end

--- The artifact the cache holds for a key; nil, message, "notfound" when none.
---@param key string
---@param opts? {cache_dir?: string}
---@return banger.oci.Rootfs|nil
---@return string? err
---@return string? code
function oci.find_rootfs(key, opts) end

--- Writes the image out of an artifact of the cache (by key or table): the layer's digest, the
--- image's size and sha256 checked, zero blocks left as holes, under a temp name renamed when
--- whole. The artifact becomes the most recently used.
---@param what string|banger.oci.Rootfs
---@param out string
---@param opts? banger.oci.RemoteOpts
---@return banger.oci.Rootfs|nil
---@return string? err
---@return string? code
function oci.restore_rootfs(what, out, opts) end

--- Fetches the rootfs artifact a reference names into the cache (artifactType, every digest and
--- opts.key checked); nil, message, "notfound" when the reference names nothing.
---@param ref string
---@param opts? banger.oci.RemoteOpts
---@return banger.oci.Rootfs|nil
---@return string? err
---@return string? code
function oci.fetch_rootfs(ref, opts) end

--- The digest of the manifest a reference names, with one HEAD; nil, message, "notfound".
---@param ref string
---@param opts? banger.oci.RemoteOpts
---@return string|nil
---@return string? err
---@return string? code
function oci.lookup(ref, opts) end

--- Pushes an artifact of the cache (a key, a rootfs table, or a manifest digest) to
--- "REGISTRY/REPO:TAG": each blob asked for with HEAD, mounted from opts.mount_from or sent
--- (chunked beyond chunk_size, resumed after a failure), the manifest last, then listed under
--- its subject (referrers API, else the referrers tag schema). Returns "REF@sha256:..." and
--- {existed, mounted, uploaded, referrers = "api"|"tag"|""}.
---@param what string|banger.oci.Rootfs
---@param dest string
---@param opts? banger.oci.RemoteOpts
---@return string|nil pushed
---@return table|string info  or the error
---@return string? code
function oci.push(what, dest, opts) end

return oci
