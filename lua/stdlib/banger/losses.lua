--- The loss report: every change a build makes to what the layers say, counted by kind and
--- listed. Its entries are the notes of the tree (`tree:notes()`: what flattening left out or
--- changed, what the pipeline changed after: owners by `remap`, mount points made, entries the
--- payload replaced) and of the image (`fs:warnings()`: what ext4 could not hold as given), one
--- shape for both: `{kind, path, layer, detail}`, layer 0 for what the build did after the layers.
---
---   local report = losses.new()
---   report:take(tree); report:take(fs)        -- again later: only what is new is added
---   report:summary()   --> "dropped 12 device nodes, 3 xattrs; kept everything else"
---   report:result()    --> { summary, total, kinds = { device = { count, examples } } }
---   report:lines()     --> every entry as a JSON line
---@class banger.losses
local M = {}

--- Example paths kept per kind in `result()`.
M.EXAMPLES = 100

--- The kinds, in the order the summary names them: the verb, and the noun for one and for many
--- (`fixed`: the noun alone, without a count).
M.KINDS = {
  { kind = "device", verb = "dropped", one = "device node", many = "device nodes" },
  { kind = "fifo", verb = "dropped", one = "fifo", many = "fifos" },
  { kind = "socket", verb = "dropped", one = "socket", many = "sockets" },
  { kind = "overlay_whiteout", verb = "dropped", one = "overlayfs whiteout",
    many = "overlayfs whiteouts" },
  { kind = "xattr", verb = "dropped", one = "xattr", many = "xattrs" },
  { kind = "overlay_xattr", verb = "dropped", one = "trusted.overlay xattr",
    many = "trusted.overlay xattrs" },
  { kind = "capability_v2", verb = "rewrote", one = "v3 capability as v2",
    many = "v3 capabilities as v2" },
  { kind = "hardlinks_split", verb = "split", one = "hardlink group at ext4's link limit",
    many = "hardlink groups at ext4's link limit" },
  { kind = "time_clamped", verb = "clamped", one = "inode's times to ext4's range",
    many = "inodes' times to ext4's range" },
  { kind = "owner_remapped", verb = "changed", one = "owner (remap)", many = "owners (remap)" },
  { kind = "lost+found_replaced", verb = "replaced", one = "/lost+found", fixed = true },
  { kind = "replaced", verb = "replaced", one = "entry of the layers by the payload's",
    many = "entries of the layers by the payload's" },
  { kind = "mountpoint_created", verb = "created", one = "mount point", many = "mount points" },
}

local BY_KIND = {}
for i, k in ipairs(M.KINDS) do BY_KIND[k.kind] = i end

--- A string as JSON can carry it: bytes that are not UTF-8 (names are raw bytes) as "\xNN".
---@param s string
---@return string
function M.text(s)
  if utf8.len(s) then return s end
  local out, i = {}, 1
  while i <= #s do
    local ok, bad = utf8.len(s, i)
    if ok then
      out[#out + 1] = s:sub(i)
      break
    end
    out[#out + 1] = s:sub(i, bad - 1)
    out[#out + 1] = string.format("\\x%02x", s:byte(bad))
    i = bad + 1
  end
  return table.concat(out)
end

---@class banger.losses.Entry
---@field kind string    "device", "xattr", "hardlinks_split", ...
---@field path string    the path in the image
---@field layer integer  the layer it came from (1 for the base), 0 for the build's own changes
---@field detail string  what and why, for people

---@class banger.losses.Report
---@field entries banger.losses.Entry[]  every entry listed, in order
---@field total integer                  every entry made, listed or not
---@field counts table<string, integer>  by kind, listed or not
local Report = {}
Report.__index = Report

--- A report with nothing in it.
---@return banger.losses.Report
function M.new()
  return setmetatable({ entries = {}, total = 0, counts = {},
    seen = setmetatable({}, { __mode = "k" }) }, Report)
end

--- Adds the notes of a tree or an image. A source taken again adds only what it gained since.
---@param source userdata  a banger.tree or banger.ext4 image (open)
function Report:take(source)
  local list, total, counts
  if source.notes then
    list, total, counts = source:notes()
  else
    list, total, counts = source:warnings()
  end
  local s = self.seen[source] or { n = 0, total = 0, counts = {} }
  for i = s.n + 1, #list do self.entries[#self.entries + 1] = list[i] end
  self.total = self.total + total - s.total
  local copy = {}
  for k, c in pairs(counts) do
    self.counts[k] = (self.counts[k] or 0) + c - (s.counts[k] or 0)
    copy[k] = c
  end
  self.seen[source] = { n = #list, total = total, counts = copy }
end

-- The kinds with a count, in the summary's order (unknown kinds last, by name).
local function kinds_of(self)
  local ks = {}
  for k, c in pairs(self.counts) do
    if c > 0 then ks[#ks + 1] = k end
  end
  table.sort(ks, function(a, b)
    local ia, ib = BY_KIND[a] or #M.KINDS + 1, BY_KIND[b] or #M.KINDS + 1
    if ia ~= ib then return ia < ib end
    return a < b
  end)
  return ks
end

--- The report in one line: "dropped 12 device nodes, 3 xattrs; created 1 mount point; kept
--- everything else", or what a build that changed nothing says.
---@return string
function Report:summary()
  local groups, order = {}, {}
  for _, k in ipairs(kinds_of(self)) do
    local d = M.KINDS[BY_KIND[k]] or { verb = "changed", one = k, many = k }
    local n = self.counts[k]
    local phrase = d.fixed and d.one or string.format("%d %s", n, n == 1 and d.one or d.many)
    if not groups[d.verb] then
      groups[d.verb] = {}
      order[#order + 1] = d.verb
    end
    table.insert(groups[d.verb], phrase)
  end
  if #order == 0 then return "nothing lost: the image holds everything the layers say" end
  local parts = {}
  for _, verb in ipairs(order) do
    parts[#parts + 1] = verb .. " " .. table.concat(groups[verb], ", ")
  end
  return table.concat(parts, "; ") .. "; kept everything else"
end

--- What --json reports as `losses`: the summary, the total, and per kind its count and up to
--- M.EXAMPLES example paths; `unlisted` counts entries past the lists' caps (counted, not listed).
---@return table
function Report:result()
  local kinds = {}
  for _, k in ipairs(kinds_of(self)) do kinds[k] = { count = self.counts[k], examples = {} } end
  local seen = {}
  for _, e in ipairs(self.entries) do
    local k = kinds[e.kind]
    if k and #k.examples < M.EXAMPLES then
      local key = e.kind .. "\0" .. e.path
      if not seen[key] then
        seen[key] = true
        k.examples[#k.examples + 1] = M.text(e.path)
      end
    end
  end
  local unlisted = self.total - #self.entries
  return { summary = self:summary(), total = self.total, kinds = kinds,
    unlisted = unlisted > 0 and unlisted or nil }
end

--- Every entry as one JSON object a line (kind, path, layer, detail); when the lists' caps left
--- some out, a last line of kind "unlisted" says how many.
---@return string
function Report:lines()
  local enc = require("cjson").encode
  local out = {}
  local function line(kind, path, layer, detail)
    out[#out + 1] = string.format('{"kind":%s,"path":%s,"layer":%d,"detail":%s}\n', enc(kind),
      enc(M.text(path)), layer, enc(M.text(detail)))
  end
  for _, e in ipairs(self.entries) do line(e.kind, e.path, e.layer, e.detail) end
  local unlisted = self.total - #self.entries
  if unlisted > 0 then
    line("unlisted", "", 0, string.format("%d more entries past the report's caps, counted in " ..
      "the totals but not listed", unlisted))
  end
  return table.concat(out)
end

return M
