--- Errors that point at the recipe: the message is placed at the first stack frame outside the
--- standard library, so a failure deep in the pipeline reads "recipes/x.lua:12: pulling ...".
---@class banger.errors
local M = {}

-- this file's directory: "@[stdlib]" when built in, the source directory with BANGER_LUA_PATH
local HERE = debug.getinfo(1, "S").source
local PREFIX = HERE:match("^(@%[stdlib%])") or HERE:match("^(.*)/[^/]*$")

local function in_stdlib(source)
  return source:sub(1, #PREFIX) == PREFIX
end

--- Raises msg at the first Lua frame that is not the standard library's (or, when there is none,
--- with the recipe's name in front).
---@param msg string
function M.raise(msg)
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info then
      -- a recipe that ends in `return banger.run{...}` left no frame of its own (a tail call)
      local recipe = require("banger.runtime").recipe
      error(recipe and (recipe .. ": " .. msg) or msg, 0)
    end
    if info.what ~= "C" and not in_stdlib(info.source) then
      error(msg, level)
    end
    level = level + 1
  end
end

--- Untrusted bytes (an image's names, link targets, file contents) as a message may show them:
--- bytes outside printable ASCII as \xNN, so nothing reaches a terminal as a control sequence.
---@param s string
---@return string
function M.shown(s)
  return (s:gsub("[%c\127-\255\\]", function(c)
    if c == "\\" then return "\\\\" end
    return string.format("\\x%02x", c:byte())
  end))
end

--- Formats and raises like string.format.
---@param fmt string
function M.raisef(fmt, ...)
  M.raise(string.format(fmt, ...))
end

return M
