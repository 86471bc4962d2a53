#!/bin/bash
# The guest agent matches the image's platform: banger-build carries one static agent per
# architecture and injects the one whose ELF machine is the image's. Judges: file(1) on what an
# arm64 build injected, and qemu-aarch64-static running it (its version, and a health query
# answered by the arm64 agent over a unix socket). A platform with no agent is refused.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need e2fsck debugfs python3 file qemu-aarch64-static
registry_start
tools=$BANGER_SOURCE_DIR/tests/tools
agent_path=/usr/local/bin/banger-vsock-agent

cat > base.layer <<'SPEC'
dir      /etc                   0755 0 0
file     /etc/os-release        0644 0 0 =ID=debian
dir      /lib                   0755 0 0
dir      /lib/systemd           0755 0 0
file     /lib/systemd/systemd   0755 0 0 =systemd
SPEC
python3 "$tools/mktar.py" base.layer base.tar || exit 1
for p in linux/amd64 linux/arm64/v8 linux/riscv64; do
  append=--append
  [ "$p" = linux/amd64 ] && append=
  python3 "$tools/mkimage.py" multi --tag 1 --platform "$p" --layer base.tar $append >/dev/null ||
    exit 1
done
registry_push multi 1 e2e/multi:1 --all

json_field() { # FILE EXPR (python, d = the JSON)
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2"
}

build() { # PLATFORM OUT -> exit status; --json in OUT.json, stderr in OUT.err
  "$BANGER" --json -q --cache-dir cache "$BANGER_SOURCE_DIR/recipes/default.lua" \
    "image=$REGISTRY/e2e/multi:1" "platform=$1" "out=$2" > "$2.json" 2> "$2.err"
}

# ---- arm64 ----
build linux/arm64 arm64.ext4; rc=$?
expect_eq "$rc" 0 "arm64 build exit status ($(cat arm64.ext4.err))"
e2fsck -fn arm64.ext4 >fsck.log 2>&1; expect_eq "$?" 0 "e2fsck -fn on the arm64 build"
debugfs -R "dump -p $agent_path arm64.agent" arm64.ext4 >/dev/null 2>&1
what=$(file -b arm64.agent)
expect_contains "$what" "ARM aarch64" "file(1) on the injected arm64 agent"
expect_contains "$what" "statically linked" "the arm64 agent is static"
expect_eq "$(stat -c %a arm64.agent)" 755 "the agent is injected 0755"
expect_eq "$(qemu-aarch64-static ./arm64.agent --version)" "banger-vsock-agent 0.1.0" \
  "qemu-aarch64-static runs the injected agent"
qemu-aarch64-static ./arm64.agent --unix "$PWD/a.sock" 2>agent.log &
pid=$!
bg_track $pid
for _ in $(seq 100); do [ -S a.sock ] && break; sleep 0.1; done
answer=$(qemu-aarch64-static ./arm64.agent --query "unix:$PWD/a.sock" 2>&1)
case $answer in
  "OK banger-vsock-agent 0.1.0 uptime="[0-9]*) bg_pass=$((bg_pass + 1)) ;;
  *) bg_fail=$((bg_fail + 1)); echo "FAIL arm64 agent health answer: [$answer]" >&2 ;;
esac
kill -TERM "$pid"; wait "$pid"
expect_eq "$(json_field arm64.ext4.json 'd["platform"]')" "linux/arm64/v8" "--json platform"
expect_eq "$(json_field arm64.ext4.json 'd["agent"]["arch"]')" arm64 "--json agent.arch"
expect_eq "$(json_field arm64.ext4.json 'd["agent"]["machine"]')" aarch64 "--json agent.machine"
expect_eq "$(json_field arm64.ext4.json 'd["agent"]["path"]')" "$agent_path" "--json agent.path"
expect_eq "$(json_field arm64.ext4.json 'd["agent"]["sha256"]')" \
  "sha256:$(sha256sum < arm64.agent | cut -d' ' -f1)" "--json agent.sha256 is what was injected"
# the same build again is restored from its artifact: --json says the same of the agent
build linux/arm64 again.ext4; rc=$?
expect_eq "$rc" 0 "the arm64 build again ($(cat again.ext4.err))"
expect_eq "$(json_field again.ext4.json 'd["cache"]')" local "the second build is restored"
expect_eq "$(json_field again.ext4.json 'sorted(d["agent"].items())')" \
  "$(json_field arm64.ext4.json 'sorted(d["agent"].items())')" \
  "a restored build's --json names the agent as the build did"

# --plan names the agent the build would inject for the platform
"$BANGER" -q --cache-dir cache "$BANGER_SOURCE_DIR/recipes/default.lua" \
  "image=$REGISTRY/e2e/multi:1" platform=linux/arm64 --plan > plan.out 2> plan.err
expect_eq "$?" 0 "--plan of the arm64 build ($(cat plan.err))"
grep -Eq "^    file +0755 0:0 +$agent_path +agent agents/banger-vsock-agent\.arm64 \(aarch64\)$" plan.out
expect_eq "$?" 0 "--plan names the arm64 agent"

# ---- amd64: the x86-64 agent ----
build linux/amd64 amd64.ext4; rc=$?
expect_eq "$rc" 0 "amd64 build exit status ($(cat amd64.ext4.err))"
debugfs -R "dump -p $agent_path amd64.agent" amd64.ext4 >/dev/null 2>&1
expect_contains "$(file -b amd64.agent)" "x86-64" "file(1) on the injected amd64 agent"
expect_eq "$(json_field amd64.ext4.json 'd["agent"]["arch"]')" amd64 "--json agent.arch (amd64)"

# ---- riscv64: no agent, refused before anything is written ----
build linux/riscv64 riscv.ext4; rc=$?
expect_eq "$rc" 1 "riscv64 build exit status"
expect_contains "$(cat riscv.ext4.err)" \
  "no banger-vsock-agent for linux/riscv64: this banger-build has agents for linux/amd64, linux/arm64 only" \
  "riscv64 refusal message"
expect_file_absent riscv.ext4 "no image for a platform without an agent"
expect_eq "$(ls -A | grep -c '\.tmp-')" 0 "no temporary file left"

# ---- a recipe's own agent binary is checked against the platform too ----
cp amd64.agent mine
cat > own.lua <<'LUA'
local guest = require "banger.guest"
local tree <close> = require("banger.tree").new()
guest.install(tree, guest.payload("systemd"), { dispatch = require("banger.distros").default(),
  platform = args.platform, agent = args.agent })
print(tree:stat("/usr/local/bin/banger-vsock-agent").size)
LUA
"$BANGER" -q own.lua platform=linux/arm64 agent=mine >own.out 2>own.err; rc=$?
expect_eq "$rc" 1 "an amd64 agent file for an arm64 image"
expect_contains "$(cat own.err)" "agent mine runs on linux/amd64, but the image is linux/arm64" \
  "own agent mismatch message"
"$BANGER" -q own.lua platform=linux/amd64 agent=mine >own.out 2>own.err; rc=$?
expect_eq "$rc" 0 "an amd64 agent file for an amd64 image ($(cat own.err))"
expect_eq "$(cat own.out)" "$(stat -c %s mine)" "the recipe's agent is what is injected"

finish
