-- A tiny spec runner for tests/lua/*_spec.lua, which banger-build runs like recipes.
-- Each `it` runs in protected mode; the spec fails (raises) if any case failed.
local M = {}
local failures, count, prefix, finished = 0, 0, "", false

function M.describe(name, fn)
  local old = prefix
  prefix = prefix .. name .. " "
  fn()
  prefix = old
end

function M.it(name, fn)
  -- a case after done() would run with its result counted nowhere
  if finished then error("spec.it after spec.done(): " .. prefix .. name, 2) end
  count = count + 1
  local ok, err = xpcall(fn, require("banger.runtime").traceback)
  if ok then
    io.stdout:write("ok ", prefix, name, "\n")
  else
    failures = failures + 1
    io.stderr:write("FAIL ", prefix, name, ": ", tostring(err), "\n")
  end
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

function M.eq(got, want, what)
  if got ~= want then
    error(string.format("%sexpected %s, got %s", what and (what .. ": ") or "", show(want),
      show(got)), 2)
  end
end

function M.truthy(v, what)
  if not v then error((what or "value") .. " is not truthy", 2) end
end

--- Calls fn, expects it to raise, and returns the message (checked against pattern if given).
function M.raises(fn, pattern)
  local ok, err = pcall(fn)
  if ok then error("expected an error", 2) end
  err = tostring(err)
  if pattern and not err:find(pattern, 1, true) then
    error(string.format("error %q does not contain %q", err, pattern), 2)
  end
  return err
end

--- A fresh directory for the spec's files (the test's own working directory).
function M.tmpdir()
  return os.getenv("BG_TEST_DIR") or "."
end

--- Ends the spec: raises if any case failed.
function M.done()
  finished = true
  if count == 0 then error("no cases ran") end
  if failures > 0 then error(string.format("%d of %d cases failed", failures, count), 0) end
  io.stdout:write(string.format("%d passed, 0 failed\n", count))
end

return M
