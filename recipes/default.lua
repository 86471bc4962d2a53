-- The default build: pull an image (linux/amd64, anonymous), flatten it (device nodes, fifos and
-- xattrs dropped, owners as the layers say), add the mount points a guest needs, inject the
-- banger guest agents and the first-boot service (systemd), size the image by its content and
-- write ext4.
--
--   banger-build recipes/default.lua image=debian:bookworm [out=FILE] [size=2G]
--                [platform=linux/amd64] [kernel=DIR]
local banger = require "banger"
local distros = require "banger.distros"

return banger.run {
  image = args.image,
  out = args.out,
  size = args.size,
  platform = args.platform or "linux/amd64",
  -- kernel=DIR: the image's kernel, initrd and uncompressed vmlinux for the VMM
  kernel = args.kernel,
  devices = "skip",
  xattrs = "drop",
  agents = "systemd",
  -- the first-boot dispatch: os-release ID / ID_LIKE -> how to install and start sshd;
  -- copy this recipe and change the table to add a distro
  dispatch = distros.default(),
}
