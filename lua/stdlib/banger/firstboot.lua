--- Renders the first-boot script (assets/first-boot.sh.in) from a dispatch table.
---
---   local dispatch = require("banger.distros").default()
---   table.insert(dispatch, 1, { ids = { "gentoo" }, manager = "emerge",
---     install = { "emerge --noreplace net-misc/openssh" },
---     enable = { "rc-update add sshd default", "rc-service sshd start" } })
---   local script = require("banger.firstboot").render(dispatch)
local runtime = require "banger.runtime"

local M = {}

local PLACEHOLDER = "@BANGER_DISPATCH@"
local FIELDS = { ids = true, manager = true, install = true, enable = true }

--- The word as one shell single-quoted literal.
---@param s string
---@return string
function M.quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function fail(where, fmt, ...)
  error(where .. ": " .. string.format(fmt, ...), 0)
end

-- A list (1..n, nothing else) of the given kind; returns n.
local function check_list(v, where, what, allow_empty)
  if type(v) ~= "table" then fail(where, "expected %s, got %s", what, type(v)) end
  local n = #v
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      fail(where, "unexpected key %s (expected %s)", tostring(k), what)
    end
  end
  if n == 0 and not allow_empty then fail(where, "expected %s, got an empty table", what) end
  return n
end

local function check_commands(v, where, allow_empty)
  check_list(v, where, "a list of shell commands", allow_empty)
  for i, cmd in ipairs(v) do
    local w = string.format("%s[%d]", where, i)
    if type(cmd) ~= "string" then fail(w, "expected a string, got %s", type(cmd)) end
    if not cmd:find("%S") then fail(w, "empty command") end
    -- one command, one line: the plan output and the logs stay readable
    if cmd:find("[%z\1-\8\10-\31\127]") then
      fail(w, "commands may not contain newlines or control characters")
    end
  end
end

--- Checks a dispatch table; raises "dispatch[2].ids[1]: ..." naming the first problem.
---@param dispatch banger.DispatchEntry[]
function M.validate(dispatch)
  check_list(dispatch, "dispatch", "a list of entries")
  for i, e in ipairs(dispatch) do
    local where = string.format("dispatch[%d]", i)
    if type(e) ~= "table" then fail(where, "expected a table, got %s", type(e)) end
    for k in pairs(e) do
      if not FIELDS[k] then
        fail(where, "unknown field %s (expected ids, manager, install, enable)", tostring(k))
      end
    end
    if e.ids == nil then fail(where, "missing ids") end
    check_list(e.ids, where .. ".ids", "a list of distro ids")
    for j, id in ipairs(e.ids) do
      local w = string.format("%s.ids[%d]", where, j)
      if type(id) ~= "string" then fail(w, "expected a string, got %s", type(id)) end
      if not id:match("^[a-z0-9._-]+%*?$") then
        fail(w, "%q is not a distro id ([a-z0-9._-]+, optionally ending in *)", id)
      end
    end
    if e.manager ~= nil then
      if type(e.manager) ~= "string" then
        fail(where .. ".manager", "expected a string, got %s", type(e.manager))
      end
      if not e.manager:match("^[A-Za-z0-9._+-]+$") or e.manager:sub(1, 1) == "-" then
        fail(where .. ".manager", "%q is not a command name ([A-Za-z0-9._+-]+)", e.manager)
      end
    end
    if e.install == nil then fail(where, "missing install") end
    check_commands(e.install, where .. ".install", false)
    if e.enable ~= nil then check_commands(e.enable, where .. ".enable", true) end
  end
end

local function body(out, commands)
  if commands == nil or #commands == 0 then
    out[#out + 1] = "  :"
    return
  end
  for _, cmd in ipairs(commands) do
    out[#out + 1] = "  run " .. M.quote(cmd)
  end
end

-- The branch's name in logs and plans: its first id and its package manager.
local function branch_name(e)
  return e.ids[1]:gsub("%*$", "") .. (e.manager and " (" .. e.manager .. ")" or "")
end
M.branch_name = branch_name

-- Whether an entry serves an os-release word: an id equal to it, or a prefix ending in "*".
local function serves(e, word)
  for _, id in ipairs(e.ids) do
    if id == word or (id:sub(-1) == "*" and word:sub(1, #id - 1) == id:sub(1, -2)) then
      return true
    end
  end
  return false
end

---@class banger.firstboot.Choice
---@field index integer      the entry planned
---@field entry banger.DispatchEntry
---@field branch string      its name, "fedora (dnf)"
---@field word string        the os-release word it matched
---@field fallbacks integer[]  later entries for the same word (used when the manager is missing)

--- The branch the script plans for a distro, decided from os-release alone the way the
--- script's RUN_PLAN=1 mode decides it: ID, then each ID_LIKE word, the first entry serving the
--- word. Returns nil when no entry serves any word.
---@param dispatch banger.DispatchEntry[]
---@param info {id: string, id_like: string[]}  banger.distro.detect's result
---@return banger.firstboot.Choice|nil
function M.select(dispatch, info)
  M.validate(dispatch)
  local words = { info.id }
  for _, w in ipairs(info.id_like or {}) do words[#words + 1] = w end
  for _, word in ipairs(words) do
    if word:match("^[a-z0-9._-]+$") then
      for i, e in ipairs(dispatch) do
        if serves(e, word) then
          local fallbacks = {}
          for j = i + 1, #dispatch do
            if serves(dispatch[j], word) then fallbacks[#fallbacks + 1] = j end
          end
          return { index = i, entry = e, branch = branch_name(e), word = word,
            fallbacks = fallbacks }
        end
      end
    end
  end
  return nil
end

--- The generated shell: banger_match WORD [FIRST] and one install/enable function pair per
--- entry.
---@param dispatch banger.DispatchEntry[]
---@return string
function M.dispatch_code(dispatch)
  M.validate(dispatch)
  local out = {
    "# banger_match WORD [FIRST]: picks the first entry from FIRST on (default 1) that serves",
    "# WORD and whose package manager is installed (in plan mode: that serves WORD, whatever is",
    "# installed); sets banger_entry, banger_branch and banger_manager, and collects the missing",
    "# managers in banger_missing.",
    "banger_match() {",
    "  banger_entry=",
    "  _from=${2:-1}",
  }
  for i, e in ipairs(dispatch) do
    -- ids are [a-z0-9._-] words with an optional trailing *: safe as case patterns unquoted
    out[#out + 1] = string.format("  [ %d -lt \"$_from\" ] || case $1 in", i)
    out[#out + 1] = "    " .. table.concat(e.ids, " | ") .. ")"
    local found = string.format("banger_entry=%d; banger_branch=%s; banger_manager=%s; return 0",
      i, M.quote(branch_name(e)), M.quote(e.manager or ""))
    if e.manager then
      out[#out + 1] = string.format("      if [ \"$plan\" = 1 ] || have %s; then %s; fi",
        M.quote(e.manager), found)
      out[#out + 1] = string.format("      case \" $banger_missing \" in *%s*) ;; *) " ..
        "banger_missing=\"$banger_missing \"%s ;; esac ;;", M.quote(" " .. e.manager .. " "),
        M.quote(e.manager))
    else
      out[#out + 1] = "      " .. found .. " ;;"
    end
    out[#out + 1] = "  esac"
  end
  out[#out + 1] = "  return 1"
  out[#out + 1] = "}"
  for i, e in ipairs(dispatch) do
    out[#out + 1] = ""
    out[#out + 1] = string.format("# %s", table.concat(e.ids, " "))
    out[#out + 1] = string.format("banger_install_%d() {", i)
    body(out, e.install)
    out[#out + 1] = "}"
    out[#out + 1] = string.format("banger_enable_%d() {", i)
    body(out, e.enable)
    out[#out + 1] = "}"
  end
  return table.concat(out, "\n")
end

--- Renders the first-boot script for a dispatch table (see banger.distros).
---@param dispatch banger.DispatchEntry[]
---@return string script the POSIX sh text to install as /usr/local/libexec/banger-first-boot
function M.render(dispatch)
  local code = M.dispatch_code(dispatch)
  local template = assert(runtime.asset("first-boot.sh.in"))
  local s, e = template:find(PLACEHOLDER, 1, true)
  assert(s and not template:find(PLACEHOLDER, e + 1, true),
    "first-boot.sh.in must hold " .. PLACEHOLDER .. " exactly once")
  return template:sub(1, s - 1) .. code .. template:sub(e + 1)
end

return M
