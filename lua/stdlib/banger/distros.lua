--- The default first-boot dispatch table: which commands install, enable and start sshd on
--- each distro. Recipes take a copy, change it, and hand it to `banger.firstboot`.
---
--- An entry: `ids` are os-release ID words (`[a-z0-9._-]+`, or a prefix ending in `*`);
--- `manager` is the command that must be installed for the entry to apply (optional; when it is
--- missing the script tries the next entry, which is how dnf falls back to yum); `install` and
--- `enable` are lists of shell commands, run in order.
local M = {}

---@class banger.DispatchEntry
---@field ids string[]        os-release ID / ID_LIKE words this entry serves
---@field manager? string     command that must be on PATH for the entry to apply
---@field install string[]    shell commands that install sshd
---@field enable? string[]    shell commands that enable and start it

local function systemd(unit)
  return { "systemctl enable " .. unit, "systemctl start " .. unit }
end

local RHEL = { "fedora", "rhel", "centos", "rocky", "almalinux" }

local function table_data()
  return {
    {
      ids = { "debian", "ubuntu", "kali", "raspbian", "pop" },
      manager = "apt-get",
      install = {
        "DEBIAN_FRONTEND=noninteractive apt-get update",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y openssh-server",
      },
      enable = systemd("ssh"),
    },
    {
      ids = { "alpine" },
      manager = "apk",
      install = { "apk add openssh" },
      enable = { "rc-update add sshd default", "rc-service sshd start" },
    },
    {
      ids = { table.unpack(RHEL) },
      manager = "dnf",
      install = { "dnf install -y openssh-server" },
      enable = systemd("sshd"),
    },
    {
      ids = { table.unpack(RHEL) },
      manager = "yum",
      install = { "yum install -y openssh-server" },
      enable = systemd("sshd"),
    },
    {
      ids = { "arch", "manjaro" },
      manager = "pacman",
      install = { "pacman -Sy --noconfirm openssh" },
      enable = systemd("sshd"),
    },
    {
      ids = { "opensuse*", "suse", "sles" },
      manager = "zypper",
      install = { "zypper --non-interactive install openssh" },
      enable = systemd("sshd"),
    },
  }
end

--- A fresh copy of the default dispatch table; the caller may change it freely.
---@return banger.DispatchEntry[]
function M.default()
  return table_data()
end

--- The entries of the default table that use one of the given package managers, for recipes
--- made for one family of distros: `distros.only("apk")`.
---@param ... string  manager names ("apt-get", "apk", "dnf", "yum", "pacman", "zypper")
---@return banger.DispatchEntry[]
function M.only(...)
  local want, out = {}, {}
  for _, m in ipairs { ... } do want[m] = true end
  for _, entry in ipairs(M.default()) do
    if want[entry.manager] then out[#out + 1] = entry end
  end
  if #out == 0 then
    error(string.format("distros.only: no default entry uses %s", table.concat({ ... }, ", ")), 2)
  end
  return out
end

return M
