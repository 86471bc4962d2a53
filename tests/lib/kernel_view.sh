# The kernel as judge of an image (source tests/lib.sh first): kernel_view NAME LAYER... replays
# the layers into a tree with banger.tree (devices and xattrs kept), writes the image with
# banger.ext4, checks it with `e2fsck -fn`, loop-mounts it read-only and compares what the
# kernel shows with the tree's walk: names, types, modes, owners, sizes, link counts, times
# (mtime, atime, ctime as seconds:nanoseconds), link targets, device numbers, content digests and
# xattrs. Mounting needs root, which CI has: without it the comparison fails, it is not skipped.
# Works in NAME/ under the test's directory; the mount is the test's own (run-in-dir.sh gives
# every test as root a mount namespace of its own) and is undone before returning.
kernel_view() {
  local name=$1 layers
  shift
  layers=$(IFS=,; printf '%s' "$*")
  mkdir -p "$name/mnt" || { expect_eq "mkdir" ok "$name: work directory"; return; }
  "$BANGER" -q "$BANGER_SOURCE_DIR/tests/tools/view_tree.lua" name="$name" layers="$layers" \
    out="$name/image.ext4" > "$name/tree.txt" 2> "$name/tree.err"
  expect_eq "$?" 0 "$name: tree and image ($(head -c 2000 "$name/tree.err"))"
  e2fsck -fn "$name/image.ext4" > "$name/fsck.txt" 2>&1
  expect_eq "$?" 0 "$name: e2fsck -fn ($(tail -5 "$name/fsck.txt"))"
  if [ "$(id -u)" != 0 ]; then
    expect_eq "not root" root "$name: the kernel's view needs root to loop-mount (CI runs as root)"
    return
  fi
  mount -o loop,ro,noload "$name/image.ext4" "$name/mnt" 2> "$name/mount.err"
  expect_eq "$?" 0 "$name: loop mount ($(cat "$name/mount.err"))"
  python3 "$BANGER_SOURCE_DIR/tests/tools/view_mount.py" "$name/mnt" > "$name/kernel.txt" \
    2> "$name/kernel.err"
  expect_eq "$?" 0 "$name: the kernel's listing ($(tail -3 "$name/kernel.err"))"
  umount "$name/mnt"
  expect_eq "$(diff -u "$name/tree.txt" "$name/kernel.txt" | head -60)" "" \
    "$name: the kernel shows what the tree holds"
  expect_eq "$(wc -l < "$name/tree.txt")" "$(wc -l < "$name/kernel.txt")" "$name: as many names"
}
