#!/bin/bash
# The rendered first-boot script under dash and busybox sh: distro dispatch in plan mode (with
# nothing on PATH, so it can only decide from os-release, and agreeing with the build-time choice
# of banger.firstboot.select), ID_LIKE fallbacks, unknown distros, the dnf -> yum fallback, and
# the marker with fake package managers. Also checks the unit files carry the fields the guest
# relies on.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"

shells=()
command -v dash >/dev/null && shells+=("$(command -v dash)")
command -v busybox >/dev/null && shells+=("$(command -v busybox) sh")
[ ${#shells[@]} -gt 0 ] || skip "neither dash nor busybox is installed"

# Render through banger-build: the default table, and a custom one with awkward commands.
cat > render.lua <<'LUA'
local dispatch = require("banger.distros").default()
if args.custom then
  table.insert(dispatch, 1, { ids = { "gentoo" }, manager = "emerge",
    install = { [[emerge --noreplace net-misc/openssh && echo 'it'"'"'s $(done) `x` \ok']] } })
  table.insert(dispatch, { ids = { "nixos" }, install = { "nix-env -iA nixos.openssh" } })
end
local f = assert(io.open(args.out, "w"))
f:write(require("banger.firstboot").render(dispatch))
f:close()
LUA
"$BANGER" -q render.lua out=first-boot.sh; expect_eq "$?" 0 "render the default table"
"$BANGER" -q render.lua out=custom.sh custom=1; expect_eq "$?" 0 "render a custom table"
[ -s first-boot.sh ] || { echo "FAIL: nothing rendered" >&2; exit 1; }

for sh in sh "${shells[@]}"; do
  $sh -n first-boot.sh; expect_eq "$?" 0 "$sh -n first-boot.sh"
  $sh -n custom.sh; expect_eq "$?" 0 "$sh -n custom.sh"
done

# Real runs: only these tools are on PATH, so nothing real (apt-get, systemctl, sshd) can ever
# run. Plans: PATH is an empty directory; the shell alone must do.
mkdir -p tools fake empty
for t in sed tr rm cat printf env; do ln -sf "$(command -v $t)" tools/$t; done
fake() { # name [exit status]: a fake command that records its arguments
  printf '#!/bin/sh\necho "%s $*" >> "%s/calls"\nexit %s\n' "$1" "$PWD" "${2:-0}" > "fake/$1"
  chmod +x "fake/$1"
}
for m in apt-get apk dnf pacman zypper systemctl rc-update rc-service emerge; do fake $m; done

osr() { printf '%s\n' "$@" > os-release; }

run_fb() { # shell script -> out, log, rc; plan mode (nothing on PATH) unless REAL=1
  local plan=1 path=$PWD/empty
  [ "${REAL:-0}" = 1 ] && plan=0 path=$PWD/fake:$PWD/tools
  out=$(PATH=$path RUN_PLAN=$plan OS_RELEASE_FILE=os-release \
    BANGER_FIRST_BOOT_MARKER=$PWD/marker BANGER_SSHD=$PWD/no-sshd $1 "$2" 2>log); rc=$?
}

# What banger.firstboot.select chooses at build time for the same os-release file.
cat > select.lua <<'LUA'
local f = assert(io.open(args.osr, "rb"))
local fields = require("banger.distro").parse_os_release(f:read("a"))
f:close()
local info = { id = (fields.ID or "linux"):lower(), id_like = {} }
for w in (fields.ID_LIKE or ""):gmatch("%S+") do info.id_like[#info.id_like + 1] = w:lower() end
local c = require("banger.firstboot").select(require("banger.distros").default(), info)
io.write(c and string.format("using the '%s' branch (matched '%s')", c.branch, c.word) or "none",
  "\n")
LUA

nl=$'\n'
apt_plan="DEBIAN_FRONTEND=noninteractive apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y openssh-server
systemctl enable ssh
systemctl start ssh
rm -f $PWD/marker"
sshd_systemd="systemctl enable sshd${nl}systemctl start sshd${nl}rm -f $PWD/marker"
dnf_plan="# if dnf is not installed: the 'fedora (yum)' branch${nl}dnf install -y openssh-server${nl}$sshd_systemd"

for sh in "${shells[@]}"; do
  w="[$sh]"
  check() { # what, expected plan, expected log line
    run_fb "$sh" first-boot.sh
    expect_eq "$rc" 0 "$w $1 exit status ($(cat log))"
    expect_eq "$out" "$2" "$w $1 plan"
    expect_eq "$(cat log)" "banger-first-boot: $3" "$w $1 log"
    expect_contains "$3" "$("$BANGER" -q select.lua osr=os-release)" "$w $1: the build-time choice agrees"
  }
  osr 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' 'NAME="Debian GNU/Linux"' 'VERSION_ID="12"' \
    'ID=debian'
  check debian "$apt_plan" "distro 'debian': using the 'debian (apt-get)' branch (matched 'debian')"
  osr 'NAME="Ubuntu"' 'ID=ubuntu' 'ID_LIKE=debian'
  check ubuntu "$apt_plan" \
    "distro 'ubuntu' (ID_LIKE: debian): using the 'debian (apt-get)' branch (matched 'ubuntu')"
  osr 'NAME="Linux Mint"' 'ID=linuxmint' 'ID_LIKE="ubuntu debian"'
  check linuxmint "$apt_plan" \
    "distro 'linuxmint' (ID_LIKE: ubuntu debian): using the 'debian (apt-get)' branch (matched 'ubuntu')"
  osr "ID='alpine'" 'VERSION_ID=3.20.0'
  check alpine "apk add openssh${nl}rc-update add sshd default${nl}rc-service sshd start${nl}rm -f $PWD/marker" \
    "distro 'alpine': using the 'alpine (apk)' branch (matched 'alpine')"
  osr 'ID=fedora' 'VERSION_ID=40'
  check fedora "$dnf_plan" \
    "distro 'fedora': using the 'fedora (dnf)' branch (matched 'fedora')"
  osr 'ID="rocky"' 'ID_LIKE="rhel centos fedora"'
  check rocky "$dnf_plan" \
    "distro 'rocky' (ID_LIKE: rhel centos fedora): using the 'fedora (dnf)' branch (matched 'rocky')"
  osr 'ID=amzn' 'ID_LIKE="centos rhel fedora"'
  check amzn "$dnf_plan" \
    "distro 'amzn' (ID_LIKE: centos rhel fedora): using the 'fedora (dnf)' branch (matched 'centos')"
  osr 'ID=manjaro' 'ID_LIKE=arch'
  check manjaro "pacman -Sy --noconfirm openssh${nl}$sshd_systemd" \
    "distro 'manjaro' (ID_LIKE: arch): using the 'arch (pacman)' branch (matched 'manjaro')"
  osr 'ID=arch'
  check arch "pacman -Sy --noconfirm openssh${nl}$sshd_systemd" \
    "distro 'arch': using the 'arch (pacman)' branch (matched 'arch')"
  osr '# a manjaro-like derivative' '  ID=endeavouros' 'ID_LIKE=arch'
  check endeavouros "pacman -Sy --noconfirm openssh${nl}$sshd_systemd" \
    "distro 'endeavouros' (ID_LIKE: arch): using the 'arch (pacman)' branch (matched 'arch')"
  osr 'ID="opensuse-leap"' 'ID_LIKE="suse opensuse"'
  check opensuse-leap "zypper --non-interactive install openssh${nl}$sshd_systemd" \
    "distro 'opensuse-leap' (ID_LIKE: suse opensuse): using the 'opensuse (zypper)' branch (matched 'opensuse-leap')"
  osr 'ID="opensuse-tumbleweed"' 'ID_LIKE="opensuse suse"'
  check opensuse-tumbleweed "zypper --non-interactive install openssh${nl}$sshd_systemd" \
    "distro 'opensuse-tumbleweed' (ID_LIKE: opensuse suse): using the 'opensuse (zypper)' branch (matched 'opensuse-tumbleweed')"
  osr 'ID=Ubuntu' 'ID=sles'
  check "last ID wins, lower-cased" "zypper --non-interactive install openssh${nl}$sshd_systemd" \
    "distro 'sles': using the 'opensuse (zypper)' branch (matched 'sles')"
  osr 'ID="my\"distro"' 'ID_LIKE="\$(touch pwned) debian"'
  run_fb "$sh" first-boot.sh
  expect_eq "$rc/$out" "0/$apt_plan" "$w escaped os-release values"
  expect_contains "$(cat log)" "ignoring 'my\"distro' in os-release: not a distro id" "$w bad ID logged"
  expect_contains "$(cat log)" "ignoring '\$(touch' in os-release: not a distro id" "$w bad ID_LIKE word logged"
  expect_file_absent pwned "$w os-release is never executed"

  # a real run with dnf missing: the next entry, yum, applies
  mv fake/dnf fake/dnf.off; fake yum
  osr 'ID=centos' 'ID_LIKE="rhel fedora"'
  : > calls
  REAL=1 run_fb "$sh" first-boot.sh
  expect_eq "$rc" 0 "$w centos without dnf exit status ($(cat log))"
  expect_eq "$(cat calls)" "yum install -y openssh-server${nl}systemctl enable sshd${nl}systemctl start sshd" \
    "$w centos without dnf: yum"
  expect_contains "$(cat log)" "distro 'centos' (ID_LIKE: rhel fedora): using the 'fedora (yum)' branch (matched 'centos')" "$w centos without dnf log"
  rm fake/yum
  : > marker
  REAL=1 run_fb "$sh" first-boot.sh
  expect_eq "$rc/$out" "1/" "$w no package manager: exit 1"
  expect_eq "$(cat log)" "banger-first-boot: distro 'centos' (ID_LIKE: rhel fedora) has a first-boot branch, but none of its package managers is installed: dnf yum
banger-first-boot: keeping $PWD/marker, so the next boot tries again" "$w no package manager message"
  # ... while a plan, on a machine with neither, still plans dnf and names yum
  run_fb "$sh" first-boot.sh
  expect_eq "$rc/$out" "0/$dnf_plan" "$w centos plan without any manager"
  mv fake/dnf.off fake/dnf

  osr 'NAME=Gentoo' 'ID=gentoo'
  run_fb "$sh" first-boot.sh
  expect_eq "$rc/$out" "1/" "$w unknown distro: exit 1, nothing planned"
  expect_eq "$(cat log)" "banger-first-boot: no first-boot branch for distro 'gentoo': add an entry for it to the dispatch table of the recipe that built this image (see docs/guest.md, \"First boot\")" "$w unknown distro message"
  osr 'ID=void' 'ID_LIKE="voidlike other"'
  run_fb "$sh" first-boot.sh
  expect_contains "$(cat log)" "no first-boot branch for distro 'void' (ID_LIKE: voidlike other): add an entry" "$w unknown distro names ID_LIKE"
  osr 'NAME=nothing'
  run_fb "$sh" first-boot.sh
  expect_contains "$rc $(cat log)" "1 banger-first-boot: no first-boot branch for distro 'linux':" "$w ID defaults to linux"
  out=$(RUN_PLAN=1 OS_RELEASE_FILE=/nonexistent $sh first-boot.sh 2>&1); rc=$?
  expect_eq "$rc/$out" "1/banger-first-boot: cannot read /nonexistent, so the distro is unknown" "$w unreadable os-release"

  # the custom table: its own branches, and commands reach the plan exactly as written
  osr 'ID=gentoo'
  run_fb "$sh" custom.sh
  expect_eq "$rc/$out" "0/emerge --noreplace net-misc/openssh && echo 'it'\"'\"'s \$(done) \`x\` \\ok'${nl}rm -f $PWD/marker" "$w custom entry planned verbatim"
  osr 'ID=nixos'
  run_fb "$sh" custom.sh
  expect_eq "$rc/$out" "0/nix-env -iA nixos.openssh${nl}rm -f $PWD/marker" "$w entry without a manager"

  # Real runs: the fake managers succeed or fail; the marker goes only on success.
  : > marker; : > calls
  osr 'ID=debian'
  REAL=1 run_fb "$sh" first-boot.sh
  expect_eq "$rc/$out" "0/" "$w real run succeeds ($(cat log))"
  expect_eq "$(cat calls)" "apt-get update${nl}apt-get install -y openssh-server${nl}systemctl enable ssh${nl}systemctl start ssh" "$w real run calls"
  expect_file_absent marker "$w marker removed on success"
  expect_contains "$(cat log)" "banger-first-boot: sshd is installed and started; first boot done" "$w success logged"

  : > marker; : > calls
  fake apt-get 100
  REAL=1 run_fb "$sh" first-boot.sh
  expect_eq "$rc" 1 "$w failing install exit status"
  expect_eq "$(cat calls)" "apt-get update" "$w stops at the first failure"
  [ -e marker ]; expect_eq "$?" 0 "$w marker kept on failure"
  expect_contains "$(cat log)" "banger-first-boot: command failed (exit 100): DEBIAN_FRONTEND=noninteractive apt-get update" "$w failure message"
  expect_contains "$(cat log)" "keeping $PWD/marker, so the next boot tries again" "$w failure says the marker stays"
  fake apt-get

  : > calls
  osr 'ID=gentoo'
  REAL=1 run_fb "$sh" first-boot.sh
  expect_eq "$rc" 1 "$w real unknown distro exit status"
  [ -e marker ]; expect_eq "$?" 0 "$w marker kept for an unknown distro"

  # sshd already there: nothing installed, marker removed; plan mode ignores the short-cut
  fake sshd
  REAL=1 run_fb "$sh" first-boot.sh
  expect_eq "$rc" 0 "$w sshd present exit status"
  expect_eq "$(cat calls)" "" "$w sshd present: nothing run"
  expect_file_absent marker "$w sshd present: marker removed"
  expect_eq "$(cat log)" "banger-first-boot: sshd is already installed; nothing to do" "$w sshd present log"
  osr 'ID=debian'
  run_fb "$sh" first-boot.sh
  expect_eq "$rc/$out" "0/$apt_plan" "$w RUN_PLAN skips the sshd short-cut"
  rm fake/sshd
  : > marker
  printf '#!/bin/sh\n' > no-sshd; chmod +x no-sshd
  REAL=1 run_fb "$sh" first-boot.sh
  expect_eq "$rc/$(cat calls)" "0/" "$w sshd at the absolute path counts too"
  expect_file_absent marker "$w absolute sshd: marker removed"
  rm no-sshd
done

# The units and services carry what the guest relies on.
a=$BANGER_SOURCE_DIR/assets
has() { # file line
  grep -qxF -- "$2" "$a/$1"; expect_eq "$?" 0 "$1 has $2"
}
has banger-first-boot.service "ConditionPathExists=/var/lib/banger/first-boot-pending"
has banger-first-boot.service "ExecStart=/usr/local/libexec/banger-first-boot"
has banger-first-boot.service "Type=oneshot"
has banger-first-boot.service "Wants=network-online.target banger-network.service"
has banger-first-boot.service "After=network-online.target banger-network.service"
has banger-network.service "ExecStart=/usr/local/libexec/banger-network-bootstrap"
has banger-network.service "Type=oneshot"
has banger-network.service "Before=network.target network-online.target"
has banger-vsock-agent.service "ExecStart=/usr/local/bin/banger-vsock-agent"
has banger-vsock-agent.service "Restart=always"
for u in banger-first-boot banger-network banger-vsock-agent; do
  has $u.service "WantedBy=multi-user.target"
  has $u.initd "#!/sbin/openrc-run"
  sh -n "$a/$u.initd"; expect_eq "$?" 0 "sh -n $u.initd"
done
has banger-first-boot.initd "marker=/var/lib/banger/first-boot-pending"
has banger-first-boot.initd "	/usr/local/libexec/banger-first-boot"
has banger-network.initd "	/usr/local/libexec/banger-network-bootstrap"
has banger-vsock-agent.initd "command=/usr/local/bin/banger-vsock-agent"
has banger-vsock.conf "vmw_vsock_virtio_transport"
has banger-vsock.conf "vsock"
if command -v systemd-analyze >/dev/null; then
  # only the syntax: the ExecStart binaries are not on this host
  out=$(systemd-analyze verify --man=no "$a"/*.service 2>&1 | grep -v "Command .* is not executable\|not found\|Failed to prepare filename\|No such file" || true)
  expect_eq "$out" "" "systemd-analyze finds nothing else to say"
fi

finish
