local spec = require "spec"
local tree = require "banger.tree"
local guest = require "banger.guest"
local distros = require "banger.distros"
local firstboot = require "banger.firstboot"
local it, eq = spec.it, spec.eq

-- design.md, "What the default recipe produces": path, kind, mode
local EXPECTED = {
  { "/usr/local/bin/banger-vsock-agent", "file", 493 },
  { "/usr/local/libexec/banger-network-bootstrap", "file", 493 },
  { "/etc/systemd/system/banger-network.service", "file", 420 },
  { "/etc/systemd/system/banger-vsock-agent.service", "file", 420 },
  { "/etc/modules-load.d/banger-vsock.conf", "file", 420 },
  { "/usr/local/libexec/banger-first-boot", "file", 493 },
  { "/etc/systemd/system/banger-first-boot.service", "file", 420 },
  { "/var/lib/banger/first-boot-pending", "file", 420 },
}
local WANTS = "/etc/systemd/system/multi-user.target.wants/"

it("injects every default file with its mode, root-owned", function()
  local t <close> = tree.new()
  -- an existing directory keeps its owner and mode
  assert(t:mkdir("/etc", { mode = 448, uid = 7, gid = 8 }))
  guest.systemd_agents(t, { dispatch = distros.default() })
  for _, e in ipairs(EXPECTED) do
    local st = assert(t:stat(e[1]), e[1])
    eq(st.type, e[2], e[1] .. " type")
    eq(st.mode, e[3], e[1] .. " mode")
    eq(st.uid, 0, e[1] .. " uid")
    eq(st.gid, 0, e[1] .. " gid")
  end
  eq(t:stat("/var/lib/banger/first-boot-pending").size, 0)
  for _, unit in ipairs { "banger-network", "banger-vsock-agent", "banger-first-boot" } do
    local st = assert(t:stat(WANTS .. unit .. ".service"))
    eq(st.type, "symlink")
    eq(st.mode, 511)
    eq(st.target, "/etc/systemd/system/" .. unit .. ".service")
    eq(st.uid, 0)
  end
  eq(t:stat("/etc").mode, 448)
  eq(t:stat("/etc").uid, 7)
  for _, d in ipairs { "/usr/local/libexec", "/var/lib/banger", "/etc/modules-load.d",
    "/etc/systemd/system/multi-user.target.wants" } do
    local st = t:stat(d)
    eq(st.type, "dir", d)
    eq(st.mode, 493, d)
    eq(st.uid, 0, d)
  end
  eq(t:read("/usr/local/libexec/banger-first-boot"), firstboot.render(distros.default()))
  eq(t:read("/etc/systemd/system/banger-first-boot.service"),
    require("banger.runtime").asset("banger-first-boot.service"))
  -- no platform given: the amd64 agent
  eq(t:read("/usr/local/bin/banger-vsock-agent", 4 << 20),
    require("banger.runtime").asset("agents/banger-vsock-agent.amd64"))
end)

it("creates missing mount points, keeps existing ones", function()
  local t <close> = tree.new()
  assert(t:mkdir("/run", { mode = 448, uid = 3 }))
  guest.mountpoints(t)
  for _, d in ipairs { "/dev", "/proc", "/sys" } do
    eq(t:stat(d).mode, 493, d)
  end
  eq(t:stat("/tmp").mode, 1023)
  eq(t:stat("/run").mode, 448)
  eq(t:stat("/run").uid, 3)
end)

it("enables OpenRC services", function()
  local t <close> = tree.new()
  guest.openrc_agents(t, { dispatch = distros.default() })
  for _, name in ipairs { "banger-network", "banger-vsock-agent", "banger-first-boot" } do
    eq(t:stat("/etc/init.d/" .. name).mode, 493)
    eq(t:stat("/etc/runlevels/default/" .. name).target, "/etc/init.d/" .. name)
  end
  eq(t:stat("/etc/systemd"), nil)
end)

it("names the path when injection fails", function()
  local t <close> = tree.new()
  guest.file(t, "/etc", "a file, not a directory")
  spec.raises(function() guest.file(t, "/etc/x", "y") end, "injecting /etc/x: /etc/x: etc is not a directory")
  spec.raises(function() guest.systemd_agents(t, {}) end, "opts.dispatch")
end)

spec.done()
