-- The default build: any image as a bootable ext4 root with the banger guest agents (systemd).
--
-- It pulls the image (linux/amd64 unless platform= says otherwise), flattens its layers (device
-- nodes, fifos and xattrs dropped, owners as the layers say), adds the payload below, sizes the
-- image by its content and writes ext4.
--
--   banger-build default image=debian:bookworm [size=2G] [out=FILE] [pull=never] ...
--   banger-build default image=debian:bookworm kernel=vmm/
--                                                 also the kernel, initrd and vmlinux for a VMM
--   banger-build default --help                   the arguments, their types and defaults
--   banger-build default image=debian:bookworm --plan
--                                                 what would be injected, the size, the branch
--   banger-build default image=debian:bookworm cache=REGISTRY/REPO [push=REGISTRY/REPO:TAG]
--                                                 build once per fleet (docs/fleet.md)
local banger = require "banger"
local distros = require "banger.distros"
local guest = require "banger.guest"

-- The command line: every build argument (image, out, size, headroom, label, inline_data,
-- devices, xattrs, platform, pull, insecure, plan; cache, push, mirrors: docs/fleet.md; kernel,
-- init, strict, check, distroless, provenance, report), typed and checked; an unknown key is an error. This
-- recipe's policy is its defaults: device nodes, fifos and xattrs are left out unless asked for.
local args = banger.arguments(banger.BUILD_ARGS, { devices = "skip", xattrs = "drop" })

-- What goes into the guest: a list of plain entries, one per path, in the order they are made:
--   { path = "/usr/local/bin/banger-vsock-agent", kind = "file", mode = "0755", owner = "0:0",
--     source = "agent" },
--   { path = "/etc/systemd/system/multi-user.target.wants/banger-network.service",
--     kind = "symlink", target = "/etc/systemd/system/banger-network.service" },
-- the mount points (/dev /proc /sys /run, /tmp 1777; kept where the image has them), the vsock
-- agent, the network bootstrap, the first-boot script and its marker, the vsock modules-load
-- file, and three units, each with its multi-user.target.wants link. Edit the list to add, drop
-- or change an entry (docs/recipes.md); --plan prints it whole.
local payload = guest.payload("systemd")

-- First boot: the guest's os-release ID, then each ID_LIKE word, picks the first entry serving
-- it, whose commands install and start sshd:
--   { ids = { "debian", "ubuntu", "kali", "raspbian", "pop" }, manager = "apt-get",
--     install = { "DEBIAN_FRONTEND=noninteractive apt-get update", ... },
--     enable = { "systemctl enable ssh", "systemctl start ssh" } },
-- then alpine (apk), the RHEL family (dnf, then yum), arch (pacman), opensuse/suse (zypper).
local dispatch = distros.default()

return banger.run {
  args = args,
  agents = "systemd",
  payload = payload,
  dispatch = dispatch,
}
