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
if [ "$(id -u)" = 0 ]; then
  # read-only as root: the build directory is out of bounds too
  expect_eq "$([ "$rc" -ne 0 ] && echo failed)" failed \
    "a write into the build directory fails the test ($(cat build.err))"
  expect_file_absent "$BANGER_BUILD_DIR/.stray-$$" "nothing was left in the build directory"
else
  rm -f "$BANGER_BUILD_DIR/.stray-$$"
fi
"$run" "$PWD/skip" sh -c 'exit 77'
expect_eq "$?" 77 "the command's status passes through"
finish
