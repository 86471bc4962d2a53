--- The pipeline recipes call: pull -> flatten -> (edit the tree) -> size -> build -> (edit the
--- image). Each step raises with context ("pulling debian:bookworm: ..."); `banger.build` runs
--- them all in one call for recipes that change nothing on the way.
---@class banger
local M = {}

local runtime = require "banger.runtime"
local sizes = require "banger.sizes"

M.sizes = sizes

--- Phase timings of this run, in seconds, reported by --json.
M.timings = {}

local function timed(name, fn, ...)
  local t0 = runtime.clock()
  local results = table.pack(fn(...))
  M.timings[name] = (M.timings[name] or 0) + (runtime.clock() - t0)
  return table.unpack(results, 1, results.n)
end

local function check_opts(opts, allowed, fname)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(string.format("%s: options must be a table, got %s", fname, type(opts)), 3)
  end
  for k in pairs(opts) do
    if not allowed[k] then
      error(string.format("%s: unknown option '%s'", fname, tostring(k)), 3)
    end
  end
  return opts
end

--- Prints a progress line unless --quiet.
---@param fmt string
function M.info(fmt, ...)
  runtime.log("info", string.format(fmt, ...))
end

--- Prints a warning.
---@param fmt string
function M.warn(fmt, ...)
  runtime.log("warn", string.format(fmt, ...))
end

---@class banger.PullOpts
---@field platform? string   "linux/amd64" (default), "linux/arm64/v8", ...
---@field pull? "missing"|"always"|"never"
---@field insecure? boolean  allow plain HTTP / unverified TLS to a non-loopback registry
---@field cache_dir? string

--- Pulls an image into the cache (or finds it there) with every blob verified.
---@param ref string  "debian:bookworm", "127.0.0.1:5000/x:1", "oci:DIR:TAG", ...
---@param opts? banger.PullOpts
---@return table img  ref, digest, platform, config, layers
function M.pull(ref, opts)
  opts = check_opts(opts, { platform = 1, pull = 1, insecure = 1, cache_dir = 1 }, "pull")
  if type(ref) ~= "string" or ref == "" then
    error("pull: an image reference is required (image=NAME[:TAG])", 2)
  end
  local oci = require "banger.oci"
  local img, err = timed("pull", oci.pull, ref, {
    platform = opts.platform or "linux/amd64",
    pull = opts.pull,
    insecure = opts.insecure,
    cache_dir = opts.cache_dir,
  })
  if not img then error(string.format("pulling %s: %s", ref, err), 2) end
  return img
end

---@class banger.FlattenOpts
---@field devices? "skip"|"keep"  device nodes and fifos (default skip)
---@field xattrs? "drop"|"keep"   extended attributes (default drop)

--- Replays the image's layers, oldest first, into an in-memory tree.
---@param img table  from banger.pull
---@param opts? banger.FlattenOpts
---@return userdata tree  a banger.tree
function M.flatten(img, opts)
  opts = check_opts(opts, { devices = 1, xattrs = 1 }, "flatten")
  local tree = require "banger.tree"
  local t, err = timed("flatten", tree.from_layers, img.layers, {
    devices = opts.devices or "skip",
    xattrs = opts.xattrs or "drop",
    image = img.ref,
  })
  if not t then error(string.format("flattening %s: %s", img.ref, err), 2) end
  return t
end

---@class banger.SizeOpts
---@field size? string|integer   a fixed size ("2G"); otherwise content-aware
---@field headroom? number       content-aware: free space as a fraction of the content
---@field min_free? integer      content-aware: at least this many free bytes
---@field min_free_inodes? integer

--- Decides the image size: fixed, or content-aware from the tree. Never under 64 MiB.
---@param tree userdata
---@param opts? banger.SizeOpts
---@return integer bytes
---@return integer|nil inodes  the inode count for content-aware sizing
function M.size(tree, opts)
  opts = check_opts(opts, { size = 1, headroom = 1, min_free = 1, min_free_inodes = 1 }, "size")
  if opts.size ~= nil then
    local n, err = sizes.parse(opts.size)
    if not n then error("size: " .. err, 2) end
    if n < sizes.FLOOR then
      error(string.format("size: %s is under the 64 MiB floor", sizes.format(n)), 2)
    end
    return n
  end
  return sizes.content(tree:stats(4096), opts)
end

--- A seed for reproducible images: the same image and recipe give the same UUID and hash seed.
---@param img table
---@param extra? string  anything else that should change the seed (the recipe's text)
---@return string
function M.seed(img, extra)
  local digest = require "banger.digest"
  return digest.sha256((img.digest or img.ref or "") .. "\0" .. (extra or ""))
end

--- The recipe file's text, for the seed.
---@return string
function M.recipe_text()
  local f = runtime.recipe and io.open(runtime.recipe, "rb")
  if not f then return "" end
  local text = f:read("a")
  f:close()
  return text
end

--- The default output name for an image: "<name>-<tag>.ext4" in the current directory.
---@param ref string
---@return string
function M.default_out(ref)
  local name = ref:gsub("^%a[%w-]*:", ""):gsub("@.*$", "")
  local last = name:match("([^/]+)$") or name
  local repo, tag = last:match("^(.-):([^:]+)$")
  if not repo then repo, tag = last, (ref:match("@sha256:(%x+)") or "latest"):sub(1, 12) end
  return (repo .. "-" .. tag .. ".ext4"):gsub("[^%w._-]", "_")
end

---@class banger.BuildOpts
---@field out string           the image file to write
---@field size integer         bytes
---@field inodes? integer
---@field seed? string
---@field label? string
---@field journal? boolean

--- Writes the ext4 image from the tree (under a temporary name, renamed when complete) and
--- returns the open image for edits.
---@param tree userdata
---@param opts banger.BuildOpts
---@return userdata fs  a banger.ext4 image, open for writing
function M.build(tree, opts)
  opts = check_opts(opts, { out = 1, size = 1, inodes = 1, seed = 1, label = 1, journal = 1 },
    "build")
  if type(opts.out) ~= "string" or opts.out == "" then error("build: out is required", 2) end
  local ext4 = require "banger.ext4"
  local fs, err = timed("build", ext4.create, opts.out, {
    tree = tree,
    size = opts.size,
    inodes = opts.inodes,
    seed = opts.seed,
    label = opts.label,
    journal = opts.journal,
  })
  if not fs then error(string.format("building %s: %s", opts.out, err), 2) end
  return fs
end

--- Records what --json prints and prints a closing line.
---@param r table  image, digest, platform, output
function M.report(r)
  local digest = require "banger.digest"
  local sum, size = digest.file(r.output)
  local result = {
    image = r.image,
    digest = r.digest,
    platform = r.platform,
    output = r.output,
    size = size,
    sha256 = sum,
    timings = M.timings,
  }
  runtime.set_result(result)
  if not runtime.json then
    M.info("wrote %s (%s) from %s", r.output, sizes.format(size or 0), r.image)
  end
  return result
end

return M
