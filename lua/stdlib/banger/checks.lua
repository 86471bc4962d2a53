--- Pre-flight bootability checks: what a VM needs of the merged tree to boot, checked before
--- anything is written. Each finding is one line for people; `banger.run` prints them as
--- warnings, refuses the build with `strict = true`, and with `check = true` prints them and
--- writes nothing.
---
---   local findings, facts = checks.run(tree, { platform = "linux/amd64", payload = payload,
---     dispatch = dispatch, info = distro.detect(tree), agents = "systemd" })
---   -- findings: { {check = "init", path = "/sbin/init", message = "..."}, ... }
---@class banger.checks
local M = {}

local guest = require "banger.guest"
-- what an image says (link targets, interpreters) is shown with its odd bytes as \xNN
local shown = require("banger.errors").shown

--- Where the first-boot script and the network bootstrap look for commands (a usual PATH).
M.PATH = { "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin" }

--- Package managers: an image with none of them and no shell is distroless.
M.MANAGERS = { "apt-get", "dpkg", "apk", "dnf", "microdnf", "yum", "rpm", "tdnf", "pacman",
  "zypper", "emerge", "xbps-install", "opkg" }

--- The init the kernel starts when its command line names none.
M.INIT = "/sbin/init"

-- Symlinks followed to show where a path leads, and scripts' interpreters followed, at most.
local HOPS = 40
local INTERPRETERS = 4
-- Bytes of a file read for its headers: the ELF header, its program headers and PT_INTERP's
-- string lie in the first pages of any binary a linker writes.
local HEAD = 64 * 1024

---@class banger.checks.Finding
---@field check string    "init", "shell", "os-release", "first-boot", "distroless", "services",
---                       "mountpoints", "agent"
---@field path? string    the path in the image it is about
---@field message string  one line: what is wrong and what it breaks

-- A path with "." and ".." resolved textually ("..", at the root, stays there), or nil when it
-- is no path the tree can hold (a component over 255 bytes, over 4095 in all): names a layer
-- wrote into a link or a header are untrusted.
local function clean(path)
  local parts = {}
  for c in path:gmatch("[^/]+") do
    if #c > 255 then return nil end
    if c == ".." then
      parts[#parts] = nil
    elseif c ~= "." then
      parts[#parts + 1] = c
    end
  end
  local out = "/" .. table.concat(parts, "/")
  if #out > 4095 or out:find("\0", 1, true) then return nil end
  return out
end

--- Where a path leads through symlinks, as " -> target -> target" (the targets as the links say
--- them), for messages; "" when it is no symlink.
---@param tree userdata
---@param path string
---@return string
function M.chain(tree, path)
  local out, p = {}, clean(path)
  for _ = 1, HOPS do
    local st = p and tree:stat(p)
    if not st or st.type ~= "symlink" then break end
    out[#out + 1] = shown(st.target)
    p = clean(st.target:sub(1, 1) == "/" and st.target or (p:match("^(.*)/[^/]*$") .. "/" ..
      st.target))
  end
  if #out == 0 then return "" end
  return " -> " .. table.concat(out, " -> ")
end

local function arch_of(platform)
  return type(platform) == "string" and platform:match("^[^/]+/([^/]+)") or nil
end

-- Why the kernel could not run path as a program in a VM of this architecture, or nil; also the
-- facts found ({elf = info, interp = path, script = interpreter}). depth counts interpreters;
-- loader: path is a dynamic ELF's interpreter, which the kernel maps as an ELF and follows no
-- further (its own PT_INTERP, if any, is not read).
local function runnable(tree, path, platform, depth, loader)
  local arch = arch_of(platform)
  local via = M.chain(tree, path)
  local name = shown(path) .. via
  local st, err, code = tree:stat(path, { follow = true })
  if not st then
    if code ~= "notfound" then return string.format("%s: %s", name, shown(err)) end
    if via ~= "" then return string.format("%s: the link leads nowhere in the image", name) end
    return string.format("%s: not in the image", name)
  end
  if st.type ~= "file" then
    return string.format("%s: a %s, not a file the kernel can run", name,
      st.type == "dir" and "directory" or st.type)
  end
  if st.mode & 73 == 0 then
    return string.format("%s: mode %04o, not executable", name, st.mode)
  end
  local head, herr = tree:head(path, HEAD)
  if not head then return string.format("%s: %s", name, shown(herr)) end
  local facts = {}
  if head:sub(1, 2) == "#!" and not loader then
    local line = head:match("^#!([^\n]*)") or ""
    local interp = line:match("^[ \t]*([^ \t]+)")
    if not interp then return string.format("%s: a script that names no interpreter", name) end
    facts.script = interp
    if interp:sub(1, 1) ~= "/" then
      return string.format("%s: its interpreter %s is not an absolute path", name,
        shown(interp))
    end
    if depth >= INTERPRETERS then
      return string.format("%s: interpreters nested deeper than the kernel follows", name)
    end
    local ipath = clean(interp)
    if not ipath then
      return string.format("%s: its interpreter is no path an image can hold", name)
    end
    local why = runnable(tree, ipath, platform, depth + 1)
    if why then return string.format("%s: its interpreter %s", name, why) end
    return nil, facts
  end
  if head:sub(1, 4) ~= "\127ELF" then
    if loader then return string.format("%s: not an ELF binary, as a loader must be", name) end
    return string.format("%s: neither an ELF binary nor a script (#!)", name)
  end
  local elf = require "banger.elf"
  local info, ierr = elf.identify(head)
  if not info then return string.format("%s: %s", name, ierr) end
  facts.elf = info
  if arch and info.arch ~= arch then
    return string.format("%s: an ELF for %s, but the image is for %s: the kernel of its VM " ..
      "cannot run it", name, info.machine_name or ("machine " .. info.machine), platform)
  end
  if loader then return nil, facts end
  local interp, perr = elf.interp(head)
  if interp == nil then return string.format("%s: %s", name, perr) end
  if interp then
    facts.interp = interp
    if interp:sub(1, 1) ~= "/" then
      return string.format("%s: its ELF interpreter %s is not an absolute path", name,
        shown(interp))
    end
    local ipath = clean(interp)
    if not ipath then
      return string.format("%s: its ELF interpreter is no path an image can hold", name)
    end
    local why = runnable(tree, ipath, platform, depth, true)
    if why then
      return string.format("%s: a dynamic ELF whose interpreter %s", name, why)
    end
  end
  return nil, facts
end

--- Why the kernel could not run path in a VM for platform (nil when it can): a regular,
--- executable file through symlinks inside the tree; an ELF for the platform's architecture
--- whose interpreter (a dynamic one's) is in the image and runs too; or a script whose
--- interpreter does.
---@param tree userdata
---@param path string
---@param platform string  "linux/amd64", "linux/arm64/v8", ...
---@return string|nil problem
---@return table|nil facts  {elf = banger.elf.Info, interp = path} or {script = interpreter}
function M.runnable(tree, path, platform)
  local p = type(path) == "string" and path:sub(1, 1) == "/" and clean(path)
  if not p then return string.format("%s: not an absolute path in the image", tostring(path)) end
  return runnable(tree, p, platform, 0)
end

-- The first of names found as a command in the image's PATH, and where.
local function command(tree, names)
  for _, name in ipairs(names) do
    for _, dir in ipairs(M.PATH) do
      local st = tree:stat(dir .. "/" .. name, { follow = true })
      if st and st.type == "file" and st.mode & 73 ~= 0 then return name, dir .. "/" .. name end
    end
  end
end
M.command = command

local function payload_has(payload, fn)
  for _, e in ipairs(payload or {}) do
    if fn(e) then return e end
  end
end

-- The first-boot check: the branch the image's os-release selects needs its package manager.
local function first_boot_branch(tree, ctx, add)
  local firstboot = require "banger.firstboot"
  local dispatch = ctx.dispatch or require("banger.distros").default()
  local choice = firstboot.select(dispatch, ctx.info)
  if not choice then
    add("first-boot", nil, "first boot has no branch for '%s' (os-release ID and ID_LIKE) and " ..
      "the image has no sshd: add an entry to the recipe's dispatch table", ctx.info.id)
    return
  end
  local managers = {}
  for _, i in ipairs { choice.index, table.unpack(choice.fallbacks) } do
    local m = dispatch[i].manager
    if not m or command(tree, { m }) then return end
    managers[#managers + 1] = m
  end
  add("first-boot", nil, "first boot takes the '%s' branch for '%s', but the image has no %s " ..
    "and no sshd: first boot will fail", choice.branch, choice.word,
    table.concat(managers, " or "))
end

---@class banger.checks.Context
---@field platform string        the image's platform
---@field init? string           the init the kernel starts (default "/sbin/init")
---@field payload? table|false   what was injected (banger.guest entries)
---@field dispatch? table        the first-boot dispatch table
---@field info? banger.distro.Info|nil  the image's os-release (banger.distro.detect)
---@field agents? "systemd"|"openrc"|false  the services injected
---@field distroless? boolean    a distroless image is expected: not a finding

---@class banger.checks.Facts
---@field distroless boolean     no shell and no package manager
---@field init? table            what the init is (runnable's facts)

--- Every check on the tree as it would be written. Returns the findings, in the order below,
--- and what was found out on the way.
---@param tree userdata
---@param ctx banger.checks.Context
---@return banger.checks.Finding[] findings
---@return banger.checks.Facts facts
function M.run(tree, ctx)
  local findings, facts = {}, {}
  local function add(check, path, fmt, ...)
    findings[#findings + 1] = { check = check, path = path, message = string.format(fmt, ...) }
  end
  local payload = ctx.payload or {}

  -- the init: what the kernel runs first; without it the boot stops in the initramfs
  local init = ctx.init or M.INIT
  local why, ifacts = M.runnable(tree, init, ctx.platform)
  facts.init = ifacts
  if why then
    add("init", init, "%s: the kernel cannot start it as init, so the boot stops (\"No working " ..
      "init found\"); boot with an init of your own (the recipe's init= names it)", why)
  end

  local first_boot = payload_has(payload, function(e) return e.source == "first-boot" end)
  local scripts = payload_has(payload, function(e)
    return e.source == "first-boot" or e.source == "asset:banger-network-bootstrap.sh"
  end)
  local shell_why = M.runnable(tree, "/bin/sh", ctx.platform)
  local manager = command(tree, M.MANAGERS)
  -- distroless: no shell at all (a broken one is the shell check's finding) and no manager
  facts.distroless = tree:stat("/bin/sh", { follow = true }) == nil and manager == nil
  if facts.distroless then
    -- one finding says it all: the shell, os-release and package manager checks would repeat it
    if not ctx.distroless then
      add("distroless", nil, "a distroless image (no /bin/sh, no package manager): the static " ..
        "vsock agent still runs once an init starts it, but first boot cannot install sshd " ..
        "and the network bootstrap (a shell script) cannot run; distroless=1 builds it " ..
        "without this finding")
    end
  else
    if scripts and shell_why then
      add("shell", "/bin/sh", "%s: the network bootstrap and first boot are shell scripts and " ..
        "will not run", shell_why)
    end
    if first_boot and not ctx.info then
      add("os-release", "/etc/os-release", "the image has no /etc/os-release or " ..
        "/usr/lib/os-release: first boot cannot tell which package manager installs sshd")
    end
    if first_boot and ctx.info and not command(tree, { "sshd" }) then
      first_boot_branch(tree, ctx, add)
    end
  end

  -- the services: units need systemd, OpenRC scripts need OpenRC
  local has = require("banger.distro").init_system(tree)
  if ctx.agents == "systemd" and has ~= "systemd" then
    add("services", nil, "the image has no systemd: the injected units will not run%s",
      has == "openrc" and " (it has OpenRC: recipes/alpine.lua injects OpenRC services)" or "")
  elseif ctx.agents == "openrc" and has ~= "openrc" then
    add("services", nil, "the image has no OpenRC: the injected services will not run%s",
      has == "systemd" and " (it has systemd: recipes/default.lua injects units)" or "")
  end

  -- the mount points the guest's init mounts filesystems on
  for _, p in ipairs(guest.MOUNTPOINTS) do
    local st = tree:stat(p, { follow = true })
    if not st or st.type ~= "dir" then
      add("mountpoints", p, "%s%s: %s, not a directory: the guest cannot mount its " ..
        "filesystem there", p, M.chain(tree, p), st and ("a " .. st.type) or "missing")
    end
  end

  -- the agent: injected for the image's platform
  local agent = payload_has(payload, function(e) return e.source == "agent" end)
  if agent then
    local awhy = M.runnable(tree, agent.path, ctx.platform)
    if awhy then add("agent", agent.path, "%s: the vsock agent will not run in the guest", awhy) end
  end
  return findings, facts
end

return M
