--- What `--plan` (or plan=1) prints instead of building: the image, the size the build would
--- choose, the first-boot branch the guest would take, and every path the payload would add.
---@class banger.plan
local M = {}

local runtime = require "banger.runtime"
local sizes = require "banger.sizes"

-- The first-boot part: the branch chosen from the image's os-release, as the script would.
local function first_boot(r)
  local injected = false
  for _, e in ipairs(r.payload or {}) do
    if e.source == "first-boot" then injected = true end
  end
  if not injected then return { status = "not injected" } end
  if not r.info then
    return { status = "no branch: the image has no os-release, so first boot will fail" }
  end
  local firstboot = require "banger.firstboot"
  local choice = firstboot.select(r.dispatch, r.info)
  if not choice then
    return { status = string.format("no branch for '%s': first boot will fail; add an entry " ..
      "to the recipe's dispatch table", r.info.id) }
  end
  local commands = {}
  for _, list in ipairs { choice.entry.install, choice.entry.enable or {} } do
    for _, c in ipairs(list) do commands[#commands + 1] = c end
  end
  local fallbacks = {}
  for _, j in ipairs(choice.fallbacks) do
    fallbacks[#fallbacks + 1] = firstboot.branch_name(r.dispatch[j])
  end
  return {
    status = string.format("the '%s' branch (matched '%s')", choice.branch, choice.word),
    branch = choice.branch, word = choice.word, manager = choice.entry.manager,
    commands = commands, fallbacks = fallbacks,
  }
end

--- Prints the plan (unless --json) and records it as the run's result.
---@param r table  img, tree, info, out, size, inodes, fixed, injected, dispatch, payload,
---                edit_tree, edit_image, kernel (banger.bootfiles.describe's, for kernel=DIR),
---                checks (from banger.run)
---@return table result
function M.report(r)
  local st = r.tree:stats(4096)
  local fb = first_boot(r)
  local result = {
    plan = true,
    image = r.img.ref, digest = r.img.digest, platform = r.img.platform,
    output = r.out, size = r.size, inodes = r.inodes,
    sizing = r.fixed and "fixed" or "content",
    distro = r.info and r.info.id or nil,
    first_boot = fb,
    injected = #r.injected > 0 and r.injected or nil,
    kernel = r.kernel,
    checks = r.checks,
  }
  runtime.set_result(result)
  if runtime.json then return result end

  local out = {}
  local function add(fmt, ...) out[#out + 1] = string.format(fmt, ...) end
  add("plan for %s (%s): nothing is written", r.img.ref, runtime.recipe_name or runtime.recipe)
  add("  image       %s %s, %d layer%s", r.img.digest, r.img.platform, #r.img.layers,
    #r.img.layers == 1 and "" or "s")
  add("  output      %s: %d entries, %s of files", r.out, st.entries, sizes.format(st.bytes))
  add("  size        %s (%d bytes)%s, %s", sizes.format(r.size), r.size,
    r.inodes and string.format(", %d inodes", r.inodes) or "",
    r.fixed and "fixed by size=" or "from the content")
  if r.info then
    add("  distro      %s%s, init %s", r.info.id,
      #r.info.id_like > 0 and (" (like " .. table.concat(r.info.id_like, " ") .. ")") or "",
      r.info.init)
  end
  add("  first boot  %s", fb.status)
  for _, c in ipairs(fb.commands or {}) do add("                %s", c) end
  for _, f in ipairs(fb.fallbacks or {}) do
    add("              if %s is not installed in the guest: the '%s' branch", fb.manager, f)
  end
  add("  injected    %d path%s%s", #r.injected, #r.injected == 1 and "" or "s",
    r.edit_tree and ", then the recipe's edit_tree (its changes are in the size)" or "")
  local width = 0
  for _, row in ipairs(r.injected) do width = math.max(width, #row.path) end
  for _, row in ipairs(r.injected) do
    add("    %-7s  %s %-5s  %-" .. width .. "s  %s", row.kind, row.mode, row.owner, row.path,
      row.what)
  end
  if r.edit_image then add("  then the recipe's edit_image would change the written image") end
  local k = r.kernel
  if k then
    add("  kernel      %s (%s, %s%s)%s, to %s/", k.kernel, k.format,
      k.compression == "none" and "uncompressed" or k.compression,
      k.release and (", " .. k.release) or "", k.initrd and (" and " .. k.initrd) or
      ", no initrd", k.dir)
  end
  local findings = r.checks and r.checks.findings or {}
  add("  checks      %s", #findings == 0 and "no pre-flight findings" or
    string.format("%d pre-flight finding%s", #findings, #findings == 1 and "" or "s"))
  for _, f in ipairs(findings) do add("    %-12s %s", f.check, f.message) end
  io.stdout:write(table.concat(out, "\n"), "\n")
  return result
end

return M
