#!/bin/bash
# kernel=DIR end to end: an image whose /boot holds a bzImage (made by tests/tools/mkbzimage.py
# with Python's and Debian's encoders around a real x86-64 ELF) and an initrd, pushed to a
# loopback registry, built by recipes/default.lua. DIR gets vmlinuz and initrd.img as the image
# has them and vmlinux, byte for byte the ELF the bzImage was made from (cmp, file(1)); --json
# names the files. Every payload compression is unpacked the same way; a missing or broken
# kernel fails before anything is written.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
. "$BANGER_SOURCE_DIR/tests/lib/registry.sh"
registry_need e2fsck python3 file zstd lz4
registry_start
tools=$BANGER_SOURCE_DIR/tests/tools
elf=$BANGER_BUILD_DIR/banger-vsock-agent   # any real ELF executable stands in for a vmlinux
export SOURCE_DATE_EPOCH=1700000000

json_field() { # FILE EXPR (python, d = the JSON)
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2"
}
build() { # TAG OUT KDIR -> exit status; --json in OUT.json, stderr in OUT.err
  "$BANGER" --json -q --cache-dir cache "$BANGER_SOURCE_DIR/recipes/default.lua" \
    "image=$REGISTRY/e2e/kernel:$1" "out=$2" "kernel=$3" > "$2.json" 2> "$2.err"
}

# ---- every compression distro kernels use, through banger.kernel ----
cat > unpack.lua <<'LUA'
local kernel = require "banger.kernel"
local f = assert(io.open(args.file, "rb"))
local bytes = f:read("a")
f:close()
local info = assert(kernel.probe(bytes))
local u = assert(kernel.unpack(bytes, args.dir))
print(info.format, info.compression, info.release, u.format, u.compression, u.size, u.path)
LUA
for c in gzip xz lzma zstd lz4; do
  python3 "$tools/mkbzimage.py" "$elf" "bz-$c" --compress "$c" || exit 1
  out=$("$BANGER" unpack.lua "file=bz-$c" "dir=un-$c" 2>&1)
  expect_eq "$out" "bzimage	$c	6.1.0-9-test	elf	$c	$(stat -c %s "$elf")	un-$c/vmlinux" \
    "unpacking a $c bzImage"
  cmp -s "un-$c/vmlinux" "$elf"; expect_eq "$?" 0 "the $c payload unpacks to the ELF it was made from"
done
# a corrupt payload: one byte in the middle of the xz stream flipped
python3 - bz-xz bz-bad <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 2] ^= 0xff
open(sys.argv[2], "wb").write(b)
PY
out=$("$BANGER" unpack.lua file=bz-bad dir=un-bad 2>&1); rc=$?
expect_eq "$rc" 1 "a corrupt payload fails"
expect_contains "$out" "bzImage: corrupt xz payload" "corrupt payload message"
expect_eq "$(ls -A un-bad 2>/dev/null)" "" "nothing is left of a failed unpack"

# ---- the image: Debian's layout, with links in / ----
python3 "$tools/mkbzimage.py" "$elf" vmlinuz-6.1.0-9-test --compress zstd || exit 1
head -c 300000 /dev/urandom > initrd.img-6.1.0-9-test
cat > debian.layer <<SPEC
dir      /etc                             0755 0 0
file     /etc/os-release                  0644 0 0 =ID=debian
dir      /boot                            0755 0 0
file     /boot/vmlinuz-6.1.0-9-test       0644 0 0 @$PWD/vmlinuz-6.1.0-9-test
file     /boot/initrd.img-6.1.0-9-test    0644 0 0 @$PWD/initrd.img-6.1.0-9-test
file     /boot/vmlinuz-6.1.0-8-test       0644 0 0 =older kernel, not the linked one
symlink  /vmlinuz                         0777 0 0 boot/vmlinuz-6.1.0-9-test
symlink  /initrd.img                      0777 0 0 boot/initrd.img-6.1.0-9-test
SPEC
cat > nokernel.layer <<'SPEC'
dir      /etc                             0755 0 0
file     /etc/os-release                  0644 0 0 =ID=debian
SPEC
cat > broken.layer <<'SPEC'
dir      /etc                             0755 0 0
file     /etc/os-release                  0644 0 0 =ID=debian
dir      /boot                            0755 0 0
file     /boot/vmlinuz-1                  0644 0 0 =not a kernel at all
SPEC
for l in debian nokernel broken; do
  python3 "$tools/mktar.py" "$l.layer" "$l.tar" || exit 1
  python3 "$tools/mkimage.py" "oci-$l" --tag 1 --layer "$l.tar" >/dev/null || exit 1
  registry_push "oci-$l" 1 "e2e/kernel:$l"
done

build debian deb.ext4 "$PWD/kdir"; rc=$?
expect_eq "$rc" 0 "kernel=DIR build exit status ($(cat deb.ext4.err))"
e2fsck -fn deb.ext4 >fsck.log 2>&1; expect_eq "$?" 0 "e2fsck -fn on the image"
cmp -s kdir/vmlinuz vmlinuz-6.1.0-9-test; expect_eq "$?" 0 "vmlinuz is the linked kernel"
cmp -s kdir/initrd.img initrd.img-6.1.0-9-test; expect_eq "$?" 0 "initrd.img is the linked initrd"
cmp -s kdir/vmlinux "$elf"; expect_eq "$?" 0 "vmlinux is the bzImage's payload, uncompressed"
expect_contains "$(file -b kdir/vmlinux)" "ELF 64-bit LSB executable, x86-64" "file(1) on vmlinux"
expect_eq "$(ls -A kdir | tr '\n' ' ')" "initrd.img vmlinux vmlinuz " "DIR holds the three files only"
j=deb.ext4.json
expect_eq "$(json_field $j 'd["kernel"]["dir"]')" "$PWD/kdir" "--json kernel.dir"
expect_eq "$(json_field $j 'd["kernel"]["kernel"]["path"]')" "$PWD/kdir/vmlinuz" "--json kernel.path"
expect_eq "$(json_field $j 'd["kernel"]["kernel"]["source"]')" /vmlinuz "--json kernel.source"
expect_eq "$(json_field $j 'd["kernel"]["kernel"]["release"]')" 6.1.0-9-test "--json kernel.release"
expect_eq "$(json_field $j 'd["kernel"]["kernel"]["compression"]')" zstd "--json kernel.compression"
expect_eq "$(json_field $j 'd["kernel"]["kernel"]["sha256"]')" \
  "sha256:$(sha256sum < vmlinuz-6.1.0-9-test | cut -d' ' -f1)" "--json kernel.sha256"
expect_eq "$(json_field $j 'd["kernel"]["initrd"]["path"]')" "$PWD/kdir/initrd.img" "--json initrd.path"
expect_eq "$(json_field $j 'd["kernel"]["initrd"]["source"]')" /initrd.img "--json initrd.source"
expect_eq "$(json_field $j 'd["kernel"]["unpacked"]["path"]')" "$PWD/kdir/vmlinux" "--json vmlinux path"
expect_eq "$(json_field $j 'd["kernel"]["unpacked"]["format"]')" elf "--json vmlinux format"
expect_eq "$(json_field $j 'd["kernel"]["unpacked"]["machine"]')" x86-64 "--json vmlinux machine"
expect_eq "$(json_field $j 'd["kernel"]["unpacked"]["sha256"]')" \
  "sha256:$(sha256sum < "$elf" | cut -d' ' -f1)" "--json vmlinux sha256"
# the provenance record names the boot files as products beside the image, by sha256sum
expect_eq "$(python3 -c 'import json, sys
for s in json.load(open(sys.argv[1]))["subject"]: print(s["name"], s["digest"]["sha256"])
' deb.ext4.intoto.json)" "$(printf 'deb.ext4 %s\nvmlinuz %s\ninitrd.img %s\nvmlinux %s' \
  "$(sha256sum < deb.ext4 | cut -d' ' -f1)" "$(sha256sum < kdir/vmlinuz | cut -d' ' -f1)" \
  "$(sha256sum < kdir/initrd.img | cut -d' ' -f1)" "$(sha256sum < kdir/vmlinux | cut -d' ' -f1)")" \
  "the provenance subjects: the image and the boot files"
# the same build again replaces the files in place
build debian deb2.ext4 "$PWD/kdir"; expect_eq "$?" 0 "a second build into the same DIR"
cmp -s kdir/vmlinux "$elf"; expect_eq "$?" 0 "vmlinux after the second build"
# the cache holds that image now: kernel= builds it all the same (the kernel comes from the
# tree), into a fresh DIR, under the key a build without kernel= has
build debian deb3.ext4 "$PWD/kdir3"; expect_eq "$?" 0 "kernel=DIR with the image in the cache"
cmp -s kdir3/vmlinux "$elf"; expect_eq "$?" 0 "vmlinux written when the cache has the image"
cmp -s kdir3/initrd.img initrd.img-6.1.0-9-test; expect_eq "$?" 0 "initrd.img written then too"
expect_eq "$(json_field deb3.ext4.json 'd["kernel"]["unpacked"]["path"]')" "$PWD/kdir3/vmlinux" \
  "--json names the files when the cache has the image"
"$BANGER" --json -q --cache-dir cache "$BANGER_SOURCE_DIR/recipes/default.lua" \
  "image=$REGISTRY/e2e/kernel:debian" out=nok.ext4 > nok.json 2>nok.err
expect_eq "$?" 0 "the same build without kernel= ($(cat nok.err))"
expect_eq "$(json_field nok.json 'd["cache"]')" local "without kernel= the image is restored"
expect_eq "$(json_field nok.json 'd["key"]')" "$(json_field deb3.ext4.json 'd["key"]')" \
  "kernel= is not part of the build key"
cmp -s nok.ext4 deb3.ext4; expect_eq "$?" 0 "the restored image is the one built with kernel="

# ---- no kernel: a clear message, no image, no DIR ----
build nokernel none.ext4 "$PWD/kdir-none"; rc=$?
expect_eq "$rc" 1 "kernel=DIR of an image without a kernel"
expect_contains "$(cat none.ext4.err)" \
  "kernel=$PWD/kdir-none: $REGISTRY/e2e/kernel:nokernel has no kernel in the image (no /boot/vmlinuz" \
  "missing kernel message"
expect_file_absent none.ext4 "no image when the kernel is missing"
expect_file_absent kdir-none "no DIR when the kernel is missing"
# without kernel= the same image builds
"$BANGER" -q --cache-dir cache "$BANGER_SOURCE_DIR/recipes/default.lua" \
  "image=$REGISTRY/e2e/kernel:nokernel" out=plain.ext4 2>plain.err
expect_eq "$?" 0 "the kernel-less image builds without kernel= ($(cat plain.err))"

# ---- a file that is not a kernel: named, nothing written ----
build broken broken.ext4 "$PWD/kdir-broken"; rc=$?
expect_eq "$rc" 1 "kernel=DIR of an image with a broken kernel"
expect_contains "$(cat broken.ext4.err)" "kernel: /boot/vmlinuz-1 in $REGISTRY/e2e/kernel:broken: not a kernel" \
  "broken kernel message"
expect_file_absent broken.ext4 "no image when the kernel is broken"
expect_file_absent kdir-broken "no DIR when the kernel is broken"
expect_eq "$(ls -A | grep -c '\.tmp-')" 0 "no temporary file left"

# ---- --plan names the kernel it would write, and writes nothing ----
"$BANGER" -q --cache-dir cache "$BANGER_SOURCE_DIR/recipes/default.lua" \
  "image=$REGISTRY/e2e/kernel:debian" "kernel=$PWD/kdir-plan" --plan > plan.out 2>plan.err
expect_eq "$?" 0 "--plan with kernel= ($(cat plan.err))"
expect_contains "$(cat plan.out)" \
  "  kernel      /vmlinuz (bzimage, zstd, 6.1.0-9-test) and /initrd.img, to $PWD/kdir-plan/" \
  "--plan's kernel line"
expect_file_absent kdir-plan "--plan writes no kernel files"

# ---- a payload that does not decompress: named, no image, and an earlier image stays ----
cat > bad.layer <<SPEC
dir      /etc                             0755 0 0
file     /etc/os-release                  0644 0 0 =ID=debian
dir      /boot                            0755 0 0
file     /boot/vmlinuz-6.1.0-9-test       0644 0 0 @$PWD/bz-bad
file     /boot/initrd.img-6.1.0-9-test    0644 0 0 =initrd
SPEC
python3 "$tools/mktar.py" bad.layer bad.tar || exit 1
python3 "$tools/mkimage.py" oci-bad --tag 1 --layer bad.tar >/dev/null || exit 1
registry_push oci-bad 1 e2e/kernel:corrupt
cp deb.ext4 keep.ext4
build corrupt keep.ext4 "$PWD/kdir-bad"; rc=$?
expect_eq "$rc" 1 "kernel=DIR of an image whose kernel payload is corrupt"
expect_contains "$(cat keep.ext4.err)" \
  "kernel=$PWD/kdir-bad: /boot/vmlinuz-6.1.0-9-test in $REGISTRY/e2e/kernel:corrupt: bzImage: corrupt xz payload" \
  "corrupt payload message names the image and the path"
cmp -s keep.ext4 deb.ext4; expect_eq "$?" 0 "the image already at out= is left as it was"
expect_eq "$(ls -A kdir-bad 2>/dev/null)" "" "no kernel file is left of the failed build"
expect_eq "$(ls -A | grep -c '\.tmp-')" 0 "no temporary image left"

# ---- arm64: the gzipped Image Debian ships unpacks to Image, and replaces an x86 vmlinux ----
python3 - Image-6.1.0-9-arm64 <<'PY'
import gzip, sys
head = bytearray(64)
head[56:60] = b"ARM\x64"
open(sys.argv[1], "wb").write(gzip.compress(bytes(head) + b"arm64 kernel text " * 4000, mtime=0))
PY
cat > arm64.layer <<SPEC
dir      /etc                             0755 0 0
file     /etc/os-release                  0644 0 0 =ID=debian
dir      /boot                            0755 0 0
file     /boot/vmlinuz-6.1.0-9-arm64      0644 0 0 @$PWD/Image-6.1.0-9-arm64
symlink  /boot/vmlinuz                    0777 0 0 vmlinuz-6.1.0-9-arm64
SPEC
python3 "$tools/mktar.py" arm64.layer arm64.tar || exit 1
python3 "$tools/mkimage.py" oci-arm64 --tag 1 --platform linux/arm64/v8 --layer arm64.tar \
  >/dev/null || exit 1
registry_push oci-arm64 1 e2e/kernel:arm64
# the same layers labelled for the other architecture
python3 "$tools/mkimage.py" oci-arm-as-x86 --tag 1 --layer arm64.tar >/dev/null || exit 1
registry_push oci-arm-as-x86 1 e2e/kernel:arm-as-x86
python3 "$tools/mkimage.py" oci-x86-as-arm --tag 1 --platform linux/arm64/v8 --layer debian.tar \
  >/dev/null || exit 1
registry_push oci-x86-as-arm 1 e2e/kernel:x86-as-arm

armbuild() { # TAG OUT KDIR (not quiet: the warnings are checked)
  "$BANGER" --json --cache-dir cache "$BANGER_SOURCE_DIR/recipes/default.lua" \
    "image=$REGISTRY/e2e/kernel:$1" platform=linux/arm64 "out=$2" "kernel=$3" > "$2.json" 2> "$2.err"
}
armbuild arm64 arm.ext4 "$PWD/kdir"; rc=$?
expect_eq "$rc" 0 "kernel=DIR of an arm64 image ($(cat arm.ext4.err))"
expect_contains "$(file -b kdir/Image)" "Linux kernel ARM64 boot executable Image" "file(1) on Image"
gzip -dc Image-6.1.0-9-arm64 | cmp -s - kdir/Image; expect_eq "$?" 0 "Image is the gunzipped vmlinuz"
expect_eq "$(ls -A kdir | tr '\n' ' ')" "Image vmlinuz " \
  "the x86 build's vmlinux and initrd.img are gone from DIR"
expect_contains "$(cat arm.ext4.err)" "has no initrd for /boot/vmlinuz" "no initrd: a warning"
j=arm.ext4.json
expect_eq "$(json_field $j 'd["kernel"]["unpacked"]["path"]')" "$PWD/kdir/Image" "--json Image path"
expect_eq "$(json_field $j 'd["kernel"]["unpacked"]["format"]')" arm64-image "--json Image format"
expect_eq "$(json_field $j 'd["kernel"]["unpacked"]["machine"]')" aarch64 "--json Image machine"
expect_eq "$(json_field $j 'd["kernel"]["kernel"]["compression"]')" gzip "--json arm64 compression"
expect_eq "$(json_field $j '"initrd" in d["kernel"]')" False "--json has no initrd"

# ---- a kernel for another architecture than the image's: refused, nothing written ----
armbuild x86-as-arm mis1.ext4 "$PWD/kdir-mis1"; rc=$?
expect_eq "$rc" 1 "an x86 bzImage in an arm64 image"
expect_contains "$(cat mis1.ext4.err)" \
  "kernel: /vmlinuz in $REGISTRY/e2e/kernel:x86-as-arm is a kernel for amd64, but the image is linux/arm64/v8" \
  "x86 kernel in an arm64 image: message"
expect_file_absent mis1.ext4 "no image for an x86 kernel in an arm64 image"
expect_file_absent kdir-mis1 "no DIR for an x86 kernel in an arm64 image"
build arm-as-x86 mis2.ext4 "$PWD/kdir-mis2"; rc=$?
expect_eq "$rc" 1 "an arm64 Image in an amd64 image"
expect_contains "$(cat mis2.ext4.err)" \
  "kernel=$PWD/kdir-mis2: /boot/vmlinuz in $REGISTRY/e2e/kernel:arm-as-x86 is a kernel for arm64, but the image is linux/amd64" \
  "arm64 kernel in an amd64 image: message (known once unpacked)"
expect_file_absent mis2.ext4 "no image for an arm64 kernel in an amd64 image"
expect_eq "$(ls -A kdir-mis2 2>/dev/null)" "" "no kernel file left for an arm64 kernel in an amd64 image"
expect_eq "$(ls -A | grep -c '\.tmp-')" 0 "no temporary file left"

finish
