#!/bin/bash
# Pre-flight bootability checks end to end, on images on a registry on loopback built by the
# default recipe: one that boots (the host's dash and its ELF loader, an init through symlinks),
# one with no init and no systemd (like Docker Hub's debian:bookworm), one whose init is an
# aarch64 ELF in a linux/amd64 image (file(1) must say so too), and a distroless one. By
# default findings are warnings and the image is built; strict=1 fails before anything is
# written; check=1 prints the findings, writes nothing and exits 0 only without findings.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need e2fsck python3 file
registry_start
cache=$PWD/cache
recipe=$BANGER_SOURCE_DIR/recipes/default.lua
loader=$(readlink -f /lib64/ld-linux-x86-64.so.2)
[ -f "$loader" ] && [ -f /bin/dash ] || { echo "no /bin/dash or x86-64 loader on the host" >&2; exit 1; }

python3 - "$loader" <<'PY' || exit 1
import io, struct, sys, tarfile
loader = sys.argv[1]

def elf(machine, interp=None):
    # an ELF64 little-endian executable header; a PT_INTERP naming interp, or none (static)
    phnum = 1 if interp else 0
    head = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH",
        3 if interp else 2, machine, 1, 0x401000, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
    if not interp:
        return head + b"\0" * 64
    s = interp.encode() + b"\0"
    return head + struct.pack("<IIQQQQQQ", 3, 4, 120, 0, 0, len(s), len(s), 1) + s

def image(path, entries):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, what in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if what is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif isinstance(what, str):
                ti.type, ti.linkname = tarfile.SYMTYPE, what
                tf.addfile(ti)
            else:
                data, mode = what
                ti.size, ti.mode = len(data), mode
                tf.addfile(ti, io.BytesIO(data))

script = (b"#!/bin/sh\nexit 0\n", 0o755)
common = [("etc", None), ("etc/os-release", (b"ID=debian\n", 0o644)), ("bin", None),
          ("bin/dash", (open("/bin/dash", "rb").read(), 0o755)), ("bin/sh", "dash"),
          ("lib64", None), ("lib64/ld-linux-x86-64.so.2", (open(loader, "rb").read(), 0o755)),
          ("usr", None), ("usr/bin", None), ("usr/bin/apt-get", script)]
image("good.tar", common + [("lib", None), ("lib/systemd", None),
      ("lib/systemd/systemd", script), ("sbin", None), ("sbin/init", "../lib/systemd/systemd")])
image("noinit.tar", common)
image("arm.tar", common + [("lib", None), ("lib/systemd", None),
      ("lib/systemd/systemd", (elf(183, "/lib/ld-linux-aarch64.so.1"), 0o755)),
      ("sbin", None), ("sbin/init", "/lib/systemd/systemd")])
image("distroless.tar", [("etc", None), ("etc/os-release", (b"ID=debian\n", 0o644)),
      ("app", (elf(62), 0o755))])
PY
for name in good noinit arm distroless; do
  python3 "$BANGER_SOURCE_DIR/tests/tools/mkimage.py" $name --tag 1 --layer $name.tar \
    >/dev/null || exit 1
  registry_push $name 1 pre/$name:1
done
img() { echo "image=$REGISTRY/pre/$1:1"; }
findings() { python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))["checks"]
print(c["count"], " ".join(f["check"] for f in c.get("findings", [])))' "$1"; }

# ---- an image that boots: no findings; check=1 says so, exits 0 and writes nothing ----
"$BANGER" --cache-dir "$cache" "$recipe" "$(img good)" out=$PWD/good.ext4 check=1 >good.out \
  2>good.err
expect_eq "$?" 0 "check=1 of an image that boots ($(tail -3 good.err))"
expect_contains "$(cat good.out)" "pre-flight checks of $REGISTRY/pre/good:1 (linux/amd64): no findings; nothing written" \
  "check=1 says there are no findings"
expect_file_absent good.ext4 "check=1 writes no image"
expect_file_absent good.ext4.intoto.json "check=1 writes no record"
"$BANGER" --json --cache-dir "$cache" "$recipe" "$(img good)" out=$PWD/good.ext4 strict=1 \
  >good.json 2>good.err
expect_eq "$?" 0 "strict=1 builds an image that boots ($(tail -3 good.err))"
expect_eq "$(findings good.json)" "0 " "--json: no findings"
expect_eq "$(grep -c 'pre-flight' good.err)" 0 "no pre-flight warning"
fsck_clean good.ext4 "the image that boots"

# ---- no init, no systemd: warnings by default, an error with strict=1 ----
"$BANGER" --json --cache-dir "$cache" "$recipe" "$(img noinit)" out=$PWD/noinit.ext4 \
  >noinit.json 2>noinit.err
expect_eq "$?" 0 "an image with no init builds by default ($(tail -3 noinit.err))"
expect_eq "$(grep -c '^banger-build: warning: pre-flight init: /sbin/init: not in the image: the kernel cannot start it as init' noinit.err)" \
  1 "one warning line for the missing init"
expect_eq "$(grep -c '^banger-build: warning: pre-flight services: the image has no systemd' noinit.err)" \
  1 "one warning line for the missing systemd"
expect_eq "$(findings noinit.json)" "2 init services" "--json: the findings"
fsck_clean noinit.ext4 "the image with no init"
"$BANGER" --json --cache-dir "$cache" "$recipe" "$(img noinit)" out=$PWD/strict.ext4 strict=1 \
  report=$PWD/strict.losses >strict.json 2>strict.err
expect_eq "$?" 1 "strict=1 refuses an image with no init"
expect_contains "$(cat strict.err)" "strict=1: 2 pre-flight findings in $REGISTRY/pre/noinit:1, so nothing is written" \
  "the error says why"
expect_eq "$(findings strict.json)" "2 init services" "--json of the refused build: the findings"
for f in strict.ext4 strict.ext4.intoto.json strict.losses; do
  expect_file_absent $f "strict=1 writes nothing: $f"
done
expect_eq "$(ls -A | grep -c '\.tmp-')" 0 "no temporary file left"
"$BANGER" --cache-dir "$cache" "$recipe" "$(img noinit)" out=$PWD/check.ext4 check=1 \
  >check.out 2>check.err
expect_eq "$?" 1 "check=1 of an image with findings exits 1"
expect_eq "$(grep -c '^  init  *\|^  services  *' check.out)" 2 "check=1 prints each finding"
expect_contains "$(cat check.out)" "  losses       " "check=1 prints the loss report's summary"
expect_file_absent check.ext4 "check=1 writes no image"
# an init the recipe names, through a symlink inside the tree
"$BANGER" --json --cache-dir "$cache" "$recipe" "$(img noinit)" init=/bin/sh check=1 \
  >sh.json 2>sh.err
expect_eq "$(findings sh.json)" "1 services" "init=/bin/sh: a dynamic ELF whose loader is there"

# ---- an aarch64 init in a linux/amd64 image ----
"$BANGER" --json --cache-dir "$cache" "$recipe" "$(img arm)" check=1 >arm.json 2>arm.err
expect_eq "$?" 1 "check=1 of an image whose init is for another machine"
expect_eq "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["checks"]["findings"][0]["message"].split(": the kernel cannot")[0])' arm.json)" \
  "/sbin/init -> /lib/systemd/systemd: an ELF for aarch64, but the image is for linux/amd64: the kernel of its VM cannot run it" \
  "the finding names the machine, through the link"
# file(1) agrees about the machine and the interpreter
tar -xf arm.tar lib/systemd/systemd
expect_contains "$(file -b lib/systemd/systemd)" "ARM aarch64" "file(1): an aarch64 ELF"
expect_contains "$(file -b lib/systemd/systemd)" "interpreter /lib/ld-linux-aarch64.so.1" \
  "file(1): its interpreter"

# ---- distroless: named as such; distroless=1 builds it without that finding ----
"$BANGER" --json --cache-dir "$cache" "$recipe" "$(img distroless)" check=1 >dl.json 2>dl.err
expect_eq "$(findings dl.json)" "3 init distroless services" \
  "a distroless image: one finding for no shell and no package manager (and no init, no systemd)"
expect_eq "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["checks"]["distroless"])' dl.json)" \
  True "--json says distroless"
"$BANGER" --json --cache-dir "$cache" "$recipe" "$(img distroless)" init=/app distroless=1 \
  check=1 >dl2.json 2>dl2.err
expect_eq "$(findings dl2.json)" "1 services" \
  "distroless=1 init=/app: no distroless finding, a static init; the units still need systemd"
expect_contains "$(cat dl2.err)" "is distroless (no shell, no package manager): built as distroless=1 asks" \
  "the build says it is distroless"
finish
