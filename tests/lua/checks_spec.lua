local spec = require "spec"
local checks = require "banger.checks"
local tree = require "banger.tree"
local guest = require "banger.guest"
local distro = require "banger.distro"
local it, eq = spec.it, spec.eq

local PLATFORM = "linux/amd64"

-- The findings as "check: message" lines.
local function lines(findings)
  local out = {}
  for _, f in ipairs(findings) do out[#out + 1] = f.check .. ": " .. f.message end
  return table.concat(out, "\n")
end

local function sh(t, path, interp)
  assert(t:write(path, "#!" .. interp .. "\necho hi\n", { mode = "0755" }))
end

local EM = { amd64 = 62, arm64 = 183 }

-- An ELF64 little-endian header for an architecture, with a PT_INTERP naming interp (a dynamic
-- binary) or no program header at all (a static one).
local function elf(arch, interp)
  local phnum = interp and 1 or 0
  local head = "\127ELF\2\1\1" .. string.rep("\0", 9) ..
    string.pack("<I2I2I4I8I8I8I4I2I2I2I2I2I2", interp and 3 or 2, EM[arch], 1, 0x401000, 64, 0,
      0, 64, 56, phnum, 64, 0, 0)
  if not interp then return head .. string.rep("\0", 64) end
  local str = interp .. "\0"
  return head .. string.pack("<I4I4I8I8I8I8I8I8", 3, 4, 120, 0, 0, #str, #str, 1) .. str
end

-- A Debian-like tree: a dynamic shell and systemd, their loader, an init through a link, apt-get.
local function debianish()
  local t = tree.new()
  assert(t:write("/lib64/ld-linux-x86-64.so.2", elf("amd64"), { mode = "0755" }))
  assert(t:write("/bin/dash", elf("amd64", "/lib64/ld-linux-x86-64.so.2"), { mode = "0755" }))
  assert(t:symlink("/bin/sh", "dash"))
  assert(t:mkdir("/lib/systemd", { parents = true }))
  assert(t:write("/lib/systemd/systemd", elf("amd64", "/lib64/ld-linux-x86-64.so.2"),
    { mode = "0755" }))
  assert(t:mkdir("/sbin"))
  assert(t:symlink("/sbin/init", "/lib/systemd/systemd"))
  sh(t, "/usr/bin/apt-get", "/bin/sh")
  assert(t:write("/etc/os-release", "ID=debian\n"))
  guest.mountpoints(t)
  return t
end

local function ctx(t, more)
  local c = { platform = PLATFORM, payload = guest.payload("systemd"), agents = "systemd",
    info = distro.detect(t) }
  guest.drop(c.payload, "/usr/local/bin/banger%-vsock%-agent") -- an ELF: checked elsewhere
  for k, v in pairs(more or {}) do c[k] = v end
  return c
end

it("finds nothing in a tree that boots", function()
  local t <close> = debianish()
  local findings, facts = checks.run(t, ctx(t))
  eq(lines(findings), "")
  eq(facts.distroless, false)
  eq(facts.init.interp, "/lib64/ld-linux-x86-64.so.2")
  eq(facts.init.elf.arch, "amd64")
end)

it("needs an init the kernel can start", function()
  local t <close> = debianish()
  assert(t:remove("/lib/systemd/systemd"))
  local findings = checks.run(t, ctx(t, { agents = false }))
  eq(lines(findings), "init: /sbin/init -> /lib/systemd/systemd: the link leads nowhere in " ..
    "the image: the kernel cannot start it as init, " ..
    "so the boot stops (\"No working init found\"); boot with an init of your own (the " ..
    "recipe's init= names it)")
  eq(findings[1].path, "/sbin/init")
  assert(t:remove("/sbin/init"))
  eq(checks.runnable(t, "/sbin/init", PLATFORM), "/sbin/init: not in the image")
  -- another init, named by the recipe
  sh(t, "/init", "/bin/sh")
  eq(lines(checks.run(t, ctx(t, { init = "/init", agents = false }))), "")
  -- not a file, not executable, not a program, a script whose interpreter is missing
  assert(t:write("/etc/motd", "hello\n", { mode = "0644" }))
  eq(checks.runnable(t, "/etc", PLATFORM), "/etc: a directory, not a file the kernel can run")
  eq(checks.runnable(t, "/etc/motd", PLATFORM), "/etc/motd: mode 0644, not executable")
  assert(t:write("/bin/text", "hello\n", { mode = "0755" }))
  eq(checks.runnable(t, "/bin/text", PLATFORM), "/bin/text: neither an ELF binary nor a " ..
    "script (#!)")
  sh(t, "/bin/py", "/usr/bin/python3 -u")
  eq(checks.runnable(t, "/bin/py", PLATFORM), "/bin/py: its interpreter /usr/bin/python3: " ..
    "not in the image")
  sh(t, "/bin/rel", "python3")
  eq(checks.runnable(t, "/bin/rel", PLATFORM), "/bin/rel: its interpreter python3 is not an " ..
    "absolute path")
  assert(t:write("/bin/empty", "#!\n", { mode = "0755" }))
  eq(checks.runnable(t, "/bin/empty", PLATFORM), "/bin/empty: a script that names no " ..
    "interpreter")
  -- the kernel follows a few interpreters, not a loop of them
  sh(t, "/bin/a", "/bin/b")
  sh(t, "/bin/b", "/bin/a")
  eq(checks.runnable(t, "/bin/a", PLATFORM), "/bin/a: its interpreter /bin/b: its interpreter " ..
    "/bin/a: its interpreter /bin/b: its interpreter /bin/a: interpreters nested deeper than " ..
    "the kernel follows")
  eq(checks.runnable(t, "relative", PLATFORM), "relative: not an absolute path in the image")
end)

it("needs an ELF init for the platform, with its interpreter", function()
  local t <close> = debianish()
  assert(t:write("/sbin/init", elf("arm64", "/lib/ld-linux-aarch64.so.1"), { mode = "0755" }))
  local findings = checks.run(t, ctx(t, { agents = false }))
  eq(lines(findings), "init: /sbin/init: an ELF for aarch64, but the image is for linux/amd64: " ..
    "the kernel of its VM cannot run it: the kernel cannot start it as init, so the boot stops " ..
    "(\"No working init found\"); boot with an init of your own (the recipe's init= names it)")
  eq(checks.runnable(t, "/sbin/init", "linux/arm64/v8"), "/sbin/init: a dynamic ELF whose " ..
    "interpreter /lib/ld-linux-aarch64.so.1: not in the image")
  assert(t:write("/lib/ld-linux-aarch64.so.1", elf("arm64"), { mode = "0755" }))
  local why, facts = checks.runnable(t, "/sbin/init", "linux/arm64/v8")
  eq(why, nil)
  eq(facts.interp, "/lib/ld-linux-aarch64.so.1")
  eq(facts.elf.machine_name, "aarch64")
  -- static: no interpreter needed
  assert(t:write("/sbin/init", elf("amd64"), { mode = "0755" }))
  why, facts = checks.runnable(t, "/sbin/init", PLATFORM)
  eq(why, nil)
  eq(facts.interp, nil)
  -- a loader of the wrong machine, a truncated header
  assert(t:write("/sbin/init", elf("amd64", "/lib/ld-linux-aarch64.so.1"), { mode = "0755" }))
  eq(checks.runnable(t, "/sbin/init", PLATFORM), "/sbin/init: a dynamic ELF whose interpreter " ..
    "/lib/ld-linux-aarch64.so.1: an ELF for aarch64, but the image is for linux/amd64: the " ..
    "kernel of its VM cannot run it")
  -- the loader is mapped as an ELF: a script there is no loader, and its own PT_INTERP (here
  -- itself) is not followed
  assert(t:write("/sbin/init", elf("amd64", "/lib/ld.so"), { mode = "0755" }))
  sh(t, "/lib/ld.so", "/bin/sh")
  eq(checks.runnable(t, "/sbin/init", PLATFORM), "/sbin/init: a dynamic ELF whose interpreter " ..
    "/lib/ld.so: not an ELF binary, as a loader must be")
  assert(t:write("/lib/ld.so", elf("amd64", "/lib/ld.so"), { mode = "0755" }))
  eq(checks.runnable(t, "/sbin/init", PLATFORM), nil)
  assert(t:write("/sbin/init", elf("amd64"):sub(1, 40), { mode = "0755" }))
  eq(checks.runnable(t, "/sbin/init", PLATFORM), "/sbin/init: truncated ELF header: 40 of 64 bytes")
end)

it("shows where links lead, inside the tree", function()
  local t <close> = tree.new()
  assert(t:mkdir("/usr/lib/systemd", { parents = true }))
  assert(t:symlink("/lib", "usr/lib"))
  assert(t:mkdir("/usr/sbin"))
  assert(t:symlink("/sbin", "usr/sbin"))
  assert(t:symlink("/usr/sbin/init", "../lib/systemd/systemd"))
  eq(checks.chain(t, "/sbin/init"), " -> ../lib/systemd/systemd")
  assert(t:symlink("/loop1", "/loop2"))
  assert(t:symlink("/loop2", "/loop1"))
  eq(checks.runnable(t, "/loop1", PLATFORM), "/loop1" .. string.rep(" -> /loop2 -> /loop1", 20) ..
    ": /loop1: too many levels of symbolic links")
  -- a hostile target: a component no path may have
  assert(t:symlink("/long", "/" .. string.rep("x", 300)))
  eq(checks.chain(t, "/long"), " -> /" .. string.rep("x", 300))
end)

it("needs /bin/sh, os-release and the first-boot branch's package manager", function()
  local t <close> = debianish()
  assert(t:remove("/usr/bin/apt-get"))
  eq(lines(checks.run(t, ctx(t))), "first-boot: first boot takes the 'debian (apt-get)' branch " ..
    "for 'debian', but the image has no apt-get and no sshd: first boot will fail")
  -- sshd already there: first boot has nothing to install
  sh(t, "/usr/sbin/sshd", "/bin/sh")
  eq(lines(checks.run(t, ctx(t))), "")
  assert(t:remove("/usr/sbin/sshd"))
  -- the branch's fallbacks count: rocky takes dnf, else yum
  assert(t:write("/etc/os-release", "ID=rocky\nID_LIKE=\"rhel centos fedora\"\n"))
  sh(t, "/usr/bin/yum", "/bin/sh")
  eq(lines(checks.run(t, ctx(t))), "")
  assert(t:write("/etc/os-release", "ID=plan9\n"))
  eq(lines(checks.run(t, ctx(t))), "first-boot: first boot has no branch for 'plan9' (os-release " ..
    "ID and ID_LIKE) and the image has no sshd: add an entry to the recipe's dispatch table")
  assert(t:remove("/etc/os-release"))
  eq(lines(checks.run(t, ctx(t))), "os-release: the image has no /etc/os-release or " ..
    "/usr/lib/os-release: first boot cannot tell which package manager installs sshd")
  assert(t:write("/etc/os-release", "ID=debian\n"))
  sh(t, "/usr/bin/apt-get", "/bin/sh")
  assert(t:remove("/bin/sh"))
  eq(lines(checks.run(t, ctx(t))), "shell: /bin/sh: not in the image: the network bootstrap " ..
    "and first boot are shell scripts and will not run")
  -- without first boot and the bootstrap in the payload, neither is needed
  eq(lines(checks.run(t, ctx(t, { payload = guest.payload("none"), agents = false }))), "")
end)

it("names distroless images, and builds them when asked", function()
  local t <close> = debianish()
  for _, p in ipairs { "/bin/sh", "/bin/dash", "/usr/bin/apt-get", "/etc/os-release" } do
    assert(t:remove(p))
  end
  local findings, facts = checks.run(t, ctx(t))
  eq(facts.distroless, true)
  eq(lines(findings), "distroless: a distroless image (no /bin/sh, no package manager): the " ..
    "static vsock agent still runs once an init starts it, but first boot cannot install sshd " ..
    "and the network bootstrap (a shell script) cannot run; distroless=1 builds it without " ..
    "this finding")
  eq(lines(checks.run(t, ctx(t, { distroless = true }))), "")
  -- a shell alone is not distroless: the package manager check speaks instead
  assert(t:write("/bin/sh", elf("amd64", "/lib64/ld-linux-x86-64.so.2"), { mode = "0755" }))
  assert(t:write("/etc/os-release", "ID=debian\n"))
  findings, facts = checks.run(t, ctx(t))
  eq(facts.distroless, false)
  eq(lines(findings), "first-boot: first boot takes the 'debian (apt-get)' branch for " ..
    "'debian', but the image has no apt-get and no sshd: first boot will fail")
  -- nor is a shell that cannot run: the shell check names it
  assert(t:write("/bin/sh", "#!/bin/sh\n", { mode = "0755" }))
  findings, facts = checks.run(t, ctx(t))
  eq(facts.distroless, false)
  eq(findings[1].check, "shell")
end)

it("checks the services and the mount points", function()
  local t <close> = debianish()
  assert(t:remove("/lib/systemd/systemd"))
  sh(t, "/sbin/openrc", "/bin/sh")
  sh(t, "/lib/systemd/systemd", "/bin/sh")
  assert(t:remove("/lib/systemd/systemd"))
  local findings = checks.run(t, ctx(t, { init = "/sbin/openrc" }))
  eq(lines(findings), "services: the image has no systemd: the injected units will not run " ..
    "(it has OpenRC: recipes/alpine.lua injects OpenRC services)")
  eq(lines(checks.run(t, ctx(t, { init = "/sbin/openrc", agents = "openrc" }))), "")
  assert(t:remove("/proc"))
  assert(t:symlink("/run", "/var/run"))
  eq(lines(checks.run(t, ctx(t, { init = "/sbin/openrc", agents = "openrc" }))),
    "mountpoints: /proc: missing, not a directory: the guest cannot mount its filesystem there\n" ..
    "mountpoints: /run -> /var/run: missing, not a directory: the guest cannot mount its " ..
    "filesystem there")
end)

spec.done()
