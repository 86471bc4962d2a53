local spec = require "spec"
local distros = require "banger.distros"
local firstboot = require "banger.firstboot"
local runtime = require "banger.runtime"
local it, eq = spec.it, spec.eq

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function ids_of(dispatch)
  local out = {}
  for _, e in ipairs(dispatch) do
    out[#out + 1] = table.concat(e.ids, ",") .. "=" .. (e.manager or "")
  end
  return table.concat(out, " ")
end

local function err_of(dispatch)
  local ok, err = pcall(firstboot.validate, dispatch)
  eq(ok, false, "validation should fail")
  return err
end

local function entry(over)
  local e = { ids = { "x" }, install = { "true" } }
  for k, v in pairs(over or {}) do e[k] = v end
  return e
end

it("the default table covers exactly the documented distros", function()
  eq(ids_of(distros.default()), "debian,ubuntu,kali,raspbian,pop=apt-get alpine=apk " ..
    "fedora,rhel,centos,rocky,almalinux=dnf fedora,rhel,centos,rocky,almalinux=yum " ..
    "arch,manjaro=pacman opensuse*,suse,sles=zypper")
  local d = distros.default()
  eq(d[1].install[2], "DEBIAN_FRONTEND=noninteractive apt-get install -y openssh-server")
  eq(table.concat(d[1].enable, "; "), "systemctl enable ssh; systemctl start ssh")
  eq(table.concat(d[2].install, "; "), "apk add openssh")
  eq(table.concat(d[2].enable, "; "), "rc-update add sshd default; rc-service sshd start")
  eq(d[5].install[1], "pacman -Sy --noconfirm openssh")
  eq(d[6].install[1], "zypper --non-interactive install openssh")
  firstboot.validate(d)
end)

it("default() returns a fresh copy each time", function()
  local a, b = distros.default(), distros.default()
  a[1].ids[1] = "changed"
  table.remove(a, 2)
  a[3].install[1] = "x"
  eq(b[1].ids[1], "debian")
  eq(#b, 6)
  eq(b[3].install[1], "dnf install -y openssh-server")
  eq(distros.default()[1].ids[1], "debian")
  eq(rawequal(b[3].ids, b[4].ids), false, "entries share no tables")
end)

it("quotes shell words", function()
  eq(firstboot.quote("plain"), "'plain'")
  eq(firstboot.quote("it's"), "'it'\\''s'")
  eq(firstboot.quote(""), "''")
  eq(firstboot.quote("$(reboot) `x` \"y\""), "'$(reboot) `x` \"y\"'")
end)

it("rejects malformed dispatch tables with the place and the reason", function()
  eq(err_of("debian"), "dispatch: expected a list of entries, got string")
  eq(err_of({}), "dispatch: expected a list of entries, got an empty table")
  eq(err_of({ entry(), x = 1 }), "dispatch: unexpected key x (expected a list of entries)")
  eq(err_of({ entry(), 7 }), "dispatch[2]: expected a table, got number")
  eq(err_of({ entry({ instal = {} }) }),
    "dispatch[1]: unknown field instal (expected ids, manager, install, enable)")
  eq(err_of({ entry({ ids = false }) }), "dispatch[1].ids: expected a list of distro ids, got boolean")
  eq(err_of({ { install = { "x" } } }), "dispatch[1]: missing ids")
  eq(err_of({ entry({ ids = {} }) }), "dispatch[1].ids: expected a list of distro ids, got an empty table")
  eq(err_of({ entry({ ids = { "debian", "Deb ian" } }) }),
    "dispatch[1].ids[2]: \"Deb ian\" is not a distro id ([a-z0-9._-]+, optionally ending in *)")
  eq(err_of({ entry({ ids = { "*" } }) }),
    "dispatch[1].ids[1]: \"*\" is not a distro id ([a-z0-9._-]+, optionally ending in *)")
  eq(err_of({ entry({ ids = { "a*b" } }) }),
    "dispatch[1].ids[1]: \"a*b\" is not a distro id ([a-z0-9._-]+, optionally ending in *)")
  eq(err_of({ entry({ ids = { "x);; *) reboot" } }) }),
    "dispatch[1].ids[1]: \"x);; *) reboot\" is not a distro id ([a-z0-9._-]+, optionally ending in *)")
  eq(err_of({ entry({ ids = { 3 } }) }), "dispatch[1].ids[1]: expected a string, got number")
  eq(err_of({ entry({ manager = "apt get" }) }),
    "dispatch[1].manager: \"apt get\" is not a command name ([A-Za-z0-9._+-]+)")
  eq(err_of({ entry({ manager = "-x" }) }),
    "dispatch[1].manager: \"-x\" is not a command name ([A-Za-z0-9._+-]+)")
  eq(err_of({ entry({ manager = 1 }) }), "dispatch[1].manager: expected a string, got number")
  eq(err_of({ { ids = { "x" } } }), "dispatch[1]: missing install")
  eq(err_of({ entry({ install = {} }) }),
    "dispatch[1].install: expected a list of shell commands, got an empty table")
  eq(err_of({ entry({ install = "apt-get install x" }) }),
    "dispatch[1].install: expected a list of shell commands, got string")
  eq(err_of({ entry({ install = { "a", {} } }) }), "dispatch[1].install[2]: expected a string, got table")
  eq(err_of({ entry({ install = { "  " } }) }), "dispatch[1].install[1]: empty command")
  eq(err_of({ entry({ install = { "a\nb" } }) }),
    "dispatch[1].install[1]: commands may not contain newlines or control characters")
  eq(err_of({ entry({ install = { "a\0b" } }) }),
    "dispatch[1].install[1]: commands may not contain newlines or control characters")
  eq(err_of({ entry({ enable = { 1 } }) }), "dispatch[1].enable[1]: expected a string, got number")
  firstboot.validate({ entry({ enable = {} }) })
  firstboot.validate({ entry({ install = { "echo 'a\tb'" } }) })
end)

it("render raises the validation error", function()
  spec.raises(function() firstboot.render({ entry({ ids = { "A" } }) }) end,
    "dispatch[1].ids[1]: \"A\" is not a distro id")
end)

it("renders the template with the dispatch code in place of the placeholder", function()
  local script = firstboot.render(distros.default())
  eq(script:sub(1, 10), "#!/bin/sh\n")
  eq(script:find("@BANGER_DISPATCH@", 1, true), nil)
  spec.truthy(script:find("\n    opensuse* | suse | sles)\n", 1, true), "glob id as a case pattern")
  spec.truthy(script:find("\n  run 'apk add openssh'\n", 1, true), "alpine install")
  spec.truthy(script:find("banger_entry=4; banger_branch='fedora (yum)'; banger_manager='yum'; " ..
    "return 0", 1, true), "yum fallback entry")
  spec.truthy(script:find("\n  [ 4 -lt \"$_from\" ] || case $1 in\n", 1, true),
    "entries can be searched from a later one")
  local custom = firstboot.render({ entry({ install = { "echo 'x'" } }) })
  spec.truthy(custom:find("\n  run 'echo '\\''x'\\'''\n", 1, true), "quoted command")
  spec.truthy(custom:find("\nbanger_enable_1() {\n  :\n}\n", 1, true), "empty enable")
  spec.truthy(custom:find("      banger_entry=1; banger_branch='x'; banger_manager=''; return 0 ;;\n",
    1, true), "entry without a manager")
end)

it("exposes the compiled-in assets", function()
  local names = runtime.assets()
  eq(table.concat(names, " "), "banger-first-boot.initd banger-first-boot.service " ..
    "banger-network-bootstrap.sh banger-network.initd banger-network.service " ..
    "banger-vsock-agent.initd banger-vsock-agent.service banger-vsock.conf first-boot.sh.in " ..
    "agents/banger-vsock-agent.amd64 agents/banger-vsock-agent.arm64")
  local src, build = os.getenv("BANGER_SOURCE_DIR"), os.getenv("BANGER_BUILD_DIR")
  for _, name in ipairs(names) do
    -- the agents are built, the rest are source files
    local path = name:match("^agents/") and (build .. "/" .. name) or (src .. "/assets/" .. name)
    eq(runtime.asset(name), read(path), name .. " matches " .. path)
  end
  local v, msg = runtime.asset("nope.service")
  eq(v, nil)
  eq(msg, "no asset named nope.service")
  spec.raises(function() runtime.asset() end, "bad argument #1 to 'asset'")
end)

it("picks the default entries of some managers", function()
  local apt = distros.only("apt-get")
  eq(#apt, 1)
  eq(apt[1].ids[1], "debian")
  local rh = distros.only("dnf", "yum")
  eq(#rh, 2)
  eq(rh[1].manager, "dnf")
  eq(rh[2].manager, "yum")
  spec.raises(function() distros.only("brew") end, "distros.only: no default entry uses brew")
end)

it("select decides like the script: ID, then ID_LIKE, the first entry serving a word", function()
  local d = distros.default()
  local c = firstboot.select(d, { id = "rocky", id_like = { "rhel", "fedora" } })
  eq(c.index, 3)
  eq(c.branch, "fedora (dnf)")
  eq(c.word, "rocky")
  eq(table.concat(c.fallbacks, ","), "4")
  c = firstboot.select(d, { id = "linuxmint", id_like = { "ubuntu", "debian" } })
  eq(c.branch .. "/" .. c.word .. "/" .. #c.fallbacks, "debian (apt-get)/ubuntu/0")
  eq(firstboot.select(d, { id = "opensuse-leap", id_like = {} }).branch, "opensuse (zypper)")
  eq(firstboot.select(d, { id = "gentoo", id_like = { "x" } }), nil)
end)

it("detect shows an image's odd bytes escaped, and select skips such words", function()
  local tree = require "banger.tree"
  local t <close> = tree.new()
  assert(t:write("/etc/os-release", 'ID="\27[31mEvil"\nID_LIKE="debian"\n'))
  local info = require("banger.distro").detect(t)
  eq(info.id, "\\x1b[31mevil")
  eq(firstboot.select(distros.default(), info).branch, "debian (apt-get)")
end)

spec.done()
