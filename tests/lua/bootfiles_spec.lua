local spec = require "spec"
local tree = require "banger.tree"
local bootfiles = require "banger.bootfiles"
local kernel = require "banger.kernel"
local it, eq = spec.it, spec.eq

local function contains(s, part)
  if not tostring(s):find(part, 1, true) then
    error(string.format("%q does not contain %q", tostring(s), part), 2)
  end
end

local function t_with(files)
  local t = tree.new()
  for _, f in ipairs(files) do
    if f.target then
      assert(t:symlink(f[1], f.target, {}))
    else
      assert(t:write(f[1], f[2] or "x", { mode = 420 }))
    end
  end
  return t
end

it("follows the vmlinuz and initrd.img links in / (Debian)", function()
  local t <close> = t_with {
    { "/boot/vmlinuz-6.1.0-9-amd64" }, { "/boot/initrd.img-6.1.0-9-amd64" },
    { "/boot/vmlinuz-6.1.0-10-amd64" }, { "/boot/initrd.img-6.1.0-10-amd64" },
    { "/vmlinuz", target = "boot/vmlinuz-6.1.0-9-amd64" },
    { "/initrd.img", target = "boot/initrd.img-6.1.0-9-amd64" },
  }
  local f = assert(bootfiles.find(t))
  eq(f.kernel, "/vmlinuz")
  eq(f.initrd, "/initrd.img")
  eq(f.version, "6.1.0-9-amd64")
end)

it("takes /boot's links before /'s, and absolute link targets inside the image", function()
  local t <close> = t_with {
    { "/boot/vmlinuz-5", "five" }, { "/boot/vmlinuz-6", "six" },
    { "/boot/vmlinuz", target = "/boot/vmlinuz-6" }, { "/vmlinuz", target = "boot/vmlinuz-5" },
  }
  local f = assert(bootfiles.find(t))
  eq(f.kernel, "/boot/vmlinuz")
  eq(f.version, "6")
  eq(t:read(f.kernel), "six")
end)

it("without links, picks the newest /boot/vmlinuz-VERSION and the initrd named for it", function()
  local t <close> = t_with {
    { "/boot/vmlinuz-6.1.0-9-amd64" }, { "/boot/initrd.img-6.1.0-9-amd64" },
    { "/boot/vmlinuz-6.1.0-10-amd64" }, { "/boot/initrd.img-6.1.0-10-amd64" },
    { "/boot/config-6.1.0-11-amd64" },
  }
  local f = assert(bootfiles.find(t))
  eq(f.kernel, "/boot/vmlinuz-6.1.0-10-amd64")
  eq(f.initrd, "/boot/initrd.img-6.1.0-10-amd64")
  -- Fedora's names, and Alpine's flavours
  local t2 <close> = t_with { { "/boot/vmlinuz-6.5.6-300.fc39.x86_64" },
    { "/boot/initramfs-6.5.6-300.fc39.x86_64.img" } }
  eq(bootfiles.find(t2).initrd, "/boot/initramfs-6.5.6-300.fc39.x86_64.img")
  local t3 <close> = t_with { { "/boot/vmlinuz-lts" }, { "/boot/initramfs-lts" } }
  f = assert(bootfiles.find(t3))
  eq(f.kernel, "/boot/vmlinuz-lts")
  eq(f.initrd, "/boot/initramfs-lts")
end)

it("finds a kernel beside its modules (Fedora, Arch) and goes without an initrd", function()
  local t <close> = t_with { { "/usr/lib/modules/6.6.1-arch1-1/vmlinuz" },
    { "/usr/lib/modules/6.6.1-arch1-1/modules.dep" }, { "/usr/lib/modules/6.5.9-arch2-1/vmlinuz" } }
  local f = assert(bootfiles.find(t))
  eq(f.kernel, "/usr/lib/modules/6.6.1-arch1-1/vmlinuz")
  eq(f.initrd, nil)
end)

it("says where it looked when there is no kernel; a dangling link is not one", function()
  local t <close> = t_with { { "/etc/os-release", "ID=debian\n" },
    { "/vmlinuz", target = "boot/vmlinuz-gone" }, { "/boot/vmlinuz-x", target = "/nowhere" } }
  local f, why = bootfiles.find(t)
  eq(f, nil)
  eq(why, "no kernel in the image (no /boot/vmlinuz or /vmlinuz link, no /boot/vmlinuz-VERSION, "
    .. "no /usr/lib/modules/VERSION/vmlinuz)")
  local msg = spec.raises(function() bootfiles.prepare(t, "out", "x:1") end)
  contains(msg, "kernel=out: x:1 has no kernel in the image")
  contains(msg, "install one in the image")
end)

it("refuses a kernel file that is not a kernel, naming it", function()
  local t <close> = t_with { { "/boot/vmlinuz-1", "#!/bin/sh\necho hi\n" } }
  local msg = spec.raises(function() bootfiles.prepare(t, "out", "x:1") end)
  contains(msg, "kernel: /boot/vmlinuz-1 in x:1: not a kernel")
end)

it("probes and unpacks through banger.kernel, with nil, message, code for bad input", function()
  local info, err, code = kernel.probe("nope")
  eq(info, nil)
  contains(err, "not a kernel")
  eq(code, "invalid")
  local u
  u, err = kernel.unpack("nope", "unpack-dir")
  eq(u, nil)
  contains(err, "not a kernel")
  -- nothing half-written: the directory is made, but holds nothing
  eq(io.open("unpack-dir/vmlinux"), nil)
  spec.raises(function() kernel.unpack("x", "d", { max_bytes = 0 }) end, "max_bytes must be positive")
  eq(kernel.save("saved/a/b", "bytes"), 5)
  local f = assert(io.open("saved/a/b", "rb"))
  eq(f:read("a"), "bytes")
  f:close()
end)

it("takes no version from a name with characters no kernel version has", function()
  local t <close> = t_with { { "/boot/vmlinuz-6.1\27[31m" }, { "/boot/initrd.img-6.1\27[31m" } }
  local f, why = bootfiles.find(t)
  eq(f, nil)
  contains(why, "no kernel in the image")
  local t2 <close> = t_with { { "/boot/vmlinuz-6.1\27[31m" },
    { "/vmlinuz", target = "boot/vmlinuz-6.1\27[31m" } }
  f = assert(bootfiles.find(t2))
  eq(f.kernel, "/vmlinuz")
  eq(f.version, nil)
end)

-- A bzImage header around a gzip-looking payload: enough for probe, not for unpack.
local function fake_bzimage()
  local b = {}
  b[#b + 1] = string.rep("\0", 0x1f1) .. "\1" -- setup_sects = 1
  b[#b + 1] = string.rep("\0", 0x1fe - 0x1f2) .. "\x55\xaa" .. "\0\0" .. "HdrS"
  b[#b + 1] = string.pack("<I2", 0x020f) .. string.rep("\0", 0x248 - 0x208)
  b[#b + 1] = string.pack("<I4I4", 0x100, 64)
  local s = table.concat(b)
  return s .. string.rep("\0", 1024 + 0x100 - #s) .. "\x1f\x8b" .. string.rep("x", 62)
end

-- An ELF header for e_machine, 64-bit little-endian (183 aarch64, 62 x86-64).
local function fake_elf(machine)
  local h = "\x7fELF\2\1\1" .. string.rep("\0", 9) .. string.pack("<I2I2I4", 2, machine, 1)
  return h .. string.rep("\0", 64 - #h)
end

it("refuses a kernel for another architecture than the image's, before anything is written", function()
  local t <close> = t_with { { "/boot/vmlinuz-6.1.0-9-amd64", fake_bzimage() } }
  local plan = bootfiles.prepare(t, "out", "x:1", "linux/amd64")
  eq(plan.info.format, "bzimage")
  eq(bootfiles.prepare(t, "out", "x:1").info.compression, "gzip") -- no platform: no check
  local msg = spec.raises(function() bootfiles.prepare(t, "out", "x:1", "linux/arm64/v8") end)
  contains(msg, "kernel: /boot/vmlinuz-6.1.0-9-amd64 in x:1 is a kernel for amd64, but the " ..
    "image is linux/arm64/v8")
  local t2 <close> = t_with { { "/boot/vmlinux-6.1.0-9-arm64", fake_elf(183) } }
  eq(bootfiles.prepare(t2, "out", "y:1", "linux/arm64").info.format, "elf")
  msg = spec.raises(function() bootfiles.prepare(t2, "out", "y:1", "linux/amd64") end)
  contains(msg, "kernel: /boot/vmlinux-6.1.0-9-arm64 in y:1 is a kernel for arm64, but the " ..
    "image is linux/amd64")
  eq(io.open("out"), nil)
end)

it("describes a prepared kernel for --plan", function()
  local t <close> = t_with { { "/boot/vmlinuz-6.1.0-9-amd64", fake_bzimage() },
    { "/boot/initrd.img-6.1.0-9-amd64" } }
  local d = bootfiles.describe(bootfiles.prepare(t, "kd", "x:1", "linux/amd64"))
  eq(d.dir, "kd")
  eq(d.kernel, "/boot/vmlinuz-6.1.0-9-amd64")
  eq(d.initrd, "/boot/initrd.img-6.1.0-9-amd64")
  eq(d.format, "bzimage")
  eq(d.compression, "gzip")
  eq(d.release, "6.1.0-9-amd64")
  eq(io.open("kd"), nil)
end)

it("names the image and the path when the payload does not unpack, and leaves nothing", function()
  local t <close> = t_with { { "/boot/vmlinuz-6.1.0-9-amd64", fake_bzimage() },
    { "/boot/initrd.img-6.1.0-9-amd64", "initrd" } }
  local plan = bootfiles.prepare(t, "bad", "x:1", "linux/amd64")
  local msg = spec.raises(function() bootfiles.write(plan) end)
  contains(msg, "kernel=bad: /boot/vmlinuz-6.1.0-9-amd64 in x:1: bzImage: ")
  contains(msg, "gzip payload")
  eq(io.open("bad/vmlinuz"), nil)
  eq(io.open("bad/initrd.img"), nil)
  eq(io.open("bad/vmlinux"), nil)
end)

spec.done()
