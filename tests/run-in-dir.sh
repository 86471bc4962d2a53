#!/bin/sh
# Runs a test command in a fresh, empty working directory of its own ($1), with HOME, TMPDIR and
# XDG_CACHE_HOME inside it, so what a test makes lands there and nowhere else. A test that
# writes outside it fails: as root (CI) the command runs in a mount namespace of its own in which
# the source tree, build directories included, is read-only except the test's directory and the
# caches named in BG_TEST_WRITABLE (colon-separated). Where no private mount namespace can be
# made (not root, or "/" is not a mount point, as in a plain chroot, so its propagation cannot be
# set) the source tree's status (untracked and changed files) is compared before and after the
# test instead. BG_TEST_SANDBOX tells the test which: "namespace" or "compare";
# BG_TEST_SANDBOX_MODE=compare asks for the comparison.
dir=$1
shift
src=${BANGER_SOURCE_DIR:?BANGER_SOURCE_DIR is not set}
rm -rf "$dir" && mkdir -p "$dir/home" "$dir/tmp" && cd "$dir" || exit 1
export HOME="$dir/home" TMPDIR="$dir/tmp" XDG_CACHE_HOME="$dir/home/.cache"

if [ "${BG_TEST_SANDBOX_MODE:-}" != compare ] && [ "$(id -u)" = 0 ] &&
  unshare --mount --propagation private true 2>/dev/null; then
  export BG_TEST_SANDBOX=namespace
  old_ifs=$IFS
  IFS=:
  for w in ${BG_TEST_WRITABLE:-}; do mkdir -p "$w" || exit 1; done
  IFS=$old_ifs
  exec unshare --mount --propagation private -- sh -c '
    src=$1 dir=$2
    shift 2
    mount --bind -o ro "$src" "$src" || exit 1
    IFS=:
    for w in "$dir" ${BG_TEST_WRITABLE:-}; do
      mount --bind "$w" "$w" && mount -o remount,bind,rw "$w" || exit 1
    done
    unset IFS
    cd "$dir" || exit 1 # onto the new mounts: what the test mounts below is seen there
    exec "$@"' sh "$src" "$dir" "$@"
fi

export BG_TEST_SANDBOX=compare
untracked() {
  GIT_OPTIONAL_LOCKS=0 git -C "$src" status --porcelain=v1 --untracked-files=all 2>/dev/null |
    sort > "$1"
}
marks=$(mktemp -d) || exit 1
untracked "$marks/before"
"$@"
rc=$?
untracked "$marks/after"
if ! cmp -s "$marks/before" "$marks/after"; then
  echo "FAIL: the test wrote into the source tree (git status before and after):" >&2
  diff "$marks/before" "$marks/after" | grep "^[<>]" >&2
  [ "$rc" -ne 0 ] || rc=1
fi
rm -rf "$marks"
exit $rc
