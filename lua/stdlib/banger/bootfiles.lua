--- The kernel and initrd an image carries, written out for a VMM that boots a kernel given on
--- its command line (Firecracker, Cloud Hypervisor, QEMU's -kernel): the files as they are in
--- /boot, and the uncompressed kernel (vmlinux ELF on x86, Image on arm64) unpacked in-process.
---@class banger.bootfiles
local M = {}

local raise = require("banger.errors").raise

--- Caps on what is read from the image (its files are untrusted) and written out.
M.KERNEL_MAX = 256 * 1024 * 1024
M.INITRD_MAX = 512 * 1024 * 1024
M.UNPACKED_MAX = 512 * 1024 * 1024

--- The names written into the directory (the uncompressed kernel is vmlinux or Image).
M.NAMES = { kernel = "vmlinuz", initrd = "initrd.img" }

-- The links kernel packages maintain (Debian's linux-update-symlinks puts them in / or /boot).
local KERNEL_LINKS = { "/boot/vmlinuz", "/vmlinuz" }
local INITRD_LINKS = { "/boot/initrd.img", "/initrd.img" }
-- Initrd names for kernel VERSION, by distribution family.
local INITRD_FOR = { "/boot/initrd.img-%s", "/boot/initramfs-%s.img", "/boot/initrd-%s",
  "/boot/initramfs-%s", "/usr/lib/modules/%s/initrd" }

-- A version taken from a file name in the image: only the characters kernel versions use, so
-- nothing else reaches a path pattern or a terminal.
local function version_of(name, pattern)
  local v = name:match(pattern)
  if v and v:match("^[%w%.%-_+~]+$") then return v end
  return nil
end

local function is_file(tree, path)
  local st = tree:stat(path, { follow = true })
  return st ~= nil and st.type == "file"
end

-- "6.1.0-10-amd64" < "6.1.0-9-amd64" is false: digit runs compare as numbers.
local function version_less(a, b)
  local ia, ib = 1, 1
  while ia <= #a and ib <= #b do
    local da, db = a:match("^%d+", ia), b:match("^%d+", ib)
    if da and db then
      local na, nb = tonumber(da), tonumber(db)
      if na ~= nb then return na < nb end
      if #da ~= #db then return #da < #db end
      ia, ib = ia + #da, ib + #db
    else
      local ca, cb = a:sub(ia, ia), b:sub(ib, ib)
      if ca ~= cb then return ca < cb end
      ia, ib = ia + 1, ib + 1
    end
  end
  return #a - ia < #b - ib
end

-- The names directly under dir, from the tree's sorted walk (which visits a directory's whole
-- subtree before its next sibling, so the loop stops once past it).
local function children(tree, dir)
  local st = tree:stat(dir, { follow = false })
  if not st or st.type ~= "dir" then return {} end
  local names, inside = {}, false
  local prefix = dir .. "/"
  for path in tree:walk() do
    if path:sub(1, #prefix) == prefix then
      inside = true
      local rest = path:sub(#prefix + 1)
      if not rest:find("/", 1, true) then names[#names + 1] = rest end
    elseif inside then
      break
    end
  end
  return names
end

-- The newest kernel file named in the distribution's ways, and its version.
local function newest_kernel(tree)
  local best, best_version
  local function consider(path, version)
    if is_file(tree, path) and (not best_version or version_less(best_version, version)) then
      best, best_version = path, version
    end
  end
  for _, name in ipairs(children(tree, "/boot")) do
    local v = version_of(name, "^vmlinuz%-(.+)$") or version_of(name, "^vmlinux%-(.+)$")
    if v then consider("/boot/" .. name, v) end
  end
  if not best then
    -- Fedora and Arch keep the kernel beside its modules
    for _, dir in ipairs { "/usr/lib/modules", "/lib/modules" } do
      for _, name in ipairs(children(tree, dir)) do
        local v = version_of(name, "^(.+)$")
        if v then consider(dir .. "/" .. v .. "/vmlinuz", v) end
      end
      if best then break end
    end
  end
  return best, best_version
end

---@class banger.bootfiles.Found
---@field kernel string    the kernel's path in the image (a link is named as it is)
---@field initrd? string   the initrd's path, when the image has one
---@field version? string  the version in the kernel's file name

--- Where the image's kernel and initrd are: the vmlinuz and initrd.img links first (/boot, then
--- /), else the newest /boot/vmlinuz-VERSION (or /usr/lib/modules/VERSION/vmlinuz) and the
--- initrd named for that version. Links resolve inside the image.
---@param tree userdata
---@return banger.bootfiles.Found|nil found
---@return string? message  why there is none
function M.find(tree)
  local found = {}
  for _, p in ipairs(KERNEL_LINKS) do
    if is_file(tree, p) then
      found.kernel = p
      local st = tree:stat(p, { follow = false })
      found.version = st.type == "symlink" and version_of(st.target, "vmlinu[zx]%-([^/]+)$") or nil
      break
    end
  end
  if not found.kernel then found.kernel, found.version = newest_kernel(tree) end
  if not found.kernel then
    return nil, "no kernel in the image (no /boot/vmlinuz or /vmlinuz link, no " ..
      "/boot/vmlinuz-VERSION, no /usr/lib/modules/VERSION/vmlinuz)"
  end
  for _, p in ipairs(INITRD_LINKS) do
    if is_file(tree, p) then found.initrd = p break end
  end
  if not found.initrd and found.version then
    for _, pat in ipairs(INITRD_FOR) do
      local p = pat:format(found.version)
      if is_file(tree, p) then found.initrd = p break end
    end
  end
  return found
end

-- The OCI architecture a kernel runs, from what banger.kernel says of it (nil: not known yet,
-- a compressed file says once unpacked).
local function arch_of(format, elf)
  if format == "bzimage" then return "amd64" end
  if format == "arm64-image" then return "arm64" end
  if format == "elf" and elf then return elf.arch or elf.machine_name or "an unknown machine" end
  return nil
end

-- Why a kernel for arch cannot go with the plan's image (nil when it can): one for another
-- architecture than the image's would never boot it.
local function arch_mismatch(plan, arch)
  if not arch or not plan.platform then return nil end
  local want = plan.platform:match("^[^/]+/([^/]+)")
  if want and arch ~= want and not (want == "386" and arch == "amd64") then
    return string.format("%s in %s is a kernel for %s, but the image is %s", plan.found.kernel,
      plan.image, arch, plan.platform)
  end
  return nil
end

local function read(tree, path, max, image)
  local bytes, err = tree:read(path, max)
  if not bytes then raise(string.format("kernel: %s in %s: %s", path, image, err)) end
  return bytes
end

---@class banger.bootfiles.Plan
---@field dir string
---@field image string
---@field found banger.bootfiles.Found
---@field kernel string   the kernel's bytes
---@field initrd? string  the initrd's bytes
---@field info table      banger.kernel.probe's answer for the kernel
---@field platform? string the image's platform, which the kernel must run

--- Finds and reads the kernel and initrd, and checks the kernel is one, for the image's
--- platform when given: everything that can fail on the image's side short of unpacking,
--- before anything is written. A missing kernel is an error.
---@param tree userdata
---@param dir string   where `write` will put the files
---@param image string the image's name, for messages
---@param platform? string  "linux/amd64", ...: a kernel for another architecture is an error
---@return banger.bootfiles.Plan
function M.prepare(tree, dir, image, platform)
  if type(dir) ~= "string" or dir == "" then raise("kernel: a directory is required (kernel=DIR)") end
  local found, why = M.find(tree)
  if not found then
    raise(string.format("kernel=%s: %s has %s: install one in the image (Debian: " ..
      "linux-image-amd64) or give the VMM a kernel of its own", dir, image, why))
  end
  local plan = { dir = dir, image = image, found = found, platform = platform }
  plan.kernel = read(tree, found.kernel, M.KERNEL_MAX, image)
  local info, err = require("banger.kernel").probe(plan.kernel)
  if not info then raise(string.format("kernel: %s in %s: %s", found.kernel, image, err)) end
  plan.info = info
  local mismatch = arch_mismatch(plan, arch_of(info.format, info.format == "elf" and
    require("banger.elf").identify(plan.kernel) or nil))
  if mismatch then raise("kernel: " .. mismatch) end
  if found.initrd then plan.initrd = read(tree, found.initrd, M.INITRD_MAX, image) end
  return plan
end

--- What --plan says of the kernel: where it is in the image, what it is, where it would go.
---@param plan banger.bootfiles.Plan
---@return table
function M.describe(plan)
  return { dir = plan.dir, kernel = plan.found.kernel, initrd = plan.found.initrd,
    format = plan.info.format, compression = plan.info.compression,
    release = plan.info.release or plan.found.version }
end

--- Removes the files write reported (when the image they go with could not be committed).
---@param result table  what write returned
function M.remove(result)
  for _, k in ipairs { "kernel", "initrd", "unpacked" } do
    if result[k] then os.remove(result[k].path) end
  end
end

--- Writes the plan's files into its directory (made when missing), each whole or not at all:
--- vmlinuz and initrd.img as the image has them, and vmlinux (x86) or Image (arm64) unpacked
--- from the kernel; a vmlinux or Image of an earlier build beside them goes. Returns what
--- --json reports; on failure removes what it wrote and raises, naming the image and the path.
---@param plan banger.bootfiles.Plan
---@return table result  dir, and kernel, initrd, unpacked: {path, source, size, sha256, ...}
function M.write(plan)
  local kernel, digest = require "banger.kernel", require "banger.digest"
  local written = {}
  local function fail(msg)
    for _, p in ipairs(written) do os.remove(p) end
    raise(string.format("kernel=%s: %s", plan.dir, msg))
  end
  local function save(name, bytes)
    local path = plan.dir .. "/" .. name
    local ok, err = kernel.save(path, bytes)
    if not ok then fail(err) end
    written[#written + 1] = path
    return path
  end
  local result = { dir = plan.dir }
  result.kernel = { path = save(M.NAMES.kernel, plan.kernel), source = plan.found.kernel,
    size = #plan.kernel, sha256 = digest.sha256(plan.kernel), format = plan.info.format,
    compression = plan.info.compression, version = plan.info.version,
    release = plan.info.release or plan.found.version }
  if plan.initrd then
    result.initrd = { path = save(M.NAMES.initrd, plan.initrd), source = plan.found.initrd,
      size = #plan.initrd, sha256 = digest.sha256(plan.initrd) }
  else
    -- an initrd of an earlier build beside this kernel would be booted with it
    os.remove(plan.dir .. "/" .. M.NAMES.initrd)
  end
  -- vmlinux or Image, by what comes out
  local u, err = kernel.unpack(plan.kernel, plan.dir, { max_bytes = M.UNPACKED_MAX })
  if not u then fail(string.format("%s in %s: %s", plan.found.kernel, plan.image, err)) end
  written[#written + 1] = u.path
  local mismatch = arch_mismatch(plan, arch_of(u.format, u.elf))
  if mismatch then fail(mismatch) end
  -- the other name: a VMM pointed at it would boot the kernel of an earlier build
  os.remove(plan.dir .. "/" .. (u.format == "arm64-image" and "vmlinux" or "Image"))
  result.unpacked = { path = u.path, format = u.format, compression = u.compression,
    size = u.size, sha256 = (digest.file(u.path)),
    machine = u.elf and u.elf.machine_name or (u.format == "arm64-image" and "aarch64" or nil) }
  return result
end

return M
