#!/bin/bash
# The built banger-vsock-agent binary: statically linked, answers over --unix, exits on SIGTERM.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"

agent=$BANGER_BUILD_DIR/banger-vsock-agent
[ -x "$agent" ] || { echo "FAIL: $agent was not built" >&2; exit 1; }
command -v python3 >/dev/null || skip "python3 is needed to talk to the unix socket"

expect_contains "$(file -L "$agent")" "statically linked" "the agent is statically linked"
expect_eq "$("$agent" --version)" "banger-vsock-agent 0.1.0" "--version"
expect_contains "$("$agent" --help)" "default 52000" "--help names the default port"
"$agent" --port 0 2>err; rc=$?
expect_eq "$rc" 2 "--port 0 exit status"
expect_eq "$(cat err)" "banger-vsock-agent: bad port '0': expected a number from 1 to 4294967294" \
  "--port 0 message"
"$agent" --port 12x 2>/dev/null; expect_eq "$?" 2 "--port 12x exit status"
"$agent" --bogus 2>err; rc=$?
expect_eq "$rc" 2 "unknown argument exit status"
expect_contains "$(cat err)" "unknown argument '--bogus'" "unknown argument message"
# getopt_long: --opt=value, short options, -- ends the options
"$agent" --port=0 2>err; rc=$?
expect_eq "$rc/$(head -n1 err)" "2/banger-vsock-agent: bad port '0': expected a number from 1 to 4294967294" "--port=0"
"$agent" -p 99999999999 2>err; rc=$?
expect_eq "$rc" 2 "-p with a port out of range"
"$agent" --port 2>err; rc=$?
expect_eq "$rc/$(head -n1 err)" "2/banger-vsock-agent: option '--port' needs a value" "--port without a value"
"$agent" -x 2>err; rc=$?
expect_eq "$rc/$(head -n1 err)" "2/banger-vsock-agent: unknown argument '-x'" "unknown short option"
"$agent" -- --help 2>err >/dev/null; rc=$?
expect_eq "$rc/$(head -n1 err)" "2/banger-vsock-agent: unexpected argument '--help'" "-- ends the options"
expect_eq "$("$agent" -V)" "banger-vsock-agent 0.1.0" "-V"

# banger-build carries this very binary as its amd64 agent (on an x86-64 host)
cat > dump.lua <<'LUA'
local f = assert(io.open(args.out, "wb"))
f:write(assert(require("banger.runtime").asset(args.name)))
assert(f:close())
LUA
if [ "$(uname -m)" = x86_64 ]; then
  "$BANGER" dump.lua name=agents/banger-vsock-agent.amd64 out=embedded.amd64
  cmp -s embedded.amd64 "$agent"; expect_eq "$?" 0 "the embedded amd64 agent is the built one"
fi

"$agent" --unix "$PWD/a.sock" 2>agent.log &
pid=$!
for _ in $(seq 50); do [ -S a.sock ] && break; sleep 0.1; done

talk() { # request bytes (python literal) -> reply, read until the agent closes or 1 s passes
  python3 - "$1" <<'PY'
import socket, sys, ast, time
s = socket.socket(socket.AF_UNIX)
s.connect("a.sock")
s.sendall(ast.literal_eval(sys.argv[1]))
s.settimeout(1.0)
out = b""
try:
    while not out.endswith(b"\n") or out.count(b"\n") < sys.argv[1].count("\\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
except socket.timeout:
    pass
sys.stdout.write(out.decode())
PY
}

up=$(cut -d. -f1 /proc/uptime)
reply=$(talk 'b"HEALTH\n"')
case $reply in
  "OK banger-vsock-agent 0.1.0 uptime="[0-9]*) bg_pass=$((bg_pass + 1)) ;;
  *) bg_fail=$((bg_fail + 1)); echo "FAIL health reply: [$reply]" >&2 ;;
esac
got=${reply##*uptime=}
[ "$got" -ge "$up" ] && [ "$got" -le $((up + 5)) ]
expect_eq "$?" 0 "uptime $got is the guest's uptime ($up)"
expect_eq "$(talk 'b"PING\n"')" "ERR unknown request" "unknown request"
expect_eq "$(talk "b'$(head -c 300 /dev/zero | tr '\0' A)'")" "ERR request too long" "oversize request"
expect_eq "$(talk 'b"HEALTH\r\nX\n"' | tail -n1)" "ERR unknown request" "two requests, one connection"

# the client side: --query asks for health and prints the answer
out=$("$agent" --query "unix:$PWD/a.sock" 2>err); rc=$?
expect_eq "$rc" 0 "--query exit status ($(cat err))"
out2=$("$agent" -Q "unix:$PWD/a.sock" 2>err); rc=$?
expect_eq "$rc/${out2%% uptime=*}" "0/OK banger-vsock-agent 0.1.0" "-Q, the short form"
case $out in
  "OK banger-vsock-agent 0.1.0 uptime="[0-9]*) bg_pass=$((bg_pass + 1)) ;;
  *) bg_fail=$((bg_fail + 1)); echo "FAIL --query answer: [$out]" >&2 ;;
esac
"$agent" --query "unix:$PWD/nobody.sock" >/dev/null 2>err; rc=$?
expect_eq "$rc" 1 "--query with nobody listening"
expect_contains "$(cat err)" "cannot connect to $PWD/nobody.sock" "--query connection error"
"$agent" --query banana >/dev/null 2>err; rc=$?
expect_eq "$rc" 2 "--query with a bad CID"
expect_contains "$(cat err)" "bad CID 'banana'" "--query bad CID message"
# a server that answers something else: exit 1, the answer printed
python3 - "$PWD/other.sock" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept(); c.recv(64); c.sendall(b"ERR busy\n"); c.close()
PY
other=$!
for _ in $(seq 50); do [ -S other.sock ] && break; sleep 0.1; done
out=$("$agent" --query "unix:$PWD/other.sock" 2>/dev/null); rc=$?
expect_eq "$rc" 1 "--query of an agent that is not OK"
expect_eq "$out" "ERR busy" "--query prints what it got"
wait "$other"

kill -TERM "$pid"
wait "$pid"; rc=$?
expect_eq "$rc" 0 "SIGTERM exit status"
expect_contains "$(cat agent.log)" "listening on unix socket $PWD/a.sock" "start-up log line"
expect_contains "$(cat agent.log)" "signal 15: exiting" "exit log line"
expect_file_absent a.sock "the socket is removed on exit"

finish
