--- The pipeline recipes call: pull -> flatten -> (edit the tree) -> size -> build -> (edit the
--- image). Each step raises with context ("pulling debian:bookworm: ..."); `banger.build` runs
--- them all in one call for recipes that change nothing on the way.
---@class banger
local M = {}

local runtime = require "banger.runtime"
local raise = require("banger.errors").raise
local sizes = require "banger.sizes"
local args = require "banger.args"

M.sizes = sizes

--- The recipe's arguments: `local args = banger.arguments(banger.BUILD_ARGS)` checks the
--- command line's key=value pairs against the declared rows (banger.args) and returns them typed.
M.arguments = args.parse
--- The arguments of a build, one row per banger.run option a command line may set.
M.BUILD_ARGS = args.BUILD

--- Phase timings of this run, in seconds, reported by --json.
M.timings = {}

--- When this run's first pull began (os.time()), for the provenance record.
M.started = nil

--- The loss report of this run (banger.losses): every change its builds made to what the
--- layers say, from the trees' notes and the images' warnings. --json reports it as `losses`.
M.losses = require("banger.losses").new()

local warned = setmetatable({}, { __mode = "k" })

-- Prints the image's warnings not seen yet (what ext4 could not hold as given) and takes them
-- into the loss report.
local function take_warnings(fs)
  local w = fs:warnings()
  for i = (warned[fs] or 0) + 1, #w do
    M.warn("%s: %s", w[i].path, w[i].detail)
  end
  warned[fs] = #w
  M.losses:take(fs)
end

local function timed(name, fn, ...)
  local t0 = runtime.clock()
  local results = table.pack(fn(...))
  M.timings[name] = (M.timings[name] or 0) + (runtime.clock() - t0)
  return table.unpack(results, 1, results.n)
end

local function check_opts(opts, allowed, fname)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    raise(string.format("%s: options must be a table, got %s", fname, type(opts)))
  end
  for k in pairs(opts) do
    if not allowed[k] then
      raise(string.format("%s: unknown option '%s'", fname, tostring(k)))
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
---@field insecure? boolean  https without verification, then plain http (Docker's rule)
---@field cache_dir? string
---@field mirrors? string|table  mirrors of the image's registry (default: the site config's)
---@field digest? string      the manifest the reference named when it was resolved before

-- How each pulled image can be pulled again with every blob rehashed: a cached layer's digest
-- is checked by the flatten that reads it, and a damaged one is fetched again from there.
local repull = setmetatable({}, { __mode = "k" })

--- Pulls an image into the cache (or finds it there) with every blob verified: the config and
--- manifests now, cached layers as `banger.flatten` reads them (one read of each blob).
---@param ref string  "debian:bookworm", "127.0.0.1:5000/x:1", "oci:DIR:TAG", ...
---@param opts? banger.PullOpts
---@return table img  ref, digest, platform, config, layers
function M.pull(ref, opts)
  opts = check_opts(opts, { platform = 1, pull = 1, insecure = 1, cache_dir = 1, mirrors = 1,
    digest = 1 }, "pull")
  if type(ref) ~= "string" or ref == "" then
    raise("pull: an image reference is required (image=NAME[:TAG])")
  end
  M.started = M.started or os.time()
  local oci = require "banger.oci"
  local function fetch(verify)
    return oci.pull(ref, {
      platform = opts.platform or "linux/amd64",
      pull = opts.pull,
      insecure = opts.insecure,
      cache_dir = opts.cache_dir,
      mirrors = require("banger.config").mirrors(ref, opts.mirrors),
      digest = opts.digest,
      verify = verify,
    })
  end
  local img, err = timed("pull", fetch, "read")
  -- banger.oci's messages already say "pulling <ref>: ..."
  if not img then raise(err) end
  repull[img] = function() return fetch("now") end
  M.info("%s: %s (%s), %d layer%s", img.ref, img.digest, img.platform, #img.layers,
    #img.layers == 1 and "" or "s")
  return img
end

---@class banger.FlattenOpts
---@field devices? "skip"|"keep"  device nodes and fifos (default skip)
---@field xattrs? "drop"|"keep"   extended attributes (default drop)

--- Replays the image's layers, oldest first, into an in-memory tree. A cached layer blob that
--- turns out damaged as it is read is fetched again (the pull rehashes everything), once.
---@param img table  from banger.pull
---@param opts? banger.FlattenOpts
---@return userdata tree  a banger.tree
function M.flatten(img, opts)
  opts = check_opts(opts, { devices = 1, xattrs = 1 }, "flatten")
  local tree = require "banger.tree"
  local topts = {
    devices = opts.devices or "skip", xattrs = opts.xattrs or "drop", image = img.ref,
  }
  local t, err, code = timed("flatten", tree.from_layers, img.layers, topts)
  if not t and code == "mismatch" and repull[img] and err:find("blob digest mismatch", 1, true) then
    M.warn("%s: the cache's copy is damaged (%s): fetching it again", img.ref, err)
    local again, perr = timed("pull", repull[img])
    if not again then raise(perr) end
    repull[img] = nil
    img.layers = again.layers
    t, err = timed("flatten", tree.from_layers, img.layers, topts)
  end
  if not t then raise(string.format("flattening %s: %s", img.ref, err)) end
  local st = t:stats(4096)
  M.info("flattened %s: %d entries, %s of files", img.ref, st.entries, sizes.format(st.bytes))
  -- what the policy left out or changed is in t:notes(), for the loss report (what Linux could
  -- not show is a warning on the log as well)
  return t
end

---@class banger.SizeOpts
---@field size? string|integer   a fixed size ("2G"); otherwise content-aware
---@field headroom? number       content-aware: free space as a fraction of the content
---@field min_free? integer      content-aware: at least this many free bytes
---@field min_free_inodes? integer

--- Decides the image size: fixed, or content-aware from the tree (the ext4 writer's model plus the
--- policy's free space). Never under 64 MiB.
---@param tree userdata
---@param opts? banger.SizeOpts
---@return integer bytes
---@return integer|nil inodes  the inode count for content-aware sizing
function M.size(tree, opts)
  opts = check_opts(opts, { size = 1, headroom = 1, min_free = 1, min_free_inodes = 1 }, "size")
  if opts.size ~= nil then
    local n, err = sizes.parse(opts.size)
    if not n then raise("size: " .. err) end
    if n < sizes.FLOOR then
      raise(string.format("size: %s is under the 64 MiB floor", sizes.format(n)))
    end
    return n
  end
  local policy, perr = sizes.policy(opts)
  if not policy then raise("size: " .. perr) end
  local bytes, inodes = require("banger.ext4").size_for(tree, policy)
  if not bytes then raise("sizing: " .. inodes) end
  return bytes, inodes
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
  local name = ref:gsub("^docker://", "")
  local transport, rest = name:match("^(oci):(.*)$")
  if not transport then transport, rest = name:match("^(oci%-archive):(.*)$") end
  if not transport then transport, rest = name:match("^(docker%-archive):(.*)$") end
  local repo, tag
  if transport then
    -- oci:DIR[:TAG]: the directory's base name and the tag
    local path, t = rest:match("^(.-):([^/:]+)$")
    path = path or rest
    repo, tag = path:gsub("%.%a+$", ""):match("([^/]+)/*$"), t or "latest"
  else
    local digest = name:match("@sha256:(%x+)$")
    name = name:gsub("@.*$", "")
    local last = name:match("([^/]+)$") or name
    repo, tag = last:match("^(.-):([^:]+)$")
    if not repo then repo, tag = last, digest and digest:sub(1, 12) or "latest" end
  end
  return ((repo or "image") .. "-" .. tag .. ".ext4"):gsub("[^%w._-]", "_")
end

---@class banger.BuildOpts
---@field out string           the image file to write
---@field size integer         bytes
---@field inodes? integer
---@field seed? string
---@field label? string
---@field journal? boolean

--- Writes the ext4 image from the tree under a temporary name and returns it open for edits;
--- `fs:close()` puts it in place once written back and synced (and returns nil, message if that
--- fails); leaving a `<close>` scope by an error removes it.
---@param tree userdata
---@param opts banger.BuildOpts
---@return userdata fs  a banger.ext4 image, open for writing
function M.build(tree, opts)
  opts = check_opts(opts, { out = 1, size = 1, inodes = 1, seed = 1, label = 1, journal = 1 },
    "build")
  if type(opts.out) ~= "string" or opts.out == "" then raise("build: out is required") end
  local ext4 = require "banger.ext4"
  local fs, err = timed("build", ext4.create, opts.out, {
    tree = tree,
    size = opts.size,
    inodes = opts.inodes,
    seed = opts.seed,
    label = opts.label,
    journal = opts.journal,
  })
  if not fs then raise(string.format("building %s: %s", opts.out, err)) end
  -- the tree as written: what flattening and the edits before changed
  M.losses:take(tree)
  take_warnings(fs)
  return fs
end

-- Writes a file beside the image whole or not at all: a temporary name in its directory,
-- renamed when written and closed.
local function save(path, text)
  local dir, base = path:match("^(.*/)([^/]*)$")
  if not dir then dir, base = "", path end
  local tmp = string.format("%s.%s.tmp-%d", dir, base, math.random(1 << 30))
  local f, err = io.open(tmp, "wb")
  if not f then raise(string.format("writing %s: %s", path, err)) end
  local ok, werr = f:write(text)
  local closed, cerr = f:close()
  if ok and closed then ok, werr = os.rename(tmp, path) else werr = werr or cerr end
  if not ok then
    os.remove(tmp)
    raise(string.format("writing %s: %s", path, werr))
  end
end

--- Records what --json prints and prints the closing lines: the loss report's summary (unless
--- --quiet) and what was written. The image's sha256 takes a read of the whole image: it is
--- computed for --json and the provenance record, and otherwise when `result.sha256` is first
--- read. With `report`, every entry of the loss report is written to
--- that file as JSON lines; with `provenance`, the provenance record (banger.provenance) beside
--- the image as OUT.intoto.json, from `img` (banger.pull's result) and `files` (what
--- banger.guest.install injected).
---@param r table  image, digest, platform, output; agent and kernel when injected, written;
---                report (a path), provenance (a boolean), img, files, checks (what
---                banger.run's pre-flight checks found); sha256 and size when known (taken
---                as the image was closed: then it is not read again)
function M.report(r)
  local digest = require "banger.digest"
  if r.img then
    r.image, r.digest, r.platform = r.image or r.img.ref, r.digest or r.img.digest,
      r.platform or r.img.platform
  end
  local f = r.fleet or {}
  -- an image written from a verified artifact has a known sha256: no second pass over it
  local sum, size = f.sha256 or r.sha256, f.size or r.size
  if not sum and (r.provenance or runtime.json) then sum, size = digest.file(r.output) end
  if not size then
    local h = io.open(r.output, "rb")
    size = h and h:seek("end")
    if h then h:close() end
  end
  -- restored from an artifact, nothing was flattened here: the loss report is the build's that
  -- made it, not this run's
  local losses = not r.restored and M.losses:result() or nil
  local result = {
    image = r.image,
    digest = r.digest,
    platform = r.platform,
    output = r.output,
    size = size,
    sha256 = sum,
    agent = r.agent,
    kernel = r.kernel,
    key = f.key,
    cache = f.cache,
    pushed = f.pushed,
    artifact = f.artifact,
    timings = M.timings,
    checks = r.checks,
    losses = losses,
  }
  if r.provenance and not (r.img and sum) then
    raise("report: provenance needs img and a written output")
  end
  -- the files beside the image: all of them, or none
  local written = {}
  local ok, err = pcall(function()
    if r.report then
      save(r.report, M.losses:lines())
      written[#written + 1], result.report = r.report, r.report
    end
    if r.provenance then
      local provenance = require "banger.provenance"
      local path = provenance.path_for(r.output)
      save(path, provenance.encode(provenance.statement {
        output = r.output, sha256 = sum, img = r.img, files = r.files, kernel = r.kernel,
        args = rawget(_G, "args"), started = M.started, internal = { key = f.key },
      }))
      written[#written + 1], result.provenance = path, path
    end
  end)
  if not ok then
    for _, path in ipairs(written) do os.remove(path) end
    error(err, 0)
  end
  if not sum then
    setmetatable(result, { __index = function(t, k)
      if k ~= "sha256" then return nil end
      local later = digest.file(r.output)
      rawset(t, "sha256", later)
      return later
    end })
  end
  runtime.set_result(result)
  if losses then M.info("%s", losses.summary) end
  if not runtime.json then
    M.info("wrote %s (%s) from %s", r.output, sizes.format(size or 0), r.image)
  end
  return result
end

-- The pre-flight checks of banger.run: each finding a warning line; with strict, an error
-- before anything is written; with check, the findings printed and the run ended (status 0 only
-- without findings). Returns what --json reports as `checks`.
local function preflight(img, tree, opts, ctx)
  local findings, facts = timed("check", require("banger.checks").run, tree, ctx)
  local checked = { count = #findings, findings = findings[1] and findings or nil,
    strict = opts.strict or nil, distroless = facts.distroless or nil }
  if facts.distroless and opts.distroless then
    M.info("%s is distroless (no shell, no package manager): built as distroless=1 asks; first " ..
      "boot cannot install sshd", img.ref)
  end
  if opts.check then
    M.losses:take(tree)
    local result = { check = true, image = img.ref, digest = img.digest, platform = img.platform,
      checks = checked, losses = M.losses:result(), timings = M.timings }
    runtime.set_result(result)
    if not runtime.json then
      local out = { string.format("pre-flight checks of %s (%s): %s; nothing written", img.ref,
        img.platform, #findings == 0 and "no findings" or
        string.format("%d finding%s", #findings, #findings == 1 and "" or "s")) }
      for _, f in ipairs(findings) do
        out[#out + 1] = string.format("  %-12s %s", f.check, f.message)
      end
      out[#out + 1] = string.format("  %-12s %s", "losses", result.losses.summary)
      io.stdout:write(table.concat(out, "\n"), "\n")
    end
    if #findings > 0 then
      runtime.exit(1, string.format("%s: %d pre-flight finding%s (check=1)", img.ref, #findings,
        #findings == 1 and "" or "s"))
    end
    return result
  end
  for _, f in ipairs(findings) do M.warn("pre-flight %s: %s", f.check, f.message) end
  if opts.strict and #findings > 0 then
    runtime.set_result { image = img.ref, digest = img.digest, platform = img.platform,
      checks = checked, timings = M.timings }
    raise(string.format("strict=1: %d pre-flight finding%s in %s, so nothing is written (%s)",
      #findings, #findings == 1 and "" or "s", img.ref, findings[1].message))
  end
  return checked
end

---@class banger.RunOpts
---@field image string            the image reference (required)
---@field out? string             output file (default "<name>-<tag>.ext4")
---@field size? string|integer    fixed size; otherwise content-aware
---@field platform? string        (default "linux/amd64")
---@field pull? "missing"|"always"|"never"
---@field insecure? boolean
---@field devices? "skip"|"keep"
---@field xattrs? "drop"|"keep"
---@field headroom? number        content-aware sizing: free space as a fraction of the content
---@field agents? "systemd"|"openrc"|false  the guest's init system (default "systemd"): picks
---                               the default payload and the warnings
---@field payload? banger.guest.Entry[]|false  what is injected (default guest.payload(agents))
---@field dispatch? table         first-boot dispatch table (default banger.distros.default())
---@field plan? boolean           print what the build would do and write nothing
---@field args? table             banger.arguments' values: each one named like an option sets it
---@field expect? string[]        distro ids (ID or ID_LIKE) the recipe is for; others fail early
---@field remap? fun(uid: integer, gid: integer, path: string): integer, integer  ownership policy
---@field edit_tree? fun(tree: userdata, info: banger.distro.Info|nil)  before sizing
---@field edit_image? fun(fs: userdata)  after the image is written, before it is committed
---@field label? string
---@field report? string          a file for every entry of the loss report, as JSON lines
---@field init? string            the init the kernel starts (default /sbin/init), checked
---@field strict? boolean         every pre-flight finding is an error, before anything is written
---@field check? boolean          pull, flatten, check, print the findings; write nothing
---@field distroless? boolean     a distroless image (no shell, no package manager) is no finding
---@field provenance? boolean     write the provenance record beside the image (OUT.intoto.json)
---@field kernel? string          a directory for the image's kernel, initrd and vmlinux/Image
---@field cache? string           "off", "local" (default) or REGISTRY/REPO (banger.fleet)
---@field push? string            REGISTRY/REPO[:TAG]: push the image as an artifact
---@field mirrors? string|table   mirrors of the image's registry (default: the site config's)
---@field inputs? string[]        host files the recipe reads: their contents join the key

local RUN_OPTS = {
  image = 1, out = 1, size = 1, platform = 1, pull = 1, insecure = 1, devices = 1, xattrs = 1,
  headroom = 1, agents = 1, dispatch = 1, expect = 1, remap = 1, edit_tree = 1, edit_image = 1,
  label = 1, payload = 1, plan = 1, args = 1, report = 1, init = 1, strict = 1, check = 1,
  distroless = 1, provenance = 1, kernel = 1, cache = 1, push = 1, mirrors = 1, inputs = 1,
}

--- The whole pipeline in one call: pull, flatten, check the distro, inject the guest side, let
--- the recipe edit the tree, size, build, let the recipe edit the image, report.
---@param opts banger.RunOpts
---@return table result  what --json prints
function M.run(opts)
  opts = args.spread(check_opts(opts, RUN_OPTS, "run"), RUN_OPTS, "run")
  -- a check, like a plan, writes nothing
  if opts.plan or opts.check then runtime.enter_plan() end
  local plan = runtime.mode() == "plan" and not opts.check
  if type(opts.image) ~= "string" or opts.image == "" then
    raise("image= is required, e.g. image=debian:bookworm")
  end
  local distro = require "banger.distro"
  local guest = require "banger.guest"
  local out = opts.out or M.default_out(opts.image)
  -- the key first (manifest and config only): a build done before is restored, not redone
  local mirrors = require("banger.config").mirrors(opts.image, opts.mirrors)
  M.started = M.started or os.time()
  -- a plan and a check write nothing: no restore, no artifact, no push
  local dry = plan or opts.check
  local job = timed("resolve", require("banger.fleet").start, {
    image = opts.image, cache = dry and "off" or opts.cache, push = not dry and opts.push or nil,
    platform = opts.platform,
    pull = opts.pull, insecure = opts.insecure, mirrors = mirrors, inputs = opts.inputs,
    payload = opts.payload, dispatch = opts.dispatch,
    recipe_text = M.recipe_text(), args = rawget(_G, "args"),
  }, M)
  local dispatch = opts.dispatch or require("banger.distros").default()
  -- what goes beside the image is part of the result: without it, no image (nor kernel) either
  local function report(img, r, more)
    local ok, res = pcall(M.report, { img = img, output = out, fleet = r, report = opts.report,
      provenance = opts.provenance, files = more.files, agent = more.agent,
      sha256 = more.sha256, size = more.size,
      kernel = more.kernel, checks = more.checks, restored = more.restored })
    if not ok then
      if more.kernel then require("banger.bootfiles").remove(more.kernel) end
      os.remove(out)
      error(res, 0)
    end
    return res
  end
  -- kernel=DIR and report=FILE need the tree, which a restored image has none of: such a build
  -- is built (and its artifact kept as any other)
  if job.hit and (opts.kernel ~= nil or opts.report ~= nil) then
    M.info("%s: %s reads the image's tree: building instead of restoring", job.key,
      opts.kernel ~= nil and "kernel=" or "report=")
    job.hit, job.cache = nil, "miss"
  elseif job.hit then
    local r = job:restore(out, M.timings)
    if r then
      -- what the payload put in the image, as a build would say it: the same files, the agent
      local files, agent
      if (opts.provenance or runtime.json) and opts.payload ~= false then
        files, agent = guest.files(opts.payload or
          guest.payload(opts.agents == nil and "systemd" or opts.agents or "none"),
          { dispatch = dispatch, platform = job.img.platform })
      end
      return report(job.img, r, { restored = true, files = opts.provenance and files or nil,
        agent = agent })
    end
  end
  local img = M.pull(opts.image, { platform = opts.platform, insecure = opts.insecure,
    pull = opts.pull == "never" and "never" or "missing", mirrors = mirrors,
    digest = job.img.digest })
  if img.digest ~= job.img.digest then
    raise(string.format("%s changed while it was pulled (%s, then %s)", opts.image,
      job.img.digest, img.digest))
  end
  local tree <close> = M.flatten(img, { devices = opts.devices, xattrs = opts.xattrs })

  local info = distro.detect(tree)
  local agents = opts.agents == nil and "systemd" or opts.agents
  if opts.expect and not (info and distro.is(info, opts.expect)) then
    raise(string.format("%s is %s, but this recipe is for %s", opts.image,
      info and ("'" .. info.id .. "'") or "of no known distro (no os-release)",
      table.concat(opts.expect, ", ")))
  end

  if agents ~= "systemd" and agents ~= "openrc" and agents ~= false then
    raise(string.format("run: agents must be \"systemd\", \"openrc\" or false, not %q",
      tostring(agents)))
  end
  local payload = opts.payload
  if payload == nil then payload = guest.payload(agents or "none") end
  local injected, installed
  timed("inject", function()
    if opts.remap then
      tree:remap(opts.remap)
    end
    if payload then
      if plan then
        injected = guest.describe(tree, payload, { dispatch = dispatch, platform = img.platform })
      end
      installed = guest.install(tree, payload, { dispatch = dispatch, platform = img.platform })
    end
    if opts.edit_tree then opts.edit_tree(tree, info) end
  end)

  -- the tree as it would be written, checked for what a VM needs to boot
  local checked = preflight(img, tree, opts, {
    platform = img.platform, init = opts.init, payload = payload, dispatch = dispatch,
    info = info, agents = agents, distroless = opts.distroless,
  })
  if opts.check then return checked end

  -- the kernel is found and checked before anything is written
  local bootfiles = require "banger.bootfiles"
  local boot = opts.kernel ~= nil and
    timed("kernel", bootfiles.prepare, tree, opts.kernel, img.ref, img.platform) or nil

  local size, inodes = M.size(tree, { size = opts.size, headroom = opts.headroom })
  if plan then
    return require("banger.plan").report {
      img = img, tree = tree, info = info, out = out, size = size, inodes = inodes,
      fixed = opts.size ~= nil, injected = injected or {}, dispatch = dispatch,
      payload = payload, edit_tree = opts.edit_tree ~= nil, edit_image = opts.edit_image ~= nil,
      kernel = boot and bootfiles.describe(boot) or nil,
      checks = checked,
    }
  end
  local fs <close> = M.build(tree, {
    out = out, size = size, inodes = inodes, label = opts.label,
    -- the UUID and hash seed come from the key, so equal keys give equal bytes
    seed = job.seed,
  })
  if opts.edit_image then
    -- an edit that raises leaves this scope: <close> drops the unfinished image
    timed("edit", opts.edit_image, fs)
    take_warnings(fs)
  end
  -- the kernel files before the image is committed: a kernel that fails to unpack leaves no
  -- image (and an image that fails to commit takes its kernel files with it)
  local kernel = boot and timed("kernel", bootfiles.write, boot) or nil
  -- the sha256 the report needs is taken while the image is synced, not in a pass after; the
  -- tree (its spool's pages) is freed meanwhile, nothing reads it after the build
  local ok, err, size = timed("write", fs.close, fs, {
    sha256 = opts.provenance or runtime.json or job:stores(),
    meanwhile = function() tree:close() end,
  })
  if not ok then
    if kernel then bootfiles.remove(kernel) end
    raise(string.format("writing %s: %s", out, err))
  end
  local res = report(img, job:finish(out, M.timings, err), {
    files = installed and installed.files, agent = installed and installed.agent,
    kernel = kernel, checks = checked, sha256 = err, size = size,
  })
  if kernel then
    local files = { kernel.kernel.path }
    if kernel.initrd then files[#files + 1] = kernel.initrd.path end
    files[#files + 1] = kernel.unpacked.path
    M.info("kernel %s from %s: wrote %s", kernel.kernel.release or "?", kernel.kernel.source,
      table.concat(files, ", "))
    if not kernel.initrd then
      M.warn("%s has no initrd for %s: %s holds the kernel only", img.ref, kernel.kernel.source,
        opts.kernel)
    end
  end
  return res
end

return M
