--- The recipe search path: a bare recipe name (`banger-build default`) is NAME.lua in the first
--- of ./recipes, $XDG_CONFIG_HOME/banger/recipes (else ~/.config/banger/recipes),
--- /etc/banger/recipes and the installed share/banger/recipes that has it.
---@class banger.recipes
local M = {}

local runtime = require "banger.runtime"
local args = require "banger.args"

--- The directories searched, in order.
---@return string[]
function M.dirs()
  return runtime.recipe_dirs
end

--- Every recipe on the search path: `{name, path, dir, summary, shadowed_by}` in search order,
--- then by name. A name found again in a later directory is shadowed by the first one.
---@return table[]
function M.list()
  local out, first = {}, {}
  for _, dir in ipairs(M.dirs()) do
    local files = runtime.recipes_in(dir)
    if files then
      table.sort(files)
      for _, file in ipairs(files) do
        local name = file:sub(1, -5)
        local path = dir .. "/" .. file
        out[#out + 1] = {
          name = name, path = path, dir = dir,
          summary = args.header(path)[1] or "",
          shadowed_by = first[name],
        }
        first[name] = first[name] or path
      end
    end
  end
  return out
end

--- Prints the list for --list-recipes: each directory that exists, its recipes and their first
--- comment lines.
function M.print_list()
  local list = M.list()
  local dir
  for _, r in ipairs(list) do
    if r.dir ~= dir then
      dir = r.dir
      io.stdout:write(dir, ":\n")
    end
    local note = r.shadowed_by and (" (hidden by " .. r.shadowed_by .. ")") or ""
    io.stdout:write(string.format("  %-12s %s%s\n", r.name, r.summary, note))
  end
  if #list == 0 then
    io.stdout:write("no recipes in ", table.concat(M.dirs(), ", "), "\n")
  end
end

--- The message for a name found nowhere.
---@param name string
---@return string
function M.not_found(name)
  local names = {}
  for _, r in ipairs(M.list()) do names[#names + 1] = r.name end
  local near = args.closest((name:gsub("%.lua$", "")), names)
  return string.format("no recipe named '%s' in %s;%s banger-build --list-recipes shows them all",
    name, table.concat(M.dirs(), ", "), near and (" did you mean '" .. near .. "'?") or "")
end

return M
