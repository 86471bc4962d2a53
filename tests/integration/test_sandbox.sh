#!/bin/bash
# The test runner's own rule: a test writes only inside its fresh directory. HOME, TMPDIR and
# XDG_CACHE_HOME point into it; a write into the source tree (its build directories included)
# fails the test that made it, checked here on a nested run of the runner.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"

expect_eq "$HOME" "$PWD/home" "HOME inside the test directory"
expect_eq "$TMPDIR" "$PWD/tmp" "TMPDIR inside the test directory"
expect_eq "$XDG_CACHE_HOME" "$PWD/home/.cache" "XDG_CACHE_HOME inside the test directory"
expect_eq "$(ls -A)" "$(printf 'home\ntmp')" "the directory starts empty"

run=$BANGER_SOURCE_DIR/tests/run-in-dir.sh
stray=$BANGER_SOURCE_DIR/.stray-$$
"$run" "$PWD/ok" sh -c 'echo x > file && mkdir -p d && echo y > d/f'
expect_eq "$?" 0 "writing inside its own directory"
expect_eq "$(cat ok/d/f)" y "what it wrote is there"
"$run" "$PWD/bad" sh -c "echo x > '$stray'" 2>bad.err
rc=$?
rm -f "$stray" 2>/dev/null
expect_eq "$([ "$rc" -ne 0 ] && echo failed)" failed \
  "a write into the source tree fails the test ($(cat bad.err))"
expect_file_absent "$stray" "nothing was left in the source tree"
"$run" "$PWD/build" sh -c "echo x > '$BANGER_BUILD_DIR/.stray-$$'" 2>build.err
rc=$?
if [ "$(id -u)" = 0 ] && unshare --mount --propagation private true 2>/dev/null; then
  expect_eq "${BG_TEST_SANDBOX:-}" namespace "as root on a machine whose / is a mount point, the runner uses a mount namespace"
  # read-only as root: the build directory is out of bounds too
  expect_eq "$([ "$rc" -ne 0 ] && echo failed)" failed \
    "a write into the build directory fails the test ($(cat build.err))"
  expect_file_absent "$BANGER_BUILD_DIR/.stray-$$" "nothing was left in the build directory"
else
  expect_eq "${BG_TEST_SANDBOX:-}" compare "without a private mount namespace the runner compares the tree's status"
  rm -f "$BANGER_BUILD_DIR/.stray-$$"
fi
# the comparison, asked for on a source tree of the test's own: a new file or a changed tracked
# file fails the test that made it
fake=$PWD/fake-src
mkdir -p "$fake" && git -C "$fake" init -q && echo a > "$fake/tracked" &&
  git -C "$fake" add tracked && git -C "$fake" -c user.name=t -c user.email=t@t commit -qm t
expect_eq "$?" 0 "a source tree of the test's own"
for change in "echo x > '$fake/new'" "echo x >> '$fake/tracked'"; do
  BANGER_SOURCE_DIR=$fake BG_TEST_SANDBOX_MODE=compare "$run" "$PWD/cmp" \
    sh -c "echo \$BG_TEST_SANDBOX > mode; $change" 2>cmp.err
  rc=$?
  expect_eq "$(cat cmp/mode)" compare "the comparison can be asked for"
  expect_eq "$([ "$rc" -ne 0 ] && echo failed)" failed "compared: $change fails the test ($(cat cmp.err))"
  git -C "$fake" checkout -q tracked && rm -f "$fake/new"
done
BANGER_SOURCE_DIR=$fake BG_TEST_SANDBOX_MODE=compare "$run" "$PWD/cmp" sh -c "echo x > ok"
expect_eq "$?" 0 "compared: a write inside its own directory passes"
"$run" "$PWD/skip" sh -c 'exit 77'
expect_eq "$?" 77 "the command's status passes through"
finish
