#!/bin/bash
# Runs every ```lua example in docs/recipes.md as a recipe against the demo image, and checks
# that each image it writes passes e2fsck -fn.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
command -v e2fsck >/dev/null || skip "e2fsck is not installed (make deps)"
demo_layout layout

python3 - "$BANGER_SOURCE_DIR/docs/recipes.md" <<'PY' || exit 1
import re, sys
text = open(sys.argv[1]).read()
for i, block in enumerate(re.findall(r"```lua\n(.*?)```", text, re.S), 1):
    open("example-%02d.lua" % i, "w").write(block)
PY
n=0
for ex in example-*.lua; do
  n=$((n + 1))
  "$BANGER" -q --cache-dir "$PWD/cache" "$ex" "image=oci:$PWD/layout:demo" 2>"$ex.err"
  expect_eq "$?" 0 "$ex runs ($(cat "$ex.err"))"
done
expect_eq "$n" 16 "docs/recipes.md has its examples"
for img in example-*.ext4; do
  e2fsck -fn "$img" >/dev/null 2>&1
  expect_eq "$?" 0 "e2fsck -fn $img"
done
expect_eq "$(ls example-*.ext4 | wc -l)" 11 "the examples that build wrote their images"
finish
