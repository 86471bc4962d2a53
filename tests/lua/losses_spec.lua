local spec = require "spec"
local losses = require "banger.losses"
local tree = require "banger.tree"
local guest = require "banger.guest"
local tar = require "tarball"
local cjson = require "cjson"
local it, eq = spec.it, spec.eq

-- A source of notes without a tree behind it: what a capped list looks like.
local function fake(list, total, counts)
  return { notes = function() return list, total, counts end }
end

it("says so when nothing was lost", function()
  local r = losses.new()
  local t <close> = tree.new()
  r:take(t)
  eq(r:summary(), "nothing lost: the image holds everything the layers say")
  eq(r:result().total, 0)
  eq(next(r:result().kinds), nil)
  eq(r:lines(), "")
end)

it("counts the tree's notes by kind, once per source", function()
  local l = tar.layer(spec.tmpdir(), {
    { name = "dev/", type = "5" },
    { name = "dev/null", type = "3", major = 1, minor = 3, mode = 438 },
    { name = "dev/zero", type = "3", major = 1, minor = 5, mode = 438 },
    { name = "run/initctl", type = "6", mode = 384 },
    { name = "etc/", type = "5" },
    { name = "etc/passwd", data = "root:x:0:0::/root:/bin/sh\n" },
  })
  local t <close> = assert(tree.from_layers({ l }, { devices = "skip" }))
  local r = losses.new()
  r:take(t)
  r:take(t) -- nothing new
  eq(r.total, 3)
  eq(r.counts.device, 2)
  eq(r.counts.fifo, 1)
  eq(r:summary(), "dropped 2 device nodes, 1 fifo; kept everything else")
  -- the pipeline's own changes come later and add only themselves
  t:remap(function(uid, gid, path)
    if path == "/etc/passwd" then return 1000, 1000 end
  end)
  guest.mountpoints(t)
  r:take(t)
  eq(r.counts.owner_remapped, 1)
  eq(r.counts.mountpoint_created, 4) -- /dev was in the layer
  eq(r.total, 8)
  eq(r:summary(), "dropped 2 device nodes, 1 fifo; changed 1 owner (remap); created 4 mount " ..
    "points; kept everything else")
  local res = r:result()
  eq(res.kinds.device.count, 2)
  eq(table.concat(res.kinds.device.examples, " "), "/dev/null /dev/zero")
  eq(table.concat(res.kinds.mountpoint_created.examples, " "), "/proc /sys /run /tmp")
  eq(res.unlisted, nil)
  -- every entry a JSON line: kind, path, layer, detail
  local lines = {}
  for line in r:lines():gmatch("[^\n]+") do lines[#lines + 1] = cjson.decode(line) end
  eq(#lines, 8)
  eq(lines[1].kind, "device")
  eq(lines[1].path, "/dev/null")
  eq(lines[1].layer, 1)
  eq(lines[1].detail, "character device 1:3 (devices=skip)")
  eq(lines[3].detail, "fifo (devices=skip)")
  eq(lines[4].kind, "owner_remapped")
  eq(lines[4].detail, "0:0 -> 1000:1000 (remap)")
  eq(lines[4].layer, 0)
  eq(lines[5].detail, "made 0755 0:0: the guest mounts a filesystem here")
end)

it("notes what the payload replaced", function()
  local t <close> = tree.new()
  assert(t:write("/usr/local/bin/banger-vsock-agent", "old"))
  assert(t:write("/tmp", "a file where a directory belongs"))
  local payload = guest.payload("none")
  payload[#payload + 1] = { path = "/usr/local/bin/banger-vsock-agent", kind = "file",
    mode = "0755", content = "new" }
  guest.install(t, payload)
  local r = losses.new()
  r:take(t)
  eq(r.counts.replaced, 1)
  eq(r.counts.mountpoint_created, 5)
  local notes = t:notes()
  eq(notes[5].detail, "made 1777 0:0, replacing the layers' file: the guest mounts a " ..
    "filesystem here")
  eq(notes[6].kind, "replaced")
  eq(notes[6].detail, "the layers' file, replaced by the payload's file")
  eq(t:read("/usr/local/bin/banger-vsock-agent"), "new")
end)

it("phrases every kind, grouped by what was done", function()
  local counts = {}
  for _, k in ipairs(losses.KINDS) do counts[k.kind] = 2 end
  counts["lost+found_replaced"] = 1
  counts.future_kind = 3
  local r = losses.new()
  r:take(fake({}, 26, counts))
  eq(r:summary(), "dropped 2 device nodes, 2 fifos, 2 sockets, 2 overlayfs whiteouts, " ..
    "2 xattrs, 2 trusted.overlay xattrs; rewrote 2 v3 capabilities as v2; split 2 hardlink " ..
    "groups at ext4's link limit; clamped 2 inodes' times to ext4's range; changed 2 owners " ..
    "(remap), 3 future_kind; replaced /lost+found, 2 entries of the layers by the payload's; " ..
    "created 2 mount points; kept everything else")
  local one = losses.new()
  one:take(fake({}, 1, { xattr = 1 }))
  eq(one:summary(), "dropped 1 xattr; kept everything else")
end)

it("keeps up to 100 example paths a kind and says what the caps left out", function()
  local list = {}
  for i = 1, 150 do
    list[i] = { kind = "xattr", path = "/f" .. i, layer = 1, detail = "xattr user.a (xattrs=drop)" }
  end
  list[151] = { kind = "xattr", path = "/f1", layer = 2, detail = "xattr user.b (xattrs=drop)" }
  local r = losses.new()
  r:take(fake(list, 160, { xattr = 160 }))
  local res = r:result()
  eq(res.total, 160)
  eq(res.kinds.xattr.count, 160)
  eq(#res.kinds.xattr.examples, losses.EXAMPLES)
  eq(res.kinds.xattr.examples[100], "/f100")
  eq(res.unlisted, 9)
  local last
  for line in r:lines():gmatch("[^\n]+") do last = cjson.decode(line) end
  eq(last.kind, "unlisted")
  eq(last.detail, "9 more entries past the report's caps, counted in the totals but not listed")
end)

it("writes names that are not UTF-8 as \\xNN", function()
  eq(losses.text("/usr/share/caf\xc3\xa9"), "/usr/share/caf\xc3\xa9")
  eq(losses.text("/a\xff\xfeb"), "/a\\xff\\xfeb")
  eq(losses.text("\xc3"), "\\xc3")
  local r = losses.new()
  r:take(fake({ { kind = "device", path = "/dev/\xff", layer = 1, detail = "x" } }, 1,
    { device = 1 }))
  eq(cjson.decode(r:lines()).path, "/dev/\\xff")
  eq(r:result().kinds.device.examples[1], "/dev/\\xff")
end)

it("takes an image's warnings in the same shape", function()
  local ext4 = require "banger.ext4"
  local t <close> = tree.new()
  assert(t:write("/lost+found", "not a directory"))
  assert(t:write("/old", "x", { mtime = -(1 << 40) }))
  local fs <close> = assert(ext4.create(spec.tmpdir() .. "/w.ext4", { size = 64 << 20, tree = t }))
  local list, total, counts = fs:warnings()
  eq(total, 2)
  eq(counts["lost+found_replaced"], 1)
  eq(list[1].layer, 0)
  local r = losses.new()
  r:take(t)
  r:take(fs)
  eq(r:summary(), "clamped 1 inode's times to ext4's range; replaced /lost+found; kept " ..
    "everything else")
  assert(fs:close())
end)

spec.done()
