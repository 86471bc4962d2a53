#!/bin/bash
# banger's ext4 writer against the pipeline it replaces: mkfs.ext4 -d DIR, then a debugfs pass of
# set_inode_field commands restoring every owner. Input: a Debian bookworm minbase tree, cached
# in bench/.cache (git-ignored). Not a test: prints times, the ratio and peak RSS.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${BUILD:-$src/build}
cache=$here/.cache
size=${SIZE_MIB:-1024}
mkdir -p "$cache"
tar=$cache/minbase.tar
if [ ! -s "$tar" ]; then
  echo "building $tar with mmdebstrap (once)" >&2
  mmdebstrap --variant=minbase --quiet bookworm "$tar.tmp"
  mv "$tar.tmp" "$tar"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cc -O2 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I"$src/core" "$here/ext4_from_tar.c" \
  "$build/libbg_core.a" $(pkg-config --libs libarchive ext2fs com_err libcrypto) -o "$work/from_tar"

# the old pipeline: extract, mkfs.ext4 -d, then a debugfs pass for the owners
mkdir "$work/root"
te0=$(date +%s.%N)
tar -C "$work/root" --numeric-owner -xpf "$tar"
te1=$(date +%s.%N)
(cd "$work/root" && find . -mindepth 1 -printf 'set_inode_field /%P uid %U\nset_inode_field /%P gid %G\n') \
  | sed 's|^set_inode_field /\./|set_inode_field /|' > "$work/owners.cmds"
entries=$(wc -l < "$work/owners.cmds"); entries=$((entries / 2))

t0=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/mkfs.rss" mkfs.ext4 -q -F -t ext4 -d "$work/root" "$work/old.ext4" "${size}M"
t1=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/debugfs.rss" debugfs -w -f "$work/owners.cmds" "$work/old.ext4" >/dev/null 2>&1
t2=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/banger.rss" "$work/from_tar" "$tar" "$work/new.ext4" "$size" > "$work/banger.out"
t3=$(date +%s.%N)

e2fsck -fn "$work/new.ext4" >/dev/null 2>&1 && clean=clean || clean=NOT-CLEAN
old=$(echo "$t2 - $t0" | bc -l); new=$(echo "$t3 - $t2" | bc -l)
ext4_only=$(awk '{print $4}' "$work/banger.out")
printf 'entries in the tree:          %d\n' "$entries"
printf 'mkfs.ext4 -d:                 %.2f s (peak RSS %d KiB)\n' "$(echo "$t1 - $t0" | bc -l)" "$(cat "$work/mkfs.rss")"
printf 'debugfs owner pass:           %.2f s (peak RSS %d KiB)\n' "$(echo "$t2 - $t1" | bc -l)" "$(cat "$work/debugfs.rss")"
printf 'banger tar->tree->ext4:       %.2f s (peak RSS %d KiB; %s)\n' "$new" "$(cat "$work/banger.rss")" "$(cat "$work/banger.out")"
printf 'tar extraction (old, apart):  %.2f s\n' "$(echo "$te1 - $te0" | bc -l)"
printf 'ext4 build ratio:             %.1fx (mkfs -d + debugfs vs banger ext4 write)\n' \
  "$(echo "$old / $ext4_only" | bc -l)"
printf 'end to end ratio:             %.1fx (extract + mkfs -d + debugfs vs tar->tree->ext4)\n' \
  "$(echo "($old + $te1 - $te0) / $new" | bc -l)"
printf 'banger image e2fsck -fn:      %s\n' "$clean"
