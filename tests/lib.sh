# Shared by the integration scripts: assertions that count, and a closing summary line.
# Scripts run in a fresh directory; $BANGER is the binary, $BANGER_SOURCE_DIR the source tree.
bg_pass=0
bg_fail=0

expect_eq() { # got want what
  if [ "$1" = "$2" ]; then
    bg_pass=$((bg_pass + 1))
  else
    bg_fail=$((bg_fail + 1))
    printf 'FAIL %s: expected [%s], got [%s]\n' "$3" "$2" "$1" >&2
  fi
}

expect_contains() { # haystack needle what
  case "$1" in
    *"$2"*) bg_pass=$((bg_pass + 1)) ;;
    *) bg_fail=$((bg_fail + 1)); printf 'FAIL %s: [%s] not in [%s]\n' "$3" "$2" "$1" >&2 ;;
  esac
}

expect_file_absent() { # path what
  if [ -e "$1" ]; then
    bg_fail=$((bg_fail + 1)); printf 'FAIL %s: %s exists\n' "$2" "$1" >&2
  else
    bg_pass=$((bg_pass + 1))
  fi
}

skip() { printf 'SKIP: %s\n' "$1" >&2; exit 77; }

finish() {
  printf '%d passed, %d failed\n' "$bg_pass" "$bg_fail"
  [ "$bg_fail" -eq 0 ] && [ "$bg_pass" -gt 0 ]
}

# demo_layout DIR: the demo image of examples/demo as an OCI layout in DIR, tagged demo.
demo_layout() {
  local tools=$BANGER_SOURCE_DIR/tests/tools demo=$BANGER_SOURCE_DIR/examples/demo
  command -v python3 >/dev/null || skip "python3 is not installed (make deps)"
  python3 "$tools/mktar.py" "$demo/base.layer" demo-base.tar &&
    python3 "$tools/mktar.py" "$demo/update.layer" demo-update.tar &&
    python3 "$tools/mkimage.py" "$1" --tag demo --layer demo-base.tar \
      --layer demo-update.tar >/dev/null || { echo "cannot make the demo layout" >&2; exit 1; }
}

# The kernel as a judge: loop mounts (and tmpfs scratch space) inside the test's directory. Tests
# run as root in CI; a test that cannot mount fails rather than skips. Loop devices are attached
# here (read-only ones for read-only mounts) and detached at unmount: `mount -o loop` can fail or
# reuse a device when other tests mount at the same time.
bg_mounts=""
bg_loops="" # dir=device pairs
bg_detach() { # dir
  local pair
  for pair in $bg_loops; do
    [ "${pair%%=*}" = "$1" ] && losetup -d "${pair#*=}" 2>/dev/null
  done
  bg_loops=$(printf '%s\n' $bg_loops | grep -v "^$1=" | tr '\n' ' ')
}
bg_unmount_all() {
  local m
  for m in $bg_mounts; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    bg_detach "$m"
  done
  bg_mounts=""
}
bg_mount() { # what dir options...
  local what=$1 dir=$2
  shift 2
  mkdir -p "$dir"
  [ -n "$bg_mounts" ] || trap bg_unmount_all EXIT
  bg_mounts="$dir $bg_mounts"
  if ! mount "$@" "$what" "$dir" 2>mount.err; then
    echo "cannot mount $what on $dir ($(cat mount.err)): the kernel judge needs root" >&2
    exit 1
  fi
}
mount_image() { # image dir [ro|rw]
  local mode=${3:-ro} dev="" i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    if [ "$mode" = ro ]; then dev=$(losetup -f --show -r "$1" 2>mount.err); else
      dev=$(losetup -f --show "$1" 2>mount.err); fi
    [ -n "$dev" ] && break
    sleep 0.2
  done
  if [ -z "$dev" ]; then
    echo "cannot attach $1 to a loop device ($(cat mount.err)): the kernel judge needs root" >&2
    exit 1
  fi
  bg_loops="$2=$dev $bg_loops"
  bg_mount "$dev" "$2" -t ext4 -o "$mode"
  case "$(findmnt -no OPTIONS "$2")" in
    "$mode",* | "$mode") ;;
    *) echo "$1 is mounted $(findmnt -no OPTIONS "$2"), not $mode" >&2; exit 1 ;;
  esac
}
mount_tmpfs() { bg_mount tmpfs "$1" -t tmpfs -o "size=$2"; } # dir size
unmount() { # dir: fails the test when the kernel cannot unmount
  umount "$1" || { echo "cannot unmount $1" >&2; exit 1; }
  bg_mounts=$(printf '%s\n' $bg_mounts | grep -vxF "$1" | tr '\n' ' ')
  bg_detach "$1"
}
fsck_clean() { # image what
  local out
  out=$(basename "$1").fsck
  e2fsck -fn "$1" >"$out" 2>&1
  expect_eq "$?" 0 "e2fsck -fn $1, $2 ($(tail -n 5 "$out" | tr '\n' ' '))"
}
