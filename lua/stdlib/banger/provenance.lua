--- The provenance record of a build: an in-toto Statement v1 whose predicate is SLSA Provenance
--- v1, written beside the image as OUT.intoto.json. It says what was built (the image file's
--- name and sha256), from what (the image's manifest, each layer's blob and DiffID, the recipe,
--- every file the payload injected) and how (the recipe and its command-line arguments). Times
--- come from SOURCE_DATE_EPOCH when it is set, and keys are written sorted, so two identical
--- builds write identical records.
---
---   local stmt = provenance.statement { output = "vm.ext4", sha256 = "sha256:...", img = img,
---     files = installed, recipe = runtime.recipe, args = args }
---   io.write(provenance.encode(stmt))
---@class banger.provenance
local M = {}

local runtime = require "banger.runtime"

M.STATEMENT = "https://in-toto.io/Statement/v1"
M.PREDICATE = "https://slsa.dev/provenance/v1"
--- What this version's records mean: externalParameters are {recipe, args}, the recipe as named
--- on the command line and its key=value arguments as given.
M.BUILD_TYPE = "urn:banger-build:" .. (runtime.version or "unknown")
M.BUILDER = "urn:banger-build:builder"

--- The file the record of an image is written to.
---@param out string  the image file
---@return string
function M.path_for(out)
  return out .. ".intoto.json"
end

local ARRAY = {}

--- Marks a table as a JSON array (an empty one too).
function M.array(t)
  return setmetatable(t or {}, ARRAY)
end

-- cjson writes "/" as "\/": in its output every "\/" is that escape (a backslash is "\\" and
-- a bare "/" never appears), so turning them back is exact, and URIs read as URIs.
local function enc(v)
  return (require("cjson").encode(v):gsub("\\/", "/"))
end

-- JSON text of v, keys sorted, two spaces a level: the same value is always the same bytes.
local function encode(v, indent, out)
  local t = type(v)
  if t ~= "table" then
    out[#out + 1] = enc(v)
    return
  end
  local inner = indent .. "  "
  if getmetatable(v) == ARRAY or v[1] ~= nil then
    if #v == 0 then
      out[#out + 1] = "[]"
      return
    end
    out[#out + 1] = "[\n"
    for i, item in ipairs(v) do
      out[#out + 1] = inner
      encode(item, inner, out)
      out[#out + 1] = i < #v and ",\n" or "\n"
    end
    out[#out + 1] = indent .. "]"
    return
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  if #keys == 0 then
    out[#out + 1] = "{}"
    return
  end
  out[#out + 1] = "{\n"
  for i, k in ipairs(keys) do
    out[#out + 1] = inner .. enc(k) .. ": "
    encode(v[k], inner, out)
    out[#out + 1] = i < #keys and ",\n" or "\n"
  end
  out[#out + 1] = indent .. "}"
end

--- A value as JSON text with its keys sorted (cjson escapes the strings), ending in a newline.
---@param v any
---@return string
function M.encode(v)
  local out = {}
  encode(v, "", out)
  out[#out + 1] = "\n"
  return table.concat(out)
end

-- "sha256:<hex>" as a ResourceDescriptor's digest set.
local function digest_set(d)
  local algo, hex = tostring(d):match("^(%w+):(%x+)$")
  if not algo then error("provenance: not a digest: " .. tostring(d), 2) end
  return { [algo] = hex }
end

-- A path as a URI reference: characters outside RFC 3986's unreserved set and "/" escaped.
local function uri_path(p)
  return (p:gsub("[^%w%-%._~/]", function(c) return string.format("%%%02X", c:byte()) end))
end

--- An RFC 3339 UTC time: SOURCE_DATE_EPOCH when it is set, else t (default now).
---@param t? integer
---@return string
function M.time(t)
  local sde = os.getenv("SOURCE_DATE_EPOCH")
  if sde and sde:match("^%d+$") then t = math.tointeger(tonumber(sde)) end
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t or os.time())
end

-- The image as a dependency: a registry reference as docker://NAME, a local one as written.
local function image_uri(ref)
  local r = require("banger.oci").parse_ref(ref)
  if r and r.transport == "docker" then return "docker://" .. r.name end
  return ref
end

---@class banger.provenance.Context
---@field output string      the image file written
---@field sha256 string      its digest, "sha256:<hex>"
---@field img table          banger.pull's result: ref, digest, media_type, platform, layers
---@field files? table[]     what the payload injected: {path, source, sha256} each
---@field recipe? string     the recipe file (default: this run's)
---@field recipe_name? string  the recipe as named on the command line
---@field args? table<string, string>  the command line's key=value arguments, as given
---@field internal? table    more internalParameters (a build key, ...)
---@field started? integer   when the build began (os.time())
---@field kernel? table      banger.bootfiles.write's result: kernel, initrd, unpacked (each
---                          {path, sha256}), subjects beside the image

--- The statement for a build.
---@param ctx banger.provenance.Context
---@return table
function M.statement(ctx)
  local digest = require "banger.digest"
  local img = ctx.img
  local deps = M.array()
  deps[#deps + 1] = {
    name = "image", uri = image_uri(img.ref), digest = digest_set(img.digest),
    mediaType = img.media_type, annotations = { platform = img.platform },
  }
  for i, l in ipairs(img.layers) do
    deps[#deps + 1] = { name = "layer " .. i, digest = digest_set(l.digest),
      mediaType = l.media_type, annotations = { diffID = l.diff_id } }
  end
  local recipe = ctx.recipe or runtime.recipe
  if recipe then
    local sum, err = digest.file(recipe)
    if not sum then error(string.format("provenance: recipe %s: %s", recipe, err), 2) end
    deps[#deps + 1] = { name = "recipe", uri = "file:" .. uri_path(recipe),
      digest = digest_set(sum) }
  end
  for _, f in ipairs(ctx.files or {}) do
    deps[#deps + 1] = { name = f.source, digest = digest_set(f.sha256),
      annotations = { path = f.path } }
  end
  local args = {}
  for k, v in pairs(ctx.args or {}) do args[k] = tostring(v) end
  local internal = { platform = img.platform }
  for k, v in pairs(ctx.internal or {}) do internal[k] = v end
  local subject = M.array { { name = ctx.output:match("([^/]*)$"),
    digest = digest_set(ctx.sha256) } }
  -- the boot files taken out of the image are products of the build as much as the image
  local k = ctx.kernel
  for _, which in ipairs(k and { "kernel", "initrd", "unpacked" } or {}) do
    local f = k[which]
    if f then
      subject[#subject + 1] = { name = f.path:match("([^/]*)$"), digest = digest_set(f.sha256) }
    end
  end
  return {
    _type = M.STATEMENT,
    subject = subject,
    predicateType = M.PREDICATE,
    predicate = {
      buildDefinition = {
        buildType = M.BUILD_TYPE,
        externalParameters = { recipe = ctx.recipe_name or runtime.recipe_name or recipe,
          args = args },
        internalParameters = internal,
        resolvedDependencies = deps,
      },
      runDetails = {
        builder = { id = M.BUILDER, version = { ["banger-build"] = runtime.version } },
        metadata = { startedOn = M.time(ctx.started), finishedOn = M.time() },
      },
    },
  }
end

return M
