local spec = require "spec"
local tree = require "banger.tree"
local guest = require "banger.guest"
local distros = require "banger.distros"
local firstboot = require "banger.firstboot"
local runtime = require "banger.runtime"
local it, eq = spec.it, spec.eq

-- design.md, "What the default recipe produces": path, kind, mode (and the mount points)
local EXPECTED = {
  { "/dev", "dir", "0755" }, { "/proc", "dir", "0755" }, { "/sys", "dir", "0755" },
  { "/run", "dir", "0755" }, { "/tmp", "dir", "1777" },
  { "/usr/local/bin/banger-vsock-agent", "file", "0755" },
  { "/usr/local/libexec/banger-network-bootstrap", "file", "0755" },
  { "/usr/local/libexec/banger-first-boot", "file", "0755" },
  { "/etc/modules-load.d/banger-vsock.conf", "file", "0644" },
  { "/var/lib/banger/first-boot-pending", "file", "0644" },
  { "/etc/systemd/system/banger-network.service", "file", "0644" },
  { "/etc/systemd/system/multi-user.target.wants/banger-network.service", "symlink", "0777" },
  { "/etc/systemd/system/banger-vsock-agent.service", "file", "0644" },
  { "/etc/systemd/system/multi-user.target.wants/banger-vsock-agent.service", "symlink", "0777" },
  { "/etc/systemd/system/banger-first-boot.service", "file", "0644" },
  { "/etc/systemd/system/multi-user.target.wants/banger-first-boot.service", "symlink", "0777" },
}

local function err_of(payload)
  local ok, err = pcall(guest.validate, payload)
  eq(ok, false, "validation should fail")
  return (tostring(err):gsub("^[^:]*guest_spec%.lua:%d+: ", ""))
end

it("the systemd payload is plain data: every injected path, its kind, mode, owner, source", function()
  local p = guest.payload("systemd")
  eq(#p, #EXPECTED)
  for i, e in ipairs(EXPECTED) do
    eq(p[i].path, e[1], "entry " .. i)
    eq(p[i].kind, e[2], e[1] .. " kind")
    if e[2] ~= "symlink" then
      eq(p[i].mode, e[3], e[1] .. " mode")
      eq(p[i].owner, "0:0", e[1] .. " owner")
    end
  end
  eq(p[6].source, "agent")
  eq(p[7].source, "asset:banger-network-bootstrap.sh")
  eq(p[8].source, "first-boot")
  eq(p[10].content, "")
  eq(p[12].target, "/etc/systemd/system/banger-network.service")
  guest.validate(p)
  -- a fresh copy each time
  p[1].mode = "0700"
  eq(guest.payload("systemd")[1].mode, "0755")
end)

it("installs every entry with its mode, root-owned; existing directories stay", function()
  local t <close> = tree.new()
  assert(t:mkdir("/etc", { mode = "0700", uid = 7, gid = 8 }))
  assert(t:mkdir("/run", { mode = "0700", uid = 3 }))
  guest.install(t, guest.payload("systemd"), { dispatch = distros.default() })
  for _, e in ipairs(EXPECTED) do
    local st = assert(t:stat(e[1]), e[1])
    eq(st.type, e[2], e[1] .. " type")
    if e[1] ~= "/run" then eq(string.format("%04o", st.mode), e[3], e[1] .. " mode") end
    if e[1] ~= "/run" then eq(st.uid, 0, e[1] .. " uid") end
    eq(st.gid, 0, e[1] .. " gid")
  end
  eq(t:stat("/etc").mode, 448)
  eq(t:stat("/etc").uid, 7)
  eq(t:stat("/run").mode, 448)
  eq(t:stat("/run").uid, 3)
  eq(t:stat("/var/lib/banger/first-boot-pending").size, 0)
  for _, d in ipairs { "/usr/local/libexec", "/var/lib/banger", "/etc/modules-load.d",
    "/etc/systemd/system/multi-user.target.wants" } do
    local st = t:stat(d)
    eq(st.type, "dir", d)
    eq(st.mode, 493, d)
    eq(st.uid, 0, d)
  end
  eq(t:read("/usr/local/libexec/banger-first-boot"), firstboot.render(distros.default()))
  eq(t:read("/etc/systemd/system/banger-first-boot.service"),
    runtime.asset("banger-first-boot.service"))
  -- no platform given: the amd64 agent
  eq(t:read("/usr/local/bin/banger-vsock-agent", 4 << 20),
    runtime.asset("agents/banger-vsock-agent.amd64"))
end)

it("the OpenRC payload enables init.d services in the default runlevel", function()
  local t <close> = tree.new()
  guest.install(t, guest.payload("openrc"), { dispatch = distros.default() })
  for _, name in ipairs { "banger-network", "banger-vsock-agent", "banger-first-boot" } do
    eq(t:stat("/etc/init.d/" .. name).mode, 493)
    eq(t:stat("/etc/runlevels/default/" .. name).target, "/etc/init.d/" .. name)
  end
  eq(t:stat("/etc/systemd"), nil)
  eq(#guest.payload("none"), 5, "none: the mount points only")
end)

it("a recipe edits the payload as data: add, change, drop", function()
  local dir = spec.tmpdir()
  local f = assert(io.open(dir .. "/hello.sh", "wb"))
  f:write("#!/bin/sh\necho hello\n")
  f:close()
  local p = guest.payload("systemd")
  p[#p + 1] = { path = "/usr/local/bin/hello", kind = "file", mode = "0750", owner = "0:10",
    source = "file:hello.sh" }
  p[#p + 1] = { path = "/etc/hello.conf", kind = "file", mode = "0600", content = "x=1\n" }
  guest.find(p, "/usr/local/libexec/banger-first-boot").mode = "0700"
  eq(guest.drop(p, "/etc/modules%-load%.d/.*"), 1)
  eq(guest.drop(p, "/nothing"), 0)
  local t <close> = tree.new()
  guest.install(t, p, { dispatch = distros.default(), base = dir })
  local st = t:stat("/usr/local/bin/hello")
  eq(st.mode, 488)
  eq(st.gid, 10)
  eq(t:read("/usr/local/bin/hello"), "#!/bin/sh\necho hello\n")
  eq(t:stat("/etc/hello.conf").mode, 384)
  eq(t:stat("/usr/local/libexec/banger-first-boot").mode, 448)
  eq(t:stat("/etc/modules-load.d"), nil)
end)

it("describes what an install would do", function()
  local t <close> = tree.new()
  assert(t:mkdir("/proc", { mode = "0555" }))
  assert(t:write("/var/lib/banger/first-boot-pending", "old"))
  local rows = guest.describe(t, guest.payload("systemd"), { dispatch = distros.default() })
  eq(#rows, #EXPECTED)
  eq(rows[1].what, "created")
  eq(rows[2].what, "kept: the image has it")
  eq(rows[5].mode, "1777")
  eq(rows[6].what, "agent agents/banger-vsock-agent.amd64 (x86-64)")
  -- an arm64 image gets the aarch64 agent
  rows = guest.describe(t, guest.payload("systemd"), { dispatch = distros.default(),
    platform = "linux/arm64/v8" })
  eq(rows[6].what, "agent agents/banger-vsock-agent.arm64 (aarch64)")
  eq(rows[7].what, string.format("asset:banger-network-bootstrap.sh (%d bytes)",
    #runtime.asset("banger-network-bootstrap.sh")))
  eq(rows[8].what, string.format("first-boot (%d bytes)", #firstboot.render(distros.default())))
  eq(rows[10].what, "empty, replacing the image's file")
  eq(rows[12].what, "-> /etc/systemd/system/banger-network.service")
  eq(rows[12].mode, "0777")
  eq(rows[12].owner, "0:0")
  eq(t:stat("/dev"), nil, "describe changes nothing")
end)

it("modes are strings of octal digits; numbers are refused", function()
  eq(guest.mode("0755"), 493)
  eq(guest.mode("644"), 420)
  eq(guest.mode("1777"), 1023)
  eq(guest.mode("04755"), 2541)
  spec.raises(function() guest.mode(755, "x") end,
    'x: mode 755 is ambiguous: write a string of octal digits, "0755" (read as chmod reads it) ' ..
    'or "1363" (the number 755)')
  spec.raises(function() guest.mode(493, "x") end,
    'x: write the mode as a string of octal digits, "0755", not 493')
  spec.raises(function() guest.mode("0758", "x") end,
    'x: expected a string of octal digits such as "0755", got "0758"')
  spec.raises(function() guest.mode("17777", "x") end, "x: expected a string of octal digits")
  local t <close> = tree.new()
  spec.raises(function() guest.file(t, "/x", "y", { mode = 420 }) end,
    '/x: mode 420 is ambiguous: write a string of octal digits, "0420" (read as chmod reads it) ' ..
    'or "0644" (the number 420)')
  -- the tree and image primitives read strings as octal too
  assert(t:write("/y", "z", { mode = "0640" }))
  eq(t:stat("/y").mode, 416)
  spec.raises(function() t:write("/z", "", { mode = "rw-r--r--" }) end,
    "option 'mode' must be octal digits such as \"0755\", not \"rw-r--r--\"")
end)

it("rejects malformed payloads with the entry and the reason", function()
  eq(err_of("x"), "payload: expected a list of entries, got string")
  eq(err_of({ { path = "x", kind = "file", mode = "0644", content = "" } }),
    "payload[1].path: expected an absolute path in the guest")
  eq(err_of({ { path = "/x", kind = "fifo" } }),
    'payload[1] (/x).kind: expected "file", "dir" or "symlink", got fifo')
  eq(err_of({ { path = "/x", kind = "file", content = "" } }), "payload[1] (/x): a file needs mode")
  eq(err_of({ { path = "/x", kind = "file", mode = 493, content = "" } }),
    'payload[1] (/x).mode: write the mode as a string of octal digits, "0755", not 493')
  eq(err_of({ { path = "/x", kind = "file", mode = "0644" } }),
    "payload[1] (/x): a file needs source or content (one of them)")
  eq(err_of({ { path = "/x", kind = "file", mode = "0644", source = "http://x" } }),
    'payload[1] (/x).source: expected "agent", "first-boot", "asset:NAME" or "file:PATH", got http://x')
  eq(err_of({ { path = "/x", kind = "file", mode = "0644", content = "", owner = "root" } }),
    'payload[1] (/x).owner: expected "UID:GID" with numeric ids, got "root"')
  eq(err_of({ { path = "/x", kind = "symlink" } }), "payload[1] (/x): a symlink needs target")
  eq(err_of({ { path = "/x", kind = "dir", mode = "0755", source = "agent" } }),
    "payload[1] (/x): a dir has no source")
  eq(err_of({ { path = "/x", kind = "dir", mode = "0755", modee = "1" } }),
    "payload[1]: unknown field modee (expected path, kind, mode, owner, source, content, target)")
  eq(err_of({ { path = "/x", kind = "dir", mode = "0755" }, { path = "/x", kind = "dir", mode = "0700" } }),
    "payload[2] (/x): the path is also payload[1]")
  local t <close> = tree.new()
  spec.raises(function()
    guest.install(t, { { path = "/f", kind = "file", mode = "0644", source = "first-boot" } })
  end, '/f: source "first-boot" needs a dispatch table')
  spec.raises(function()
    guest.install(t, { { path = "/f", kind = "file", mode = "0644", source = "asset:nope" } })
  end, "asset nope: no asset named nope")
end)

it("names the path when injection fails", function()
  local t <close> = tree.new()
  guest.file(t, "/etc", "a file, not a directory")
  spec.raises(function() guest.file(t, "/etc/x", "y") end, "injecting /etc/x: /etc/x: etc is not a directory")
end)

spec.done()
