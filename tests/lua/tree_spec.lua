local spec = require "spec"
local tree = require "banger.tree"
local tar = require "tarball"
local it, eq = spec.it, spec.eq

it("builds entries with owners and modes", function()
  local t <close> = tree.new()
  assert(t:mkdir("/usr/bin", { mode = 493 }))
  assert(t:write("/usr/bin/sudo", "ELF", { mode = 2541, uid = 0, gid = 0 }))
  assert(t:write("/home/u/f", "", { uid = 1000, gid = 100000 }))
  assert(t:symlink("/bin", "usr/bin"))
  local st = t:stat("/usr/bin/sudo")
  eq(st.type, "file")
  eq(st.mode, 2541)
  eq(st.size, 3)
  eq(t:stat("/home/u/f").gid, 100000)
  eq(t:stat("/bin").type, "symlink")
  eq(t:stat("/bin").target, "usr/bin")
  eq(t:stat("/bin/sudo", { follow = true }).mode, 2541)
  eq(t:exists("/nope"), false)
end)

it("reports missing paths as nil, message, code", function()
  local t <close> = tree.new()
  local st, msg, code = t:stat("/etc/os-release")
  eq(st, nil)
  eq(msg, "/etc/os-release: no such file or directory")
  eq(code, "notfound")
  eq(select(2, t:remove("/")), "/: cannot remove the root")
end)

it("counts what sizing needs", function()
  local t <close> = tree.new()
  t:write("/a", string.rep("x", 5000))
  t:link("/b", "/a")
  local s = t:stats(4096)
  eq(s.bytes, 5000)
  eq(s.inodes, 2)
  eq(s.entries, 3)
  eq(s.data_blocks, 3)
end)

it("writes from host files", function()
  local path = spec.tmpdir() .. "/host"
  local f = assert(io.open(path, "wb"))
  f:write("hello")
  f:close()
  local t <close> = tree.new()
  assert(t:write("/x", nil, { from = path, mode = 493 }))
  eq(t:stat("/x").size, 5)
  eq(select(2, t:write("/y", nil, { from = "/nonexistent" })),
    "cannot use /nonexistent: No such file or directory")
end)

it("refuses misuse", function()
  local t = tree.new()
  spec.raises(function() t:write("/x", "", { mode = 65536 }) end, "mode must be within")
  t:close()
  t:close()
  spec.raises(function() t:stat("/") end, "attempt to use a closed tree")
end)


local function layer(entries)
  local l = tar.layer(spec.tmpdir(), entries)
  l.digest = "sha256:" .. string.rep("ab", 32)
  return l
end

local function list(t)
  local names = {}
  for path, st in t:walk() do names[#names + 1] = path .. (st.type == "dir" and "/" or "") end
  return table.concat(names, " ")
end

it("flattens layers", function()
  local l1 = layer {
    { name = "etc/", type = "5" },
    { name = "etc/os-release", data = "ID=debian\n" },
    { name = "usr/bin/sudo", data = "ELF", mode = 2541, gid = 100000 },
    { name = "etc/junk", data = "x" },
    { name = "os-release", type = "2", link = "etc/os-release" },
  }
  local l2 = layer {
    { name = "etc/.wh.junk" },
    { name = "usr/bin/sudoedit", type = "1", link = "usr/bin/sudo" },
  }
  local t <close> = assert(tree.from_layers({ l1, l2 }, { image = "test:img" }))
  eq(list(t), "// /etc/ /etc/os-release /os-release /usr/ /usr/bin/ /usr/bin/sudo "
    .. "/usr/bin/sudoedit")
  eq(t:read("/os-release"), "ID=debian\n")
  eq(t:stat("/usr/bin/sudo").mode, 2541)
  eq(t:stat("/usr/bin/sudo").gid, 100000)
  eq(t:stat("/usr/bin/sudoedit").nlink, 2)
  -- t:apply_layer continues the numbering
  local l3 = layer { { name = "../escape", data = "x" } }
  local ok, msg, code = t:apply_layer(l3, { image = "test:img" })
  eq(ok, nil)
  eq(msg, "layer 3 (sha256:" .. string.rep("ab", 32) .. ") of test:img: ../escape: unsafe path")
  eq(code, "unsafe")
end)

it("reports layer errors as nil, message, code", function()
  local bad = layer { { name = "a", data = "x" } }
  bad.diff_id = "sha256:" .. string.rep("0", 64)
  bad.digest = nil
  local t, msg, code = tree.from_layers({ bad })
  eq(t, nil)
  eq(msg:sub(1, 43), "layer 1: DiffID mismatch: expected sha256:0")
  eq(code, "mismatch")
  local evil = layer { { name = "lib/evil", type = "2", link = "../../etc/shadow" } }
  t, msg = tree.from_layers({ evil }, { image = "x" })
  eq(msg, "layer 1 (sha256:" .. string.rep("ab", 32) .. ") of x: lib/evil: unsafe symlink "
    .. "(target ../../etc/shadow leaves the root)")
  local missing = { path = spec.tmpdir() .. "/nope",
    media_type = "application/vnd.oci.image.layer.v1.tar" }
  t, msg, code = tree.from_layers({ missing })
  eq(msg, "layer 1: cannot open " .. spec.tmpdir() .. "/nope: No such file or directory")
  eq(code, "io")
end)

it("applies the policy options", function()
  local l = layer {
    { name = "dev/null", type = "3", major = 1, minor = 3, mode = 438 },
    { name = "f", data = string.rep("z", 3000) },
  }
  l.digest = nil
  local t <close> = assert(tree.from_layers({ l }))
  eq(t:exists("/dev/null"), false)
  local k <close> = assert(tree.from_layers({ l }, { devices = "keep", xattrs = "keep" }))
  eq(k:stat("/dev/null").type, "chr")
  eq(k:stat("/dev/null").minor, 3)
  local _, msg = tree.from_layers({ l }, { max_bytes = 2048 })
  eq(msg, "layer 1: the uncompressed layers exceed the limit of 2048 bytes")
  _, msg = tree.from_layers({ l }, { max_entries = 1 })
  eq(msg, "layer 1: more than 1 entries in the layers")
  spec.raises(function() tree.from_layers({ l }, { devices = "maybe" }) end,
    "option 'devices' must be \"skip\" or \"keep\", not \"maybe\"")
  spec.raises(function() tree.from_layers({ {} }) end, "layer 1 has no path")
end)

it("reads small files, following symlinks inside the tree", function()
  local t <close> = tree.new()
  t:write("/etc/os-release", "ID=alpine\n")
  t:symlink("/usr/lib/os-release", "../../etc/os-release")
  t:mkdir("/d")
  eq(t:read("/usr/lib/os-release"), "ID=alpine\n")
  eq(t:read("/etc/os-release", 10), "ID=alpine\n")
  eq(select(2, t:read("/etc/os-release", 9)), "/etc/os-release: 10 bytes, more than the limit of 9")
  eq(select(2, t:read("/d")), "/d: not a regular file")
  eq(select(3, t:read("/none")), "notfound")
  eq(t:read("/empty") == nil, true)
  t:write("/empty", "")
  eq(t:read("/empty"), "")
end)

it("reads a file's first bytes, following symlinks inside the tree", function()
  local t <close> = tree.new()
  t:write("/bin/big", string.rep("x", 70000) .. "tail")
  t:symlink("/bin/sh", "big")
  t:mkdir("/d")
  eq(t:head("/bin/sh", 4), "xxxx")
  eq(#t:head("/bin/big", 65536), 65536)
  eq(t:head("/bin/big", 1048576):sub(-4), "tail")
  eq(t:head("/bin/big", 0), "")
  eq(select(2, t:head("/d", 4)), "/d: not a regular file")
  eq(select(3, t:head("/none", 4)), "notfound")
  spec.raises(function() t:head("/bin/big", 1048577) end, "n must be within 0..1048576")
  spec.raises(function() t:head("/bin/big", -1) end, "n must be within 0..1048576")
end)

it("walks in sorted order and survives removal during the walk", function()
  local t <close> = tree.new()
  for _, p in ipairs { "/b/x", "/a", "/c/y/z", "/b/w" } do t:write(p, p) end
  eq(list(t), "// /a /b/ /b/w /b/x /c/ /c/y/ /c/y/z")
  local seen = {}
  for path in t:walk() do
    seen[#seen + 1] = path
    if path == "/b" then t:remove("/c") end
  end
  eq(table.concat(seen, " "), "/ /a /b /b/w /b/x")
  -- a directory replaced by a symlink on the way: its old children are gone, and the walk does
  -- not wander through the link
  t:write("/c/y/z", "z")
  t:write("/b/w", "w")
  t:write("/b/x", "x")
  t:write("/d/x", "dx")
  seen = {}
  for path in t:walk() do
    seen[#seen + 1] = path
    if path == "/b/w" then t:remove("/b"); t:symlink("/b", "/d") end
  end
  eq(table.concat(seen, " "), "/ /a /b /b/w /c /c/y /c/y/z /d /d/x")
end)

it("remaps owners once per inode", function()
  local t <close> = tree.new()
  t:write("/a", "1", { uid = 1000, gid = 1000 })
  t:link("/b", "/a")
  t:mkdir("/d", { uid = 5, gid = 6 })
  local calls = {}
  t:remap(function(uid, gid, path)
    calls[#calls + 1] = path .. ":" .. uid .. ":" .. gid
    if uid >= 1000 then return uid + 100000, gid + 100000 end
  end)
  eq(table.concat(calls, " "), "/:0:0 /a:1000:1000 /d:5:6")
  eq(t:stat("/b").uid, 101000)
  eq(t:stat("/d").gid, 6)
  spec.raises(function() t:remap(function() error("boom") end) end, "boom")
  spec.raises(function() t:remap(function() t:remove("/a") end) end,
    "attempt to change a tree while remapping it")
  spec.raises(function() t:remap(function() return "x", 1 end) end, "must return two integers")
  t:write("/after", "ok") -- the tree is usable again
end)

it("makes devices and sets xattrs", function()
  local t <close> = tree.new()
  assert(t:mknod("/dev/console", "chr", { major = 5, minor = 1, mode = 384 }))
  local st = t:stat("/dev/console")
  eq(st.type, "chr")
  eq(st.major, 5)
  eq(st.mode, 384)
  spec.raises(function() t:mknod("/x", "sock") end, "invalid option 'sock'")
  t:write("/bin/ping", "p")
  assert(t:xattr("/bin/ping", "security.capability", "\1\0\0\2"))
  eq(t:xattr("/bin/ping", "security.capability"), "\1\0\0\2")
  eq(t:stat("/bin/ping").xattrs["security.capability"], "\1\0\0\2")
  assert(t:xattr("/bin/ping", "security.capability", nil))
  eq(t:xattr("/bin/ping", "security.capability"), nil)
end)

it("refuses . and .. in paths, NUL bytes and what ext4 cannot hold", function()
  local t <close> = tree.new()
  t:write("/a/f", "x")
  -- "/a/." never quietly means "/a"
  spec.raises(function() t:write("/a/.", "x") end, "bad argument #1 to 'write' (a \".\" component in path /a/.)")
  spec.raises(function() t:mkdir("/a/..") end, "a \"..\" component in path /a/..")
  spec.raises(function() t:symlink("./l", "a") end, "a \".\" component")
  spec.raises(function() t:stat("/x/../a/f") end, "a \"..\" component")
  spec.raises(function() t:read("/a/./f") end, "a \".\" component")
  spec.raises(function() t:exists("/..") end, "a \"..\" component")
  spec.raises(function() t:remove("/a/..") end, "a \"..\" component")
  spec.raises(function() t:link("/b", "/a/../a/f") end, "bad argument #2 to 'link'")
  spec.raises(function() t:xattr("/a/.", "user.x") end, "a \".\" component")
  spec.raises(function() t:mknod("/a/./n", "fifo") end, "a \".\" component")
  spec.raises(function() t:write("/a\0b", "x") end, "a NUL byte in the name")
  spec.raises(function() t:write("/h", nil, { from = "/etc/hostname\0x" }) end,
    "option 'from' holds a NUL byte")
  spec.raises(function() t:write("/" .. string.rep("n", 256), "x") end, "name component too long")
  spec.raises(function() t:write(string.rep("/d", 2048), "x") end, "path too long")
  eq(t:exists("/a"), true)
end)

it("refuses symlink targets, xattrs and devices ext4 or Linux cannot hold", function()
  local t <close> = tree.new()
  t:write("/f", "x")
  assert(t:symlink("/ok", string.rep("t", 4095)))
  spec.raises(function() t:symlink("/long", string.rep("t", 4096)) end,
    "symlink target too long (4096 bytes, at most 4095)")
  spec.raises(function() t:symlink("/nul", "a\0b") end, "a NUL byte in the symlink target")
  spec.raises(function() t:symlink("/empty", "") end, "empty symlink target")
  assert(t:xattr("/f", "user." .. string.rep("n", 250), "v"))
  spec.raises(function() t:xattr("/f", "user." .. string.rep("n", 251), "v") end,
    "name over 255 bytes")
  spec.raises(function() t:xattr("/f", "foo.bar", "v") end, "not in a namespace Linux shows")
  spec.raises(function() t:xattr("/f", "user.", "v") end, "nothing after the namespace")
  spec.raises(function() t:xattr("/f", "user.a\0b", "v") end, "a NUL byte in the xattr name")
  spec.raises(function() t:xattr("/ok", "user.x", "v") end,
    "user. xattrs are shown on files and directories only")
  spec.raises(function() t:xattr("/f", "system.posix_acl_access", "\2\0\0\0") end,
    "malformed POSIX ACL")
  spec.raises(function() t:xattr("/f", "trusted.overlay.opaque", "y") end, "overlayfs")
  spec.raises(function() t:xattr("/f", "user.big", string.rep("b", 5000)) end,
    "more than the inode's xattrs can hold in ext4")
  eq(t:xattr("/f", "user.big"), nil)
  assert(t:mknod("/dev/max", "chr", { major = 4095, minor = 1048575 }))
  spec.raises(function() t:mknod("/dev/x", "blk", { major = 4096 }) end,
    "major must be within 0..4095")
  spec.raises(function() t:mknod("/dev/y", "chr", { minor = 1048576 }) end,
    "minor must be within 0..1048575")
end)

it("walks and remaps every inode, however deep", function()
  local t <close> = tree.new()
  -- 16 components of 249 bytes: a 4000-byte directory, then names up to 4095 bytes
  local deep = ""
  for i = 1, 16 do deep = deep .. "/" .. string.rep(string.char(96 + i), 249) end
  t:mkdir(deep, { mode = 493 })
  t:symlink("/s", deep)
  assert(t:write("/s/" .. string.rep("x", 94), "setuid", { mode = 2541 }))
  -- through the symlink a write would land deeper than any path Linux takes: refused
  local ok, msg = t:write("/s/" .. string.rep("y", 95), "hidden", { mode = 2541 })
  eq(ok, nil)
  eq(msg, "path too long (4096 bytes, at most 4095)")
  local walked, setuid = 0, 0
  for path, st in t:walk() do
    walked = walked + 1
    if st.mode == 2541 then setuid = setuid + 1; eq(#path, 4095) end
  end
  eq(walked, t:stats().entries)
  eq(setuid, 1)
  local remapped = 0
  t:remap(function() remapped = remapped + 1 end)
  eq(remapped, t:stats().inodes)
end)

it("keeps notes of what layers lost, for the report", function()
  local l = layer {
    { name = "dev/big", type = "3", major = 4096, minor = 0, mode = 438 },
    { name = "dev/ok", type = "3", major = 4095, minor = 7, mode = 438 },
  }
  l.digest = nil
  local t <close> = assert(tree.from_layers({ l, l }, { devices = "keep" }))
  eq(t:stat("/dev/ok").major, 4095)
  eq(t:exists("/dev/big"), false)
  local notes, total = t:notes()
  eq(total, 2)
  eq(#notes, 2)
  eq(notes[1].kind, "device")
  eq(notes[1].path, "/dev/big")
  eq(notes[1].layer, 1)
  eq(notes[2].layer, 2)
  eq(notes[1].detail,
    "device 4096:0, which Linux cannot encode (major at most 4095, minor at most 1048575)")
  local fresh <close> = tree.new()
  eq(#fresh:notes(), 0)
end)

it("keeps holes out of the spool", function()
  local l = layer { { name = "zeros", data = string.rep("\0", 1 << 20) .. "end" } }
  l.digest = nil
  local t <close> = assert(tree.from_layers({ l }))
  local logical, allocated = t:spool_usage()
  eq(logical, (1 << 20) + 3)
  assert(allocated <= 64 * 1024, "allocated " .. allocated)
  eq(t:read("/zeros", 2 << 20):sub(-3), "end")
  eq(t:stats(4096).data_blocks, 2) -- the root's block and the one with "end"
end)

spec.done()
