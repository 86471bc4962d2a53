--- Build once per fleet. Every build has a key: the sha256 of everything that decides the
--- output's bytes (this program's version and built-in library and assets, libext2fs's
--- version, the recipe's text and arguments, the platform, the image's DiffIDs in order,
--- SOURCE_DATE_EPOCH, the files a recipe lists as `inputs`) and of nothing else. The image built
--- is kept as an OCI artifact in the cache under its key, and in a registry on request, so a
--- later build with the same key restores it instead of building it again.
---
---   cache = "off"             build every time
---   cache = "local"           (default) the cache of this host
---   cache = "REGISTRY/REPO"   this host's cache, then REGISTRY/REPO:banger-<key hex>; a miss
---                             is built and pushed there
---   push = "REGISTRY/REPO:TAG"  push the artifact there too (REGISTRY/REPO: under the key's tag)
---@class banger.fleet
local M = {}

local runtime = require "banger.runtime"
local digest = require "banger.digest"
local raise = require("banger.errors").raise

M.KEY_FORMAT = "banger-build key 1"

--- Arguments that say where a build goes or how its inputs are fetched, not what it is: they
--- stay out of the key.
M.NEUTRAL_ARGS = {
  out = true, cache = true, push = true, pull = true, insecure = true, mirrors = true,
  plan = true, json = true, kernel = true,
}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- Plain data (strings, numbers, booleans, tables of them) as one canonical text: keys sorted,
-- strings quoted; anything else (a function) is named by its type only.
local function canonical(v, depth)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
  if t ~= "table" or depth > 16 then return "<" .. t .. ">" end
  local parts = {}
  for _, k in ipairs(sorted_keys(v)) do
    parts[#parts + 1] = canonical(k, depth + 1) .. "=" .. canonical(v[k], depth + 1)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

--- The lines the key is the sha256 of, in order.
---@param img table    from banger.oci.pull (config and layers with diff_id)
---@param ctx table    recipe_text, args (the command line's key=value strings), inputs (paths),
---                    payload and dispatch (banger.run's, when given)
---@return string[]
function M.key_lines(img, ctx)
  local b = runtime.builtins()
  local lines = {
    M.KEY_FORMAT,
    "version " .. runtime.version,
    "builtins " .. b.sha256,
    "ext2fs " .. b.ext2fs,
  }
  lines[#lines + 1] = "recipe " .. digest.sha256(ctx.recipe_text or "")
  local args = ctx.args or {}
  for _, k in ipairs(sorted_keys(args)) do
    if not M.NEUTRAL_ARGS[k] then
      lines[#lines + 1] = string.format("arg %q %q", tostring(k), tostring(args[k]))
    end
  end
  lines[#lines + 1] = "platform " .. (img.platform or "")
  for i, l in ipairs(img.layers) do
    lines[#lines + 1] = string.format("layer %d %s", i, l.diff_id)
  end
  lines[#lines + 1] = "time " .. (os.getenv("SOURCE_DATE_EPOCH") or "unset")
  local inputs = {}
  for _, path in ipairs(ctx.inputs or {}) do inputs[#inputs + 1] = path end
  if ctx.payload ~= nil then
    lines[#lines + 1] = "payload " .. digest.sha256(canonical(ctx.payload, 0))
    -- the bytes of host files the payload takes are inputs too
    local dir = runtime.recipe and runtime.recipe:match("^(.*)/[^/]*$") or "."
    for _, e in ipairs(type(ctx.payload) == "table" and ctx.payload or {}) do
      local host = type(e) == "table" and type(e.source) == "string" and
        e.source:match("^file:(.+)$")
      if host then inputs[#inputs + 1] = host:sub(1, 1) == "/" and host or dir .. "/" .. host end
    end
  end
  if ctx.dispatch ~= nil then
    lines[#lines + 1] = "dispatch " .. digest.sha256(canonical(ctx.dispatch, 0))
  end
  for _, path in ipairs(inputs) do
    local s, err = digest.file(path)
    if not s then raise(string.format("input %s: %s", path, err)) end
    lines[#lines + 1] = string.format("input %q %s", path, s)
  end
  return lines
end

--- The build key: "sha256:<hex>".
function M.key(img, ctx)
  return digest.sha256(table.concat(M.key_lines(img, ctx), "\n") .. "\n")
end

--- The creation time of an artifact: SOURCE_DATE_EPOCH when set, else now (RFC 3339, UTC).
function M.created()
  local sde = os.getenv("SOURCE_DATE_EPOCH")
  local t = sde and sde:match("^%d+$") and tonumber(sde) or os.time()
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

--- "off", "local", or a registry repository ("REGISTRY/REPO") for cache=.
---@return string mode, string|nil repo
function M.cache_mode(v)
  if v == nil or v == "local" then return "local" end
  if v == "off" then return "off" end
  if type(v) ~= "string" then raise("cache must be \"off\", \"local\" or REGISTRY/REPO") end
  local ref = require("banger.oci").parse_ref(v)
  if not ref or ref.transport ~= "docker" or not v:find("/", 1, true) or
    v:find("@", 1, true) or v:match("[^/]*$"):find(":", 1, true) then
    raise(string.format("cache=%s: expected \"off\", \"local\" or REGISTRY/REPO (no tag: the "
      .. "key names the tag)", v))
  end
  return "registry", ref.registry .. "/" .. ref.repository
end

--- Where push= sends the artifact: a REGISTRY/REPO without tag gets the key's tag.
local function push_target(push, tag)
  local last = push:match("[^/]*$")
  if last:find("[:@]") then return push end
  return push .. ":" .. tag
end

local function registry_of(ref)
  local r = require("banger.oci").parse_ref(ref)
  return r and r.registry, r and r.repository
end

---@class banger.fleet.Job
local Job = {}
Job.__index = Job

--- Starts a build: resolves the image (manifest and config only), computes the key and looks
--- it up (this host's cache, then the registry cache). `job.hit` is "local" or "registry" when
--- the image can be restored.
---@param opts table  image, cache, push, platform, pull, insecure, mirrors, inputs
---@param log table   info and warn functions
---@return banger.fleet.Job
function M.start(opts, log)
  local oci = require "banger.oci"
  local mode, repo = M.cache_mode(opts.cache)
  local job = setmetatable({ opts = opts, log = log, mode = mode, repo = repo,
    insecure = opts.insecure }, Job)
  local img, err = oci.pull(opts.image, {
    platform = opts.platform, pull = opts.pull, insecure = opts.insecure,
    mirrors = opts.mirrors, layers = false, progress = "none",
  })
  if not img then raise(err) end
  job.img = img
  job.key = M.key(img, { recipe_text = opts.recipe_text, args = opts.args,
    inputs = opts.inputs, payload = opts.payload, dispatch = opts.dispatch })
  job.tag = "banger-" .. job.key:sub(8)
  job.seed = job.key
  if mode == "off" then
    job.cache = "off"
    return job
  end
  local art, ferr, code = oci.find_rootfs(job.key)
  if art then
    job.hit, job.art = "local", art
  elseif code ~= "notfound" then
    log.warn("%s: cannot use it (%s): building", job.key, ferr)
  end
  if not job.hit and repo then
    local a, rerr, rcode = oci.fetch_rootfs(repo .. ":" .. job.tag, {
      key = job.key, platform = img.platform, insecure = opts.insecure })
    if a then
      job.hit, job.art = "registry", a
    elseif rcode ~= "notfound" then
      log.warn("cache %s: %s: building", repo, rerr)
    end
  end
  job.cache = job.hit or "miss"
  return job
end

function Job:remote_opts(mount_from)
  return { insecure = self.insecure, mount_from = mount_from }
end

--- Pushes the artifact to push= (mounting from the cache repository on the same registry).
function Job:push_to(dest)
  local oci = require "banger.oci"
  local target = push_target(dest, self.tag)
  local mount
  if self.repo then
    local creg, crepo = registry_of(self.repo)
    if creg == registry_of(target) then mount = crepo end
  end
  local t0 = runtime.clock()
  local pushed, err = oci.push(self.art, target, self:remote_opts(mount))
  if not pushed then raise(err) end
  self.timings.push = (self.timings.push or 0) + runtime.clock() - t0
  self.log.info("pushed %s", pushed)
  return pushed
end

--- Publishes the artifact under the key in the registry cache, unless it is there already.
--- Returns the digest the key's tag names after (another host's when it got there first).
function Job:publish()
  local oci = require "banger.oci"
  local ref = self.repo .. ":" .. self.tag
  local there = oci.lookup(ref, self:remote_opts())
  if there == self.art.digest then return there end
  if there then return there end
  local t0 = runtime.clock()
  local pushed, err = oci.push(self.art, ref, self:remote_opts())
  self.timings.push = (self.timings.push or 0) + runtime.clock() - t0
  if not pushed then
    self.log.warn("cache %s: the push failed (%s); the image is built all the same", self.repo,
      err)
    return nil
  end
  self.log.info("cached %s", pushed)
  -- the tag may have been written by another host between the lookup and the push
  return oci.lookup(ref, self:remote_opts()) or self.art.digest
end

--- Takes the artifact the registry cache names for the key (another host built it first) in
--- place of this one's, so every host ends with the same bytes.
function Job:adopt(out)
  local oci = require "banger.oci"
  local a, err = oci.fetch_rootfs(self.repo .. ":" .. self.tag, {
    key = self.key, platform = self.img.platform, insecure = self.insecure })
  if not a then
    self.log.warn("cache %s: another host's artifact cannot be fetched (%s): keeping this one",
      self.repo, err)
    return
  end
  local r, rerr = oci.restore_rootfs(a, out, { platform = self.img.platform })
  if not r then raise(string.format("restoring %s: %s", out, rerr)) end
  self.art = a
  self.cache = "registry"
  self.log.info("%s: another host built it first: took its artifact %s", self.key, a.digest)
end

--- Writes the output from the artifact found. Returns nil when the artifact turned out
--- unusable (then the image is built instead).
---@param out string
---@param timings table
function Job:restore(out, timings)
  local oci = require "banger.oci"
  self.timings = timings
  local t0 = runtime.clock()
  local r, err = oci.restore_rootfs(self.art, out, { platform = self.img.platform })
  timings.restore = runtime.clock() - t0
  if not r then
    self.log.warn("%s: %s: building", self.key, err)
    self.hit, self.cache, self.art = nil, "miss", nil
    return nil
  end
  self.log.info("restored %s from %s artifact %s", out, self.hit, self.art.digest)
  if self.hit == "local" and self.repo then
    local there = self:publish()
    if there and there ~= self.art.digest then self:adopt(out) end
  end
  if self.opts.push then self.pushed = self:push_to(self.opts.push) end
  return self:result()
end

--- Whether finishing the build stores an artifact (which carries the image's sha256).
function Job:stores()
  return not (self.mode == "off" and not self.opts.push)
end

--- After a build: stores the output as an artifact (cache local or a registry, or a push),
--- publishes it, pushes it.
---@param out string
---@param timings table
---@param sha256? string  the output's, when its writer took it ("sha256:<hex>")
function Job:finish(out, timings, sha256)
  local oci = require "banger.oci"
  self.timings = timings
  if not self:stores() then return self:result() end
  local img = self.img
  local t0 = runtime.clock()
  local art, err = oci.store_rootfs(out, {
    key = self.key,
    recipe = digest.sha256(self.opts.recipe_text or ""),
    created = M.created(),
    platform = img.platform,
    subject = { media_type = img.media_type, digest = img.digest, size = img.manifest_size },
    sha256 = sha256,
  })
  timings.artifact = runtime.clock() - t0
  if not art then
    if self.opts.push or self.repo then raise(string.format("storing %s: %s", out, err)) end
    self.log.warn("%s: not kept as an artifact: %s", out, err)
    return self:result()
  end
  self.art = art
  if self.repo then
    local there = self:publish()
    if there and there ~= art.digest then self:adopt(out) end
  end
  if self.opts.push then self.pushed = self:push_to(self.opts.push) end
  return self:result()
end

--- What --json adds: key, cache, pushed, and the output's sha256 when known from the artifact.
function Job:result()
  return {
    key = self.key,
    cache = self.cache,
    pushed = self.pushed,
    artifact = self.art and self.art.digest,
    sha256 = self.art and self.art.sha256,
    size = self.art and self.art.image_size,
  }
end

return M
