--- What goes into the guest, as data: the payload is a list of plain entries, one per path the
--- build adds, which a recipe can print, edit and hand to `banger.run { payload = ... }`:
---
---   { path = "/usr/local/bin/banger-vsock-agent", kind = "file", mode = "0755", owner = "0:0",
---     source = "agent" }
---   { path = "/etc/systemd/system/multi-user.target.wants/banger-network.service",
---     kind = "symlink", target = "/etc/systemd/system/banger-network.service" }
---
--- Also the helpers that put single files, directories and links into a tree, owned by root.
---@class banger.guest
local M = {}

local runtime = require "banger.runtime"
local raise = require("banger.errors").raise

--- Where the default payload puts things (see docs/guest.md).
M.PATHS = {
  agent = "/usr/local/bin/banger-vsock-agent",
  network = "/usr/local/libexec/banger-network-bootstrap",
  first_boot = "/usr/local/libexec/banger-first-boot",
  marker = "/var/lib/banger/first-boot-pending",
  modules = "/etc/modules-load.d/banger-vsock.conf",
  units = "/etc/systemd/system",
  initd = "/etc/init.d",
}

---@class banger.guest.Entry
---@field path string      where in the guest (absolute)
---@field kind "file"|"dir"|"symlink"
---@field mode? string     octal digits: "0755"; required for files and directories
---@field owner? string    "UID:GID", numeric (default "0:0")
---@field source? string   a file's bytes: "agent" (the banger-vsock-agent binary),
---                        "asset:NAME" (compiled into banger-build from assets/), "first-boot"
---                        (the script rendered from the dispatch table), "file:PATH" (a host
---                        file; a relative PATH is beside the recipe)
---@field content? string  a file's bytes, instead of source
---@field target? string   a symlink's target

--- The mount points a guest needs to boot: a directory the payload makes at one of these paths
--- is reported as `mountpoint_created` in the loss report.
M.MOUNTPOINTS = { "/dev", "/proc", "/sys", "/run", "/tmp" }
local IS_MOUNTPOINT = {}
for _, p in ipairs(M.MOUNTPOINTS) do IS_MOUNTPOINT[p] = true end

-- The default payload, by part. Each call returns fresh tables.
local function mount_points()
  return {
    { path = "/dev", kind = "dir", mode = "0755", owner = "0:0" },
    { path = "/proc", kind = "dir", mode = "0755", owner = "0:0" },
    { path = "/sys", kind = "dir", mode = "0755", owner = "0:0" },
    { path = "/run", kind = "dir", mode = "0755", owner = "0:0" },
    { path = "/tmp", kind = "dir", mode = "1777", owner = "0:0" },
  }
end

local function agents()
  return {
    { path = "/usr/local/bin/banger-vsock-agent", kind = "file", mode = "0755", owner = "0:0",
      source = "agent" },
    { path = "/usr/local/libexec/banger-network-bootstrap", kind = "file", mode = "0755",
      owner = "0:0", source = "asset:banger-network-bootstrap.sh" },
    { path = "/usr/local/libexec/banger-first-boot", kind = "file", mode = "0755", owner = "0:0",
      source = "first-boot" },
    { path = "/etc/modules-load.d/banger-vsock.conf", kind = "file", mode = "0644",
      owner = "0:0", source = "asset:banger-vsock.conf" },
    { path = "/var/lib/banger/first-boot-pending", kind = "file", mode = "0644", owner = "0:0",
      content = "" },
  }
end

local SERVICES = { "banger-network", "banger-vsock-agent", "banger-first-boot" }

local function services(init)
  local out = {}
  for _, name in ipairs(SERVICES) do
    if init == "systemd" then
      local unit = M.PATHS.units .. "/" .. name .. ".service"
      out[#out + 1] = { path = unit, kind = "file", mode = "0644", owner = "0:0",
        source = "asset:" .. name .. ".service" }
      out[#out + 1] = { path = M.PATHS.units .. "/multi-user.target.wants/" .. name .. ".service",
        kind = "symlink", target = unit }
    else
      local script = M.PATHS.initd .. "/" .. name
      out[#out + 1] = { path = script, kind = "file", mode = "0755", owner = "0:0",
        source = "asset:" .. name .. ".initd" }
      out[#out + 1] = { path = "/etc/runlevels/default/" .. name, kind = "symlink",
        target = script }
    end
  end
  return out
end

--- The default payload for a guest's init system: the mount points a root needs to boot, the
--- vsock agent, the network bootstrap, the first-boot script and its marker, the vsock
--- modules-load file, and the three services with their enable links: systemd units in
--- /etc/systemd/system enabled from multi-user.target.wants, or OpenRC scripts in /etc/init.d
--- enabled in the default runlevel. "none": the mount points only. A fresh list each call.
---@param init? "systemd"|"openrc"|"none"  (default "systemd")
---@return banger.guest.Entry[]
function M.payload(init)
  init = init or "systemd"
  if init ~= "systemd" and init ~= "openrc" and init ~= "none" then
    raise(string.format("payload: init must be \"systemd\", \"openrc\" or \"none\", not %s",
      tostring(init)))
  end
  local out = mount_points()
  if init == "none" then return out end
  for _, part in ipairs { agents(), services(init) } do
    for _, e in ipairs(part) do out[#out + 1] = e end
  end
  return out
end

--- The entry of a payload for a path, and its index; nil when there is none.
---@param payload banger.guest.Entry[]
---@param path string
---@return banger.guest.Entry|nil, integer|nil
function M.find(payload, path)
  for i, e in ipairs(payload) do
    if e.path == path then return e, i end
  end
end

--- Removes the entries whose path matches a Lua pattern (anchored); returns how many went.
---@param payload banger.guest.Entry[]
---@param pattern string  e.g. "/etc/systemd/system/.*banger%-network%.service"
---@return integer
function M.drop(payload, pattern)
  local n = 0
  for i = #payload, 1, -1 do
    if payload[i].path:match("^" .. pattern .. "$") then
      table.remove(payload, i)
      n = n + 1
    end
  end
  return n
end

--- A mode written as a string of octal digits ("0755", "644", "1777") as a number. Numbers are
--- refused: 755 would be read as decimal (01363), and 493 says nothing to a reader.
---@param v string
---@param where? string  named in the error
---@return integer
function M.mode(v, where)
  where = where or "mode"
  if type(v) == "string" and v:match("^[0-7]+$") and #v <= 5 then
    local n = tonumber(v, 8)
    if n <= 4095 then return n end
  end
  if math.type(v) == "integer" then
    if tostring(v):match("^[0-7]+$") and v <= 7777 then
      raise(string.format("%s: mode %d is ambiguous: write a string of octal digits, \"%04d\" " ..
        "(read as chmod reads it) or \"%04o\" (the number %d)", where, v, v, v & 4095, v))
    end
    raise(string.format("%s: write the mode as a string of octal digits, \"%04o\", not %d",
      where, v & 4095, v))
  end
  raise(string.format("%s: expected a string of octal digits such as \"0755\", got %s", where,
    type(v) == "string" and string.format("%q", v) or type(v)))
end

local function owner_of(s, where)
  if s == nil then return 0, 0 end
  local uid, gid
  if type(s) == "string" then uid, gid = s:match("^(%d+):(%d+)$") end
  uid, gid = math.tointeger(tonumber(uid)), math.tointeger(tonumber(gid))
  if not uid or not gid or uid > 0xffffffff or gid > 0xffffffff then
    raise(string.format("%s: expected \"UID:GID\" with numeric ids, got %s", where,
      type(s) == "string" and string.format("%q", s) or type(s)))
  end
  return uid, gid
end

--- The time stamped on injected files: SOURCE_DATE_EPOCH when set, so builds are reproducible.
---@return integer
function M.now()
  local sde = os.getenv("SOURCE_DATE_EPOCH")
  if sde and sde:match("^%d+$") then return math.tointeger(tonumber(sde)) end
  return os.time()
end

local function must(what, ok, err)
  if not ok then raise(string.format("%s: %s", what, err)) end
  return ok
end

---@class banger.guest.FileOpts
---@field mode? string   octal digits (default "0644")
---@field uid? integer   (default 0)
---@field gid? integer   (default 0)
---@field from? string   a host file to copy instead of bytes

--- Puts a file into the tree, owned root:root unless told otherwise. Missing directories on the
--- way are created 0755 root:root; directories that exist keep their owners and modes.
---@param tree userdata
---@param path string
---@param bytes? string
---@param opts? banger.guest.FileOpts
function M.file(tree, path, bytes, opts)
  opts = opts or {}
  must("injecting " .. path, tree:write(path, bytes, {
    mode = M.mode(opts.mode or "0644", path), uid = opts.uid or 0, gid = opts.gid or 0,
    from = opts.from, mtime = M.now(),
  }))
end

--- Makes a directory (and missing parents) 0755 root:root unless told otherwise; an existing
--- directory keeps its owner and mode.
---@param tree userdata
---@param path string
---@param opts? {mode?: string, uid?: integer, gid?: integer}
---@return boolean made  false when the directory was there
function M.dir(tree, path, opts)
  opts = opts or {}
  local mode = M.mode(opts.mode or "0755", path)
  local st = tree:stat(path, { follow = true })
  if st and st.type == "dir" then return false end
  must("creating " .. path, tree:mkdir(path, {
    mode = mode, uid = opts.uid or 0, gid = opts.gid or 0, mtime = M.now(),
  }))
  return true
end

--- A symlink (mode 0777, root:root unless told otherwise), replacing whatever was at path.
---@param tree userdata
---@param path string
---@param target string
---@param opts? {uid?: integer, gid?: integer}
function M.symlink(tree, path, target, opts)
  opts = opts or {}
  must("linking " .. path, tree:symlink(path, target, {
    mode = 511, uid = opts.uid or 0, gid = opts.gid or 0, mtime = M.now(),
  }))
end

--- Enables a systemd unit the way `systemctl enable` does: a symlink in
--- /etc/systemd/system/<target>.wants/ pointing at the unit file.
---@param tree userdata
---@param unit string  "banger-network.service"
---@param target? string  (default "multi-user.target")
function M.systemd_enable(tree, unit, target)
  target = target or "multi-user.target"
  M.symlink(tree, string.format("%s/%s.wants/%s", M.PATHS.units, target, unit),
    M.PATHS.units .. "/" .. unit)
end

--- Enables an OpenRC service: a symlink in /etc/runlevels/<runlevel>/ to /etc/init.d/<name>.
---@param tree userdata
---@param name string
---@param runlevel? string  (default "default")
function M.openrc_enable(tree, name, runlevel)
  runlevel = runlevel or "default"
  M.symlink(tree, string.format("/etc/runlevels/%s/%s", runlevel, name),
    M.PATHS.initd .. "/" .. name)
end

--- The bytes of an asset compiled into banger-build (assets/ in the source tree).
---@param name string
---@return string
function M.asset(name)
  return must("asset " .. name, runtime.asset(name))
end

local AGENT_ASSET = "^agents/banger%-vsock%-agent%."

---@class banger.guest.Agent
---@field arch string      the OCI architecture it runs ("arm64")
---@field machine string   its ELF machine as file(1) names it ("aarch64")
---@field sha256 string
---@field source string    the compiled-in asset ("agents/banger-vsock-agent.arm64") or a host file
---@field bytes? string    the binary, when compiled in
---@field from? string     the host file, when given

--- The banger-vsock-agent for a platform: of the agents compiled into banger-build, the one
--- whose ELF machine runs the platform's architecture; or the host file `path`, checked the same
--- way. A platform no agent runs is an error naming the platforms there are agents for.
---@param platform? string  "linux/amd64" (default), "linux/arm64/v8", ...
---@param path? string      a host file to inject instead of the compiled-in agent
---@return banger.guest.Agent
function M.agent(platform, path)
  platform = platform or "linux/amd64"
  local arch = type(platform) == "string" and platform:match("^[^/]+/([^/]+)")
  if not arch then raise(string.format("agent: bad platform %q", tostring(platform))) end
  local elf, digest = require "banger.elf", require "banger.digest"
  if path then
    local f, err = io.open(path, "rb")
    if not f then raise("agent: " .. err) end
    local head = f:read(64) or ""
    f:close()
    local info, ierr = elf.identify(head)
    if not info then raise(string.format("agent %s: %s", path, ierr)) end
    if info.arch ~= arch then
      raise(string.format("agent %s runs on %s, but the image is %s", path,
        info.arch and ("linux/" .. info.arch) or (info.machine_name or "an unknown machine"),
        platform))
    end
    return { from = path, arch = arch, machine = info.machine_name, source = path,
      sha256 = must("agent " .. path, digest.file(path)) }
  end
  local have = {}
  for _, name in ipairs(runtime.assets()) do
    if name:match(AGENT_ASSET) then
      local bytes = M.asset(name)
      local info = elf.identify(bytes)
      if info and info.arch == arch then
        return { bytes = bytes, arch = arch, machine = info.machine_name, source = name,
          sha256 = digest.sha256(bytes) }
      end
      have[#have + 1] = "linux/" .. (info and info.arch or "?")
    end
  end
  raise(string.format("no banger-vsock-agent for %s: this banger-build has agents for %s only "
    .. "(BANGER_AGENT_ARCHES when it is built)", platform,
    #have > 0 and table.concat(have, ", ") or "no platform"))
end

local FIELDS = { path = 1, kind = 1, mode = 1, owner = 1, source = 1, content = 1, target = 1 }
local KIND_FIELDS = {
  file = { mode = true },
  dir = { mode = true },
  symlink = { target = true },
}

--- Checks a payload; raises "payload[3].mode: ..." naming the first problem.
---@param payload banger.guest.Entry[]
function M.validate(payload)
  if type(payload) ~= "table" then
    raise("payload: expected a list of entries, got " .. type(payload))
  end
  local seen = {}
  for k in pairs(payload) do
    if math.type(k) ~= "integer" or k < 1 or k > #payload then
      raise(string.format("payload: unexpected key %s (expected a list of entries)", tostring(k)))
    end
  end
  for i, e in ipairs(payload) do
    local where = string.format("payload[%d]", i)
    if type(e) ~= "table" then
      raise(string.format("%s: expected a table, got %s", where, type(e)))
    end
    for k in pairs(e) do
      if not FIELDS[k] then
        raise(string.format("%s: unknown field %s (expected path, kind, mode, owner, source, " ..
          "content, target)", where, tostring(k)))
      end
    end
    if type(e.path) ~= "string" or e.path:sub(1, 1) ~= "/" then
      raise(where .. ".path: expected an absolute path in the guest")
    end
    where = string.format("%s (%s)", where, e.path)
    if seen[e.path] then
      raise(string.format("%s: the path is also payload[%d]", where, seen[e.path]))
    end
    seen[e.path] = i
    local need = KIND_FIELDS[e.kind]
    if not need then
      raise(string.format("%s.kind: expected \"file\", \"dir\" or \"symlink\", got %s", where,
        tostring(e.kind)))
    end
    for field in pairs(need) do
      if e[field] == nil then raise(string.format("%s: a %s needs %s", where, e.kind, field)) end
    end
    if e.mode ~= nil then M.mode(e.mode, where .. ".mode") end
    owner_of(e.owner, where .. ".owner")
    if e.kind == "file" then
      if (e.source == nil) == (e.content == nil) then
        raise(where .. ": a file needs source or content (one of them)")
      end
      if e.content ~= nil and type(e.content) ~= "string" then
        raise(where .. ".content: expected a string")
      end
      if e.source ~= nil and not (e.source == "agent" or e.source == "first-boot" or
          (type(e.source) == "string" and e.source:match("^asset:.") or
            type(e.source) == "string" and e.source:match("^file:."))) then
        raise(string.format("%s.source: expected \"agent\", \"first-boot\", \"asset:NAME\" or " ..
          "\"file:PATH\", got %s", where, tostring(e.source)))
      end
    else
      for _, f in ipairs { "source", "content" } do
        if e[f] ~= nil then raise(string.format("%s: a %s has no %s", where, e.kind, f)) end
      end
      if e.kind == "dir" and e.target ~= nil then raise(where .. ": a dir has no target") end
      if e.kind == "symlink" and (type(e.target) ~= "string" or e.target == "") then
        raise(where .. ".target: expected a string")
      end
      if e.kind == "symlink" and e.mode ~= nil and M.mode(e.mode, where) ~= 511 then
        raise(where .. ".mode: a symlink's mode is \"0777\"")
      end
    end
  end
end

---@class banger.guest.InstallOpts
---@field dispatch? table  the first-boot dispatch table, for source = "first-boot"
---@field platform? string the image's platform: which compiled-in agent source = "agent" is
---                        (default "linux/amd64")
---@field agent? string    a host file to inject as the agent instead (checked against platform)
---@field base? string     the directory relative file: sources are in (default: the recipe's)

local function recipe_dir()
  return runtime.recipe and runtime.recipe:match("^(.*)/[^/]*$") or "."
end

-- A file entry's bytes, or nil and the host file they come from; for the agent, also which one.
local function source_of(e, opts)
  if e.content then return e.content end
  local src = e.source
  if src == "agent" then
    local a = M.agent(opts.platform, opts.agent)
    return a.bytes, a.from, a
  end
  if src == "first-boot" then
    if type(opts.dispatch) ~= "table" then
      raise(e.path .. ": source \"first-boot\" needs a dispatch table (banger.distros.default())")
    end
    return require("banger.firstboot").render(opts.dispatch)
  end
  local asset = src:match("^asset:(.*)$")
  if asset then return M.asset(asset) end
  local host = src:match("^file:(.*)$")
  if host:sub(1, 1) ~= "/" then host = (opts.base or recipe_dir()) .. "/" .. host end
  return nil, host
end

-- A file entry's digest as the provenance record names it: {path, source, sha256}.
local function file_row(e, bytes, from, agent)
  local digest = require "banger.digest"
  return { path = e.path, source = e.source or "content", sha256 = agent and agent.sha256 or
    from and must("digest of " .. from, digest.file(from)) or digest.sha256(bytes) }
end

-- The agent row of --json: {path, arch, machine, sha256, source}.
local function agent_row(e, agent)
  return { path = e.path, arch = agent.arch, machine = agent.machine, sha256 = agent.sha256,
    source = agent.source }
end

--- What the payload's file entries hold, without a tree: {path, source, sha256} each, in order
--- (what `install` returns as `files`; for an image restored from an artifact), and the agent
--- as `install` gives it, when the payload has one.
---@param payload banger.guest.Entry[]
---@param opts? banger.guest.InstallOpts
---@return {path: string, source: string, sha256: string}[] files
---@return table? agent
function M.files(payload, opts)
  opts = opts or {}
  M.validate(payload)
  local rows, found = {}, nil
  for _, e in ipairs(payload) do
    if e.kind == "file" then
      local bytes, from, agent = source_of(e, opts)
      if agent then found = agent_row(e, agent) end
      rows[#rows + 1] = file_row(e, bytes, from, agent)
    end
  end
  return rows, found
end

--- Puts every entry of a payload into the tree, in order (validated first): files and symlinks
--- replace what the image has at their path, directories that exist are kept as they are.
--- Returns what was installed: `files`, each file's path, source (its `source`, or "content")
--- and sha256, for the provenance record; `agent`, when the payload has one, for --json.
---@param tree userdata
---@param payload banger.guest.Entry[]
---@param opts? banger.guest.InstallOpts
---@return {files: table[], agent?: table}  {path, source, sha256} each; {path, arch, machine,
---                                          sha256, source}
function M.install(tree, payload, opts)
  opts = opts or {}
  M.validate(payload)
  local done = { files = {} }
  for _, e in ipairs(payload) do
    local uid, gid = owner_of(e.owner, e.path)
    if e.kind == "dir" then
      local was = tree:stat(e.path)
      if M.dir(tree, e.path, { mode = e.mode, uid = uid, gid = gid }) and IS_MOUNTPOINT[e.path]
      then
        tree:note("mountpoint_created", e.path, string.format("made %s %d:%d%s: the guest " ..
          "mounts a filesystem here", e.mode, uid, gid, was and (", replacing the layers' " ..
          was.type) or ""))
      end
    else
      -- what the layers had at the path gives way: the loss report says so
      local was = tree:stat(e.path)
      if e.kind == "symlink" then
        M.symlink(tree, e.path, e.target, { uid = uid, gid = gid })
      else
        local bytes, from, agent = source_of(e, opts)
        M.file(tree, e.path, bytes, { mode = e.mode, uid = uid, gid = gid, from = from })
        if agent then done.agent = agent_row(e, agent) end
        done.files[#done.files + 1] = file_row(e, bytes, from, agent)
      end
      if was then
        tree:note("replaced", e.path, string.format("the layers' %s, replaced by the payload's %s",
          was.type, e.kind))
      end
    end
  end
  return done
end

--- What installing the payload into this tree would do, one row per entry:
--- `{kind, mode, owner, path, what}`, `what` saying where the bytes come from or what happens
--- ("created", "kept: the image has it", "-> target").
---@param tree userdata
---@param payload banger.guest.Entry[]
---@param opts? banger.guest.InstallOpts
---@return table[]
function M.describe(tree, payload, opts)
  opts = opts or {}
  M.validate(payload)
  local rows = {}
  for _, e in ipairs(payload) do
    local st = tree:stat(e.path, { follow = e.kind == "dir" })
    local what
    if e.kind == "dir" then
      what = st and st.type == "dir" and "kept: the image has it" or "created"
    elseif e.kind == "symlink" then
      what = "-> " .. e.target
    else
      local bytes, from, agent = source_of(e, opts)
      if agent then
        what = string.format("agent %s (%s)", agent.source, agent.machine)
      elseif from then
        what = from
      elseif e.content then
        what = #bytes == 0 and "empty" or string.format("%d bytes", #bytes)
      else
        what = string.format("%s (%d bytes)", e.source, #bytes)
      end
      if st then what = what .. ", replacing the image's " .. st.type end
    end
    rows[#rows + 1] = {
      kind = e.kind, path = e.path, owner = e.owner or "0:0", what = what,
      mode = e.kind == "symlink" and "0777" or string.format("%04o", M.mode(e.mode)),
    }
  end
  return rows
end

--- Creates the mount points a guest needs to boot when the image lacks them: /dev, /proc, /sys,
--- /run (0755) and /tmp (1777), the first entries of every default payload.
---@param tree userdata
function M.mountpoints(tree)
  M.install(tree, mount_points())
end

return M
