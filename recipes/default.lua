-- The default build: pull an image (linux/amd64, anonymous), flatten it (devices, fifos and
-- xattrs dropped), add the mount points a guest needs, inject the banger guest agents and the
-- first-boot service, size the image by its content and write ext4 with owners from the layers.
--
--   banger-build recipes/default.lua image=debian:bookworm [out=FILE] [size=2G]
--                [platform=linux/amd64]
local banger = require "banger"
local distro = require "banger.distro"
local distros = require "banger.distros"
local guest = require "banger.guest"

local image = args.image
if not image or image == "" then
  error("image= is required, e.g. image=debian:bookworm")
end

local img = banger.pull(image, { platform = args.platform or "linux/amd64" })
local tree <close> = banger.flatten(img, { devices = "skip", xattrs = "drop" })

local info = distro.detect(tree)
if not info then
  banger.warn("%s has no os-release: first boot will not know how to install sshd", image)
elseif info.init ~= "systemd" then
  banger.warn("%s has no systemd: the units will not run; use recipes/alpine.lua", image)
end

guest.mountpoints(tree)
guest.systemd_agents(tree, { dispatch = distros.default() })

local size, inodes = banger.size(tree, { size = args.size })
local out = args.out or banger.default_out(image)
local fs <close> = banger.build(tree, {
  out = out,
  size = size,
  inodes = inodes,
  seed = banger.seed(img, banger.recipe_text()),
})
fs:close()
return banger.report { image = img.ref, digest = img.digest, platform = img.platform, output = out }
