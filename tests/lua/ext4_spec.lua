local spec = require "spec"
local tree, ext4 = require "banger.tree", require "banger.ext4"
local it, eq = spec.it, spec.eq
local dir = spec.tmpdir()
local MiB = 1024 * 1024

local function sample()
  local t = tree.new()
  assert(t:write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", { mode = 420 }))
  assert(t:write("/usr/bin/sudo", "ELF", { mode = 3565, uid = 0, gid = 0, mtime = -5 }))
  assert(t:write("/home/u/f", string.rep("z", 10000), { uid = 1000, gid = 100000 }))
  assert(t:symlink("/bin", "usr/bin"))
  assert(t:link("/home/u/g", "/home/u/f"))
  return t
end

local function listing(img, path, out)
  out = out or {}
  for _, e in ipairs(assert(img:list(path))) do
    local p = (path == "/" and "" or path) .. "/" .. e.name
    local st = assert(img:stat(p))
    out[#out + 1] = string.format("%s %s %o %d:%d %d", p, e.type, st.mode, st.uid, st.gid,
      st.type == "file" and st.size or 0)
    if e.type == "dir" and e.name ~= "lost+found" then listing(img, p, out) end
  end
  return out
end

it("round-trips a tree through an image", function()
  local t <close> = sample()
  local img <close> = assert(ext4.create(dir .. "/rt.ext4", { size = 64 * MiB, tree = t,
    seed = "s", time = 1700000000 }))
  eq(table.concat(listing(img, "/"), "\n"), table.concat({
    "/bin symlink 777 0:0 0",
    "/etc dir 755 0:0 0",
    "/etc/passwd file 644 0:0 30",
    "/home dir 755 0:0 0",
    "/home/u dir 755 0:0 0",
    "/home/u/f file 644 1000:100000 10000",
    "/home/u/g file 644 1000:100000 10000",
    "/lost+found dir 700 0:0 0",
    "/usr dir 755 0:0 0",
    "/usr/bin dir 755 0:0 0",
    "/usr/bin/sudo file 6755 0:0 3",
  }, "\n"))
  local st = img:stat("/usr/bin/sudo")
  eq(st.mtime, -5)
  eq(st.links, 1)
  eq(img:stat("/home/u/g").nlink, 2)
  eq(img:stat("/home/u/g").ino, img:stat("/home/u/f").ino)
  eq(img:stat("/bin").target, "usr/bin")
  eq(img:stat("/bin/sudo", { follow = true }).mode, 3565)
  eq(img:read("/bin/sudo"), "ELF")
  eq(img:read("/home/u/f", 4), "zzzz")
  eq(img:stat("/").mtime, 1700000000)
  eq(img:exists("/nope"), false)
  eq(img:exists("/bin"), true)
end)

it("edits right after create", function()
  local t <close> = sample()
  local path = dir .. "/edit.ext4"
  local img = assert(ext4.create(path, { size = 64 * MiB, tree = t, label = "root" }))
  assert(img:mkdir("/var/lib/banger", { parents = true, mode = 448, uid = 5, gid = 6 }))
  assert(img:write("/var/lib/banger/first-boot-pending", ""))
  assert(img:write("/bin/agent", "#!/bin/sh\n", { mode = 493 }))
  assert(img:symlink("/etc/systemd/system/multi-user.target.wants/x.service",
    "/etc/systemd/system/x.service", { parents = true }))
  assert(img:set_inode_field("/usr/bin/sudo", "mode", 0x89ed))
  assert(img:set_inode_field("/usr/bin/sudo", "uid", 70000))
  assert(img:set_inode_field("/usr/bin/sudo", "mtime", 4102444800))
  assert(img:remove("/home", { recursive = true }))
  assert(img:close())
  assert(img:close()) -- idempotent
  spec.raises(function() img:stat("/") end, "attempt to use a closed image")

  local ro <close> = assert(ext4.open(path))
  local st = ro:stat("/var/lib/banger")
  eq(st.mode, 448)
  eq(st.uid, 5)
  eq(ro:stat("/usr/bin/agent").mode, 493)
  eq(ro:stat("/usr/bin/sudo").uid, 70000)
  eq(ro:stat("/usr/bin/sudo").mode, 2541)
  eq(ro:stat("/usr/bin/sudo").mtime, 4102444800)
  eq(ro:stat("/etc/systemd/system/multi-user.target.wants/x.service").target,
    "/etc/systemd/system/x.service")
  eq(ro:exists("/home"), false)
  eq(select(2, ro:write("/x", "y")), "/x: the image is open read-only")
end)

it("reports failures as nil, message, code", function()
  local t <close> = sample()
  local img, msg, code = ext4.create(dir .. "/small.ext4", { size = 32 * MiB, tree = t })
  eq(img, nil)
  eq(msg, "image size 33554432 is below the minimum of 64 MiB")
  eq(code, "invalid")
  local big <close> = tree.new()
  for i = 1, 70 do big:write("/f" .. i, string.rep(string.char(i), MiB)) end
  img, msg, code = ext4.create(dir .. "/small.ext4", { size = 64 * MiB, tree = big })
  eq(msg, "image too small: needs at least 76 MiB")
  eq(code, "nospace")
  eq(io.open(dir .. "/small.ext4"), nil)
  eq(ext4.min_size(big), 76 * MiB)
  local fits <close> = assert(ext4.create(dir .. "/fits.ext4", { size = 76 * MiB, tree = big }))
  img, msg = ext4.open(dir .. "/missing.ext4")
  eq(img, nil)
  spec.truthy(msg:find("cannot open " .. dir .. "/missing.ext4: No such file or directory", 1,
    true), msg)
  local ok <close> = assert(ext4.create(dir .. "/ok.ext4", { size = 64 * MiB, tree = t }))
  eq(select(2, ok:stat("/etc/nope")), "/etc/nope: no such file or directory")
  eq(select(3, ok:stat("/etc/nope")), "notfound")
  eq(select(2, ok:remove("/etc")), "/etc: directory not empty")
  eq(select(2, ok:mkdir("/etc")), "/etc: already exists")
  eq(select(2, ok:write("/etc", "x")), "/etc: is a directory")
end)

it("refuses misuse", function()
  local t <close> = sample()
  spec.raises(function() ext4.create("x", { tree = t }) end, "size (bytes) is required")
  spec.raises(function() ext4.create("x", { size = 64 * MiB }) end, "tree is required")
  spec.raises(function() ext4.create("x", { size = 64 * MiB, tree = t, uuid = "nope" }) end,
    "invalid UUID \"nope\"")
  local img <close> = assert(ext4.create(dir .. "/m.ext4", { size = 64 * MiB, tree = t }))
  spec.raises(function() img:set_inode_field("/", "colour", 1) end, "invalid option 'colour'")
  spec.raises(function() img:write("/x", "", { mode = 65536 }) end, "mode must be within")
  -- a NUL byte would cut the C string: the call would quietly mean a shorter name
  spec.raises(function() img:write("/a\0b", "x") end, "a NUL byte in the path")
  spec.raises(function() img:mkdir("/d\0e") end, "a NUL byte in the path")
  spec.raises(function() img:symlink("/s", "t\0u") end, "a NUL byte in the symlink target")
  spec.raises(function() img:remove("/etc\0x") end, "a NUL byte in the path")
  spec.raises(function() ext4.open(dir .. "/m.ext4\0x") end, "a NUL byte in the image path")
  eq(img:exists("/a"), false)
end)

it("is reproducible with a seed and a time", function()
  local t <close> = sample()
  local o = { size = 64 * MiB, tree = t, seed = "r", time = 1 }
  local a = assert(ext4.create(dir .. "/a.ext4", o)); a:close()
  local b = assert(ext4.create(dir .. "/b.ext4", o)); b:close()
  local fa, fb = io.open(dir .. "/a.ext4", "rb"), io.open(dir .. "/b.ext4", "rb")
  local same = true
  while true do
    local x, y = fa:read(1 << 20), fb:read(1 << 20)
    if x ~= y then same = false break end
    if x == nil then break end
  end
  fa:close(); fb:close()
  eq(same, true)
end)


it("gives the sha256 of the image it closes, as a hash of all its bytes gives it", function()
  local digest = require "banger.digest"
  local t <close> = sample()
  local path = dir .. "/sum.ext4"
  local img = assert(ext4.create(path, { size = 64 * MiB, tree = t, seed = "s" }))
  assert(img:write("/late", "written after create"))
  local ok, sum, size = img:close { sha256 = true }
  assert(ok)
  eq(size, 64 * MiB)
  eq(sum, (digest.file(path)))
  local f = assert(io.open(path, "rb"))
  local bytes = f:read("a")
  f:close()
  eq(#bytes, 64 * MiB)
  eq(sum, digest.sha256(bytes))
  -- an opened image edited in place: hashed once written back
  local ed = assert(ext4.open(path, { write = true }))
  assert(ed:write("/later", "x"))
  local ok2, sum2, size2 = ed:close { sha256 = true }
  assert(ok2)
  eq(size2, 64 * MiB)
  eq(sum2, (digest.file(path)))
  assert(sum2 ~= sum)
  -- closed already: nothing more to say
  eq(select("#", img:close { sha256 = true }), 1)
  spec.raises(function() img:close("yes") end, "table expected")
end)

it("runs meanwhile during the sync, after the write-back, and raises its error after", function()
  local t <close> = sample()
  local path = dir .. "/meanwhile.ext4"
  os.remove(path)
  local img = assert(ext4.create(path, { size = 64 * MiB, tree = t, seed = "s" }))
  local seen
  local ok, sum = img:close { sha256 = true, meanwhile = function()
    -- the image is written back (complete under its temporary name), not yet in place
    seen = io.open(path, "rb") == nil
    spec.raises(function() img:stat("/") end, "attempt to use a closed image")
    t:close()
  end }
  assert(ok and sum)
  eq(seen, true)
  eq(sum, (require("banger.digest").file(path)))
  local t2 <close> = sample()
  local img2 = assert(ext4.create(dir .. "/raises.ext4", { size = 64 * MiB, tree = t2 }))
  spec.raises(function()
    img2:close { meanwhile = function() error("from meanwhile") end }
  end, "from meanwhile")
  -- the image itself was finished: the error is the function's, not the close's
  local ro <close> = assert(ext4.open(dir .. "/raises.ext4"))
  spec.raises(function() img2:close { meanwhile = 5 } end, "meanwhile as a function")
end)

spec.done()
