--- What goes into the guest: files owned by root, systemd units and their wants symlinks, OpenRC
--- services, the mount points a root filesystem needs to boot, and the banger guest agents.
---@class banger.guest
local M = {}

local runtime = require "banger.runtime"
local raise = require("banger.errors").raise

--- Where the default recipe puts things (see docs/recipes.md).
M.PATHS = {
  agent = "/usr/local/bin/banger-vsock-agent",
  network = "/usr/local/libexec/banger-network-bootstrap",
  first_boot = "/usr/local/libexec/banger-first-boot",
  marker = "/var/lib/banger/first-boot-pending",
  modules = "/etc/modules-load.d/banger-vsock.conf",
  units = "/etc/systemd/system",
  initd = "/etc/init.d",
}

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
---@field mode? integer  (default 0644)
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
    mode = opts.mode or 420, uid = opts.uid or 0, gid = opts.gid or 0, from = opts.from,
    mtime = M.now(),
  }))
end

--- Makes a directory (and missing parents) 0755 root:root unless told otherwise; an existing
--- directory keeps its owner and mode.
---@param tree userdata
---@param path string
---@param opts? {mode?: integer, uid?: integer, gid?: integer}
function M.dir(tree, path, opts)
  opts = opts or {}
  local st = tree:stat(path, { follow = true })
  if st and st.type == "dir" then return end
  must("creating " .. path, tree:mkdir(path, {
    mode = opts.mode or 493, uid = opts.uid or 0, gid = opts.gid or 0, mtime = M.now(),
  }))
end

--- A symlink owned root:root (mode 0777), replacing whatever was at path.
---@param tree userdata
---@param path string
---@param target string
function M.symlink(tree, path, target)
  must("linking " .. path, tree:symlink(path, target, { mode = 511, mtime = M.now() }))
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

--- Creates the mount points a guest needs to boot when the image lacks them: /dev, /proc, /sys,
--- /run (0755) and /tmp (1777). A root without /dev stops in the initramfs.
---@param tree userdata
function M.mountpoints(tree)
  for _, d in ipairs { "/dev", "/proc", "/sys", "/run" } do M.dir(tree, d) end
  M.dir(tree, "/tmp", { mode = 1023 })
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

---@class banger.guest.AgentOpts
---@field dispatch table   the first-boot dispatch table (banger.distros.default() or a copy)
---@field platform? string the image's platform: which agent to inject (default "linux/amd64")
---@field agent? string    a host file to inject as the agent (checked against the platform)

local SERVICES = { "banger-network", "banger-vsock-agent", "banger-first-boot" }

-- What every init system gets: the agent, both scripts, the modules-load file, the marker.
local function common(tree, opts, fname)
  if type(opts) ~= "table" or type(opts.dispatch) ~= "table" then
    raise(fname .. ": opts.dispatch (a first-boot dispatch table) is required")
  end
  local P = M.PATHS
  local agent = M.agent(opts.platform, opts.agent)
  M.file(tree, P.agent, agent.bytes, { mode = 493, from = agent.from })
  M.file(tree, P.network, M.asset("banger-network-bootstrap.sh"), { mode = 493 })
  M.file(tree, P.first_boot, require("banger.firstboot").render(opts.dispatch), { mode = 493 })
  M.file(tree, P.modules, M.asset("banger-vsock.conf"))
  M.file(tree, P.marker, "")
  return { path = P.agent, arch = agent.arch, machine = agent.machine, sha256 = agent.sha256,
    source = agent.source }
end

--- The guest side of the default recipe on a systemd guest: the vsock agent, the network
--- bootstrap, the vsock modules-load file, the first-boot script rendered from the dispatch
--- table and its marker, the three units and their wants symlinks. All root:root.
---@param tree userdata
---@param opts banger.guest.AgentOpts
---@return table agent  path, arch, machine, sha256 and source of the injected agent
function M.systemd_agents(tree, opts)
  local agent = common(tree, opts, "systemd_agents")
  for _, name in ipairs(SERVICES) do
    M.file(tree, M.PATHS.units .. "/" .. name .. ".service", M.asset(name .. ".service"))
    M.systemd_enable(tree, name .. ".service")
  end
  return agent
end

--- The same on an OpenRC guest (Alpine): /etc/init.d services enabled in the default runlevel
--- instead of units (OpenRC's modules service reads the modules-load file too).
---@param tree userdata
---@param opts banger.guest.AgentOpts
---@return table agent
function M.openrc_agents(tree, opts)
  local agent = common(tree, opts, "openrc_agents")
  for _, name in ipairs(SERVICES) do
    M.file(tree, M.PATHS.initd .. "/" .. name, M.asset(name .. ".initd"), { mode = 493 })
    M.openrc_enable(tree, name)
  end
  return agent
end

return M
