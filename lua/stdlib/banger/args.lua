--- Recipe arguments: a recipe declares the key=value pairs it takes, one row each
---
---   { "size", "size", nil, "a fixed image size such as 2G (default: sized by content)" }
---      name    type   default  one line of help          (then optional: required = true)
---
--- and `banger.arguments(rows)` checks the command line against them: an unknown key is an error
--- that names the key, the closest known one and all of them; a value is parsed by its type;
--- `banger-build RECIPE --help` prints the rows. `M.BUILD` holds the arguments of a build; a new
--- build option becomes a command-line argument of every recipe by one more row there.
---@class banger.args
local M = {}

local raise = require("banger.errors").raise

-- Each type: the placeholder --help shows, and a parser from the command-line string to the
-- value (or nil and why not).
M.TYPES = {}

M.TYPES.string = {
  metavar = "TEXT",
  parse = function(s) return s end,
}

M.TYPES.path = {
  metavar = "PATH",
  parse = function(s)
    if s == "" then return nil, "expected a path" end
    return s
  end,
}

local BOOLEANS = {
  ["1"] = true, ["true"] = true, yes = true, on = true,
  ["0"] = false, ["false"] = false, no = false, off = false,
}
M.TYPES.boolean = {
  metavar = "BOOL",
  parse = function(s)
    local v = BOOLEANS[s:lower()]
    if v == nil then return nil, "expected true or false (also 1/0, yes/no, on/off)" end
    return v
  end,
}

-- A number written as the pattern allows, converted (nil when it cannot be), or why not.
local function numeric(metavar, pattern, convert, want)
  return {
    metavar = metavar,
    parse = function(s)
      local n = s:match(pattern) and convert(tonumber(s))
      if not n then return nil, want end
      return n
    end,
  }
end

M.TYPES.integer = numeric("N", "^%-?%d+$", math.tointeger, "expected a whole number")
M.TYPES.ratio = numeric("X", "^%d*%.?%d+$", tonumber,
  "expected a number of 0 or more, such as 0.25")

M.TYPES.size = {
  metavar = "SIZE",
  parse = function(s)
    local sizes = require "banger.sizes"
    local n, err = sizes.parse(s)
    if not n then return nil, err end
    if n < sizes.FLOOR then
      return nil, string.format("%s is under the %s floor", sizes.format(n),
        sizes.format(sizes.FLOOR))
    end
    return n
  end,
}

-- A type the registry client's own parser checks: its value (a normalised platform), or the
-- text as given (an image reference).
local function oci_checked(metavar, parser, keep_text)
  return {
    metavar = metavar,
    parse = function(s)
      local v, err = require("banger.oci")[parser](s)
      if not v then return nil, err end
      return keep_text and s or v
    end,
  }
end

M.TYPES.platform = oci_checked("OS/ARCH", "parse_platform", false)
M.TYPES.image = oci_checked("IMAGE", "parse_ref", true)

--- The arguments of a build: every banger.run option a command line can set. A row per option;
--- `banger.run { args = args, ... }` passes each one to the option of the same name.
M.BUILD = {
  { "image", "image", nil, "the image: NAME:TAG, REGISTRY/NAME:TAG, oci:DIR:TAG, oci-archive:FILE",
    required = true },
  { "out", "path", nil, "the image file to write (default NAME-TAG.ext4 here)" },
  { "size", "size", nil, "a fixed image size such as 2G or 512M (default: sized by its content)" },
  { "headroom", "ratio", nil, "free space as a fraction of the content (default 0.25)" },
  { "label", "string", nil, "the filesystem label, at most 16 bytes" },
  { "inline_data", "boolean", false, "files of up to 128 bytes in their inodes (ext4 " ..
    "inline_data: no block each; boot loaders such as GRUB cannot read such an image)" },
  { "devices", "skip|keep", "skip", "device nodes and fifos in the layers: skipped or kept" },
  { "xattrs", "drop|keep", "drop", "extended attributes in the layers: dropped or kept" },
  { "platform", "platform", "linux/amd64", "the platform to pull: linux/amd64, linux/arm64/v8" },
  { "pull", "missing|always|never", "missing", "fetch what the cache lacks, always, or never" },
  { "insecure", "boolean", false, "plain http or unverified TLS to a registry not on loopback" },
  { "plan", "boolean", false, "print what the build would do and write nothing (like --plan)" },
  { "cache", "string", "local", "off, local, or REGISTRY/REPO: where a build of the same key is " ..
    "restored from, and kept (docs/fleet.md)" },
  { "push", "string", nil, "REGISTRY/REPO[:TAG]: push the image there as a rootfs artifact" },
  { "mirrors", "string", nil, "mirrors of the image's registry, HOST[:PORT],... (default: the " ..
    "site configuration's; empty: none)" },
  { "kernel", "path", nil, "a directory to write the image's kernel, initrd and vmlinux into, " ..
    "for a VMM that boots a kernel of its own (made when missing)" },
  { "init", "path", "/sbin/init", "the init the kernel starts (init= on its command line), " ..
    "checked before the build" },
  { "strict", "boolean", false, "every pre-flight finding (no init, no shell, the wrong " ..
    "machine, ...) is an error, before anything is written" },
  { "check", "boolean", false, "pull, flatten and run the pre-flight checks, print the " ..
    "findings and write nothing; exit status 0 only without findings" },
  { "distroless", "boolean", false, "build a distroless image (no shell, no package manager) " ..
    "without a finding: its vsock agent works, first boot cannot" },
  { "provenance", "boolean", true, "write the provenance record (in-toto, SLSA v1) beside " ..
    "the image as OUT.intoto.json" },
  { "report", "path", nil, "write every entry of the loss report (what the build dropped or " ..
    "changed of what the layers say) to this file, as JSON lines" },
}

local function type_of(row)
  local t = row[2]
  if M.TYPES[t] then return M.TYPES[t] end
  local choices = {}
  for w in t:gmatch("[^|]+") do choices[#choices + 1] = w end
  return {
    metavar = t,
    parse = function(s)
      for _, c in ipairs(choices) do
        if s == c then return s end
      end
      return nil, "expected " .. table.concat(choices, ", ", 1, #choices - 1) .. " or " ..
        choices[#choices]
    end,
  }
end

local function check_row(row, where)
  if type(row) ~= "table" then raise(where .. ": expected a row {name, type, default, help}") end
  local name, t, help = row[1], row[2], row[4]
  if type(name) ~= "string" or not name:match("^[a-z][a-z0-9_]*$") then
    raise(string.format("%s: the name must be a word of a-z, 0-9 and _, not %s", where,
      tostring(name)))
  end
  if type(t) ~= "string" or not (M.TYPES[t] or t:match("^[%w._-]+|[%w._|-]+$")) then
    raise(string.format("%s (%s): unknown type %s (expected one of %s, or choices a|b|c)", where,
      name, tostring(t), "string, path, boolean, integer, ratio, size, platform, image"))
  end
  if type(help) ~= "string" or help == "" then
    raise(string.format("%s (%s): the fourth field is its one line of help", where, name))
  end
  for k in pairs(row) do
    if not (k == 1 or k == 2 or k == 3 or k == 4 or k == "required") then
      raise(string.format("%s (%s): unknown field %s", where, name, tostring(k)))
    end
  end
end

-- A default, given as the value itself or as the string the command line would give; returns
-- the value and how --help shows it.
local function check_default(row, v)
  if v == nil then return nil end
  if type(v) == "string" then
    local parsed, err = type_of(row).parse(v)
    if parsed == nil then
      raise(string.format("argument %s: default %q: %s", row[1], v, err))
    end
    return parsed, v
  end
  local t = row[2]
  local ok = (t == "boolean" and type(v) == "boolean") or
    ((t == "integer" or t == "size") and math.type(v) == "integer") or
    (t == "ratio" and type(v) == "number" and v >= 0)
  if not ok then
    raise(string.format("argument %s: default %s does not fit type %s", row[1], tostring(v), t))
  end
  return v, t == "size" and require("banger.sizes").format(v) or tostring(v)
end

--- Levenshtein distance with adjacent transpositions, for "did you mean".
local function distance(a, b)
  local prev2, prev, cur = {}, {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    cur = { [0] = i }
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        cur[j] = math.min(cur[j], prev2[j - 2] + 1)
      end
    end
    prev2, prev = prev, cur
  end
  return prev[#b]
end

--- The candidate closest to word, when it is close enough to be a likely typo; else nil.
---@param word string
---@param candidates string[]
---@return string|nil
function M.closest(word, candidates)
  local best, best_d
  local lw = word:lower()
  for _, c in ipairs(candidates) do
    local d = distance(lw, c:lower())
    if #lw >= 3 and c:sub(1, #lw) == lw then d = math.min(d, 1) end
    if d <= math.max(1, #word // 3) and (not best_d or d < best_d) then best, best_d = c, d end
  end
  return best
end

-- Values made by M.parse, and the rows they were made from.
local ORIGIN = setmetatable({}, { __mode = "k" })

--- The rows of one or more declaration lists, in order, checked; later rows may not redeclare a
--- name. The hash part of any list sets new defaults for declared names.
---@return table rows, table<string, table> by_name
local function gather(...)
  local rows, by_name, defaults = {}, {}, {}
  for li = 1, select("#", ...) do
    local list = select(li, ...)
    if type(list) ~= "table" then
      raise(string.format("arguments: argument %d must be a list of rows, got %s", li, type(list)))
    end
    for i, row in ipairs(list) do
      check_row(row, string.format("arguments: row %d", i))
      if by_name[row[1]] then raise("arguments: " .. row[1] .. " is declared twice") end
      local copy = { row[1], row[2], row[3], row[4], required = row.required }
      rows[#rows + 1], by_name[row[1]] = copy, copy
    end
    for k, v in pairs(list) do
      if math.type(k) ~= "integer" then defaults[k] = v end
    end
  end
  for name, v in pairs(defaults) do
    if not by_name[name] then
      raise(string.format("arguments: a default for %s, which is not declared", tostring(name)))
    end
    by_name[name][3] = v
  end
  for _, row in ipairs(rows) do row[3], row.shown = check_default(row, row[3]) end
  return rows, by_name
end

-- The recipe's leading comment block, "-- " taken off each line.
local function header(path)
  local f = path and io.open(path, "rb")
  if not f then return {} end
  local lines = {}
  for line in f:lines() do
    if #lines == 0 and line:match("^#!") then goto continue end
    if not line:match("^%-%-") then break end
    lines[#lines + 1] = (line:gsub("^%-%-%-? ?", ""))
    ::continue::
  end
  f:close()
  while #lines > 0 and lines[#lines] == "" do lines[#lines] = nil end
  return lines
end
M.header = header

local function wrap(text, width)
  local lines, line = {}, ""
  for word in text:gmatch("%S+") do
    if line ~= "" and #line + 1 + #word > width then
      lines[#lines + 1], line = line, word
    else
      line = line == "" and word or (line .. " " .. word)
    end
  end
  lines[#lines + 1] = line
  return lines
end

-- The text of `banger-build RECIPE --help` for gathered rows (nil: the recipe declares none).
local function help_of(rows)
  local runtime = require "banger.runtime"
  local name = runtime.recipe_name or runtime.recipe or "RECIPE"
  local out = { string.format("usage: banger-build %s [key=value ...] [options]", name), "" }
  local head = header(runtime.recipe)
  for _, line in ipairs(head) do out[#out + 1] = line end
  if #head > 0 then out[#out + 1] = "" end
  if rows == nil then
    out[#out + 1] = "This recipe declares no arguments (banger.arguments): every key=value " ..
      "reaches it unchecked, as the table `args`."
  else
    out[#out + 1] = "arguments:"
    for _, row in ipairs(rows) do
      local left = string.format("  %s=%s", row[1], type_of(row).metavar)
      local help = row[4]
      if row.required then
        help = help .. " (required)"
      elseif row[3] ~= nil then
        -- the declared default, which a recipe may have changed, not the one the text names
        help = help:gsub("%s*%(default [^)]*%)", "") .. " (default " .. row.shown .. ")"
      end
      local text = wrap(help, 100 - 26)
      if #left > 24 then
        out[#out + 1] = left
        left = ""
      end
      for i, t in ipairs(text) do
        out[#out + 1] = string.format("%-26s%s", i == 1 and left or "", t)
      end
    end
  end
  out[#out + 1] = ""
  out[#out + 1] = "options: -q, -v, --json, --cache-dir DIR, --progress MODE, --plan " ..
    "(banger-build --help)"
  return table.concat(out, "\n")
end

--- The text of `banger-build RECIPE --help`: its usage, its leading comment and the arguments
--- the lists declare (as `M.parse` takes them).
---@return string
function M.help_text(...)
  return help_of((gather(...)))
end

--- For a recipe run with --help that never declared its arguments: prints what is known of it.
function M.describe()
  io.stdout:write(help_of(nil), "\n")
end

local function usage(fmt, ...)
  local runtime = require "banger.runtime"
  runtime.exit(2, string.format(fmt, ...))
end

--- Checks the command line's key=value pairs (the global `args`) against the declarations and
--- returns the values, typed, with defaults filled in. Under `RECIPE --help` it prints the
--- arguments and ends the run. Errors are usage errors (exit status 2) naming the argument.
---@param ... table  lists of rows, e.g. `banger.arguments(banger.BUILD_ARGS, { {"x", ...} })`
---@return table values
function M.parse(...)
  local runtime = require "banger.runtime"
  local rows, by_name = gather(...)
  if runtime.mode() == "help" then
    io.stdout:write(help_of(rows), "\n")
    io.stdout:flush()
    runtime.exit(0)
  end
  local recipe = runtime.recipe_name or runtime.recipe or "the recipe"
  local names = {}
  for _, row in ipairs(rows) do names[#names + 1] = row[1] end
  local raw = rawget(_G, "args") or {}
  local keys = {}
  for k in pairs(raw) do keys[#keys + 1] = k end
  table.sort(keys)
  local values = {}
  for _, k in ipairs(keys) do
    local row = by_name[k]
    if not row then
      local near = M.closest(k, names)
      usage("unknown argument '%s';%s %s takes %s (banger-build %s --help)", k,
        near and (" did you mean '" .. near .. "'?") or "", recipe,
        #names > 0 and table.concat(names, ", ") or "no arguments", recipe)
    end
    local v, err = type_of(row).parse(raw[k])
    if v == nil then usage("argument %s=%s: %s", k, raw[k], err) end
    values[k] = v
  end
  for _, row in ipairs(rows) do
    if values[row[1]] == nil then
      if row.required then
        usage("argument %s= is required: %s (banger-build %s --help)", row[1], row[4], recipe)
      end
      values[row[1]] = row[3]
    end
  end
  if runtime.mode() == "plan" then
    if not by_name.plan then
      usage("%s has no plan mode: it declares no 'plan' argument", recipe)
    end
    values.plan = true
  elseif values.plan then
    runtime.enter_plan()
  end
  ORIGIN[values] = rows
  return values
end

--- True when t was made by M.parse.
function M.is_values(t)
  return ORIGIN[t] ~= nil
end

--- opts with opts.args spread into it: every argument whose name is also an option in `allowed`
--- becomes that option. An option set both ways is an error (give the recipe's value as the
--- argument's default instead).
---@param opts table
---@param allowed table<string, any>
---@param fname string
---@return table
function M.spread(opts, allowed, fname)
  if opts.args == nil then return opts end
  if not ORIGIN[opts.args] then
    raise(fname .. ": args must be what banger.arguments returned")
  end
  local out = {}
  for k, v in pairs(opts) do
    if k ~= "args" then out[k] = v end
  end
  for _, row in ipairs(ORIGIN[opts.args]) do
    local name, v = row[1], opts.args[row[1]]
    if allowed[name] and v ~= nil then
      if opts[name] ~= nil then
        raise(string.format("%s: %s is set by the recipe and is an argument too; make the " ..
          "recipe's value the argument's default (banger.arguments(..., { %s = ... }))", fname,
          name, name))
      end
      out[name] = v
    end
  end
  return out
end

return M
