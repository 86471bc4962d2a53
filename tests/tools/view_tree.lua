-- The tree's view of layers, for comparison with the kernel's view of the image made from it
-- (tests/lib/kernel_view.sh): one line per name, bytewise sorted, the root first. Run by
-- banger-build: view_tree.lua layers=a.tar,b.tar.gz,... out=IMAGE
--   path type mode uid gid size nlink mtime atime ctime what xattrs
-- Bytes outside printable ASCII in names, targets and xattrs are shown as \xNN. The image is
-- written too, sized with ext4.min_size, so both views come from one tree.
local tree, ext4, digest = require "banger.tree", require "banger.ext4", require "banger.digest"

local function show(s)
  return (s:gsub(".", function(c)
    local b = c:byte()
    if c == "\\" then return "\\\\" end
    if b < 33 or b > 126 then return string.format("\\x%02x", b) end
  end))
end

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local media = "application/vnd.oci.image.layer.v1.tar"
local layers = {}
for path in args.layers:gmatch("[^,]+") do
  local mt = media
  if path:match("%.gz$") then mt = mt .. "+gzip" elseif path:match("%.zst$") then mt = mt .. "+zstd" end
  layers[#layers + 1] = { path = path, media_type = mt }
end
local t <close> = assert(tree.from_layers(layers, { devices = "keep", xattrs = "keep",
  image = args.name }))

local rows = {}
for path, st in t:walk() do
  local what = "-"
  if st.type == "file" then
    what = digest.sha256(assert(t:read(path, st.size))):sub(8)
  elseif st.type == "symlink" then
    what = "-> " .. show(st.target)
  elseif st.type == "chr" or st.type == "blk" then
    what = st.major .. ":" .. st.minor
  end
  local names = {}
  for name in pairs(st.xattrs or {}) do names[#names + 1] = name end
  table.sort(names)
  local xs = {}
  for _, name in ipairs(names) do xs[#xs + 1] = show(name) .. "=" .. hex(st.xattrs[name]) end
  local dir, root = st.type == "dir", path == "/"
  local times = root and "- - -" or string.format("%d:%09d %d:%09d %d:%09d", st.mtime,
    st.mtime_nsec, st.atime, st.atime_nsec, st.ctime, st.ctime_nsec)
  rows[#rows + 1] = { path, string.format("%s %s %04o %d %d %d %d %s %s %s", show(path), st.type, st.mode,
    st.uid, st.gid, dir and 0 or st.size, dir and 0 or st.nlink, times, what,
    #xs > 0 and table.concat(xs, ",") or "-") }
end
-- by whole path, bytewise (the C locale), as the other side sorts
table.sort(rows, function(a, b) return a[1] < b[1] end)
for _, r in ipairs(rows) do io.write(r[2], "\n") end

local size = assert(ext4.min_size(t)) + 16 * 1024 * 1024
local img <close> = assert(ext4.create(args.out, { size = size, tree = t }))
