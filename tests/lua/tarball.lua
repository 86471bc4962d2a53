-- Layers for the specs: a plain ustar writer, enough for layers in specs, and a layer file
-- made with it. An entry: { name, type = "0"|"5"|"2"|"1"|"3", data, link, mode, uid, gid,
-- mtime, major, minor }.
local M = {}

local function octal(n, width)
  return string.format("%0" .. (width - 1) .. "o", n) .. "\0"
end

function M.tar(entries)
  local out = {}
  for _, e in ipairs(entries) do
    local data = e.data or ""
    local h = e.name .. string.rep("\0", 100 - #e.name)
      .. octal(e.mode or (e.type == "5" and 493 or 420), 8)
      .. octal(e.uid or 0, 8) .. octal(e.gid or 0, 8) .. octal(#data, 12)
      .. octal(e.mtime or 1700000000, 12) .. "        " .. (e.type or "0")
      .. (e.link or "") .. string.rep("\0", 100 - #(e.link or ""))
      .. "ustar\0" .. "00" .. string.rep("\0", 32 + 32)
      .. octal(e.major or 0, 8) .. octal(e.minor or 0, 8) .. string.rep("\0", 155 + 12)
    assert(#h == 512)
    local sum = 0
    for i = 1, 512 do sum = sum + h:byte(i) end
    h = h:sub(1, 148) .. string.format("%06o\0 ", sum) .. h:sub(157)
    out[#out + 1] = h .. data .. string.rep("\0", (512 - #data % 512) % 512)
  end
  out[#out + 1] = string.rep("\0", 1024)
  return table.concat(out)
end

local count = 0

--- Writes entries as a layer file in dir; returns the layer table banger.tree takes.
function M.layer(dir, entries)
  count = count + 1
  local path = dir .. "/layer" .. count .. ".tar"
  local bytes = M.tar(entries)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return { path = path, media_type = "application/vnd.oci.image.layer.v1.tar",
    diff_id = require("banger.digest").sha256(bytes) }
end

return M
