#!/bin/bash
# Recipes by name: a bare name is NAME.lua on the search path (./recipes, then
# $XDG_CONFIG_HOME/banger/recipes or ~/.config/banger/recipes, then /etc/banger/recipes, then the
# installed share/banger/recipes); --list-recipes shows what it finds. An installed banger-build
# (cmake --install into a prefix of this test's own) finds its recipes, its agent and its man page.
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
demo_layout layout
export XDG_CONFIG_HOME=$PWD/config HOME=$PWD/home
mkdir -p work/recipes config/banger/recipes home
cd work
printf -- '-- Here: the current directory'"'"'s recipes.\nio.write("here ", args.x or "", "\\n")\n' > recipes/both.lua
printf -- '-- Mine: from the user'"'"'s config.\nio.write("config\\n")\n' > ../config/banger/recipes/both.lua
printf -- '-- Only mine.\nio.write("config only\\n")\n' > ../config/banger/recipes/mine.lua
printf 'io.write("a file here\\n")\n' > plain.lua

expect_eq "$("$BANGER" both x=1)" "here 1" "./recipes comes first"
expect_eq "$("$BANGER" mine)" "config only" "then \$XDG_CONFIG_HOME/banger/recipes"
expect_eq "$("$BANGER" plain.lua)" "a file here" "x.lua in the current directory is a file"
expect_eq "$("$BANGER" ./recipes/both.lua)" "here " "a path with a slash is a path"
env -u XDG_CONFIG_HOME "$BANGER" mine >/dev/null 2>&1
expect_eq "$?" 2 "without XDG_CONFIG_HOME, ~/.config/banger/recipes (still empty)"
mkdir -p ../home/.config/banger/recipes
cp ../config/banger/recipes/mine.lua ../home/.config/banger/recipes/
expect_eq "$(env -u XDG_CONFIG_HOME "$BANGER" mine)" "config only" \
  "without XDG_CONFIG_HOME, ~/.config/banger/recipes"

"$BANGER" mien 2>err; rc=$?
expect_eq "$rc" 2 "an unknown name is a usage error"
expect_contains "$(cat err)" "banger-build: no recipe named 'mien' in ./recipes, $XDG_CONFIG_HOME/banger/recipes, /etc/banger/recipes" "the directories searched"
expect_contains "$(cat err)" "did you mean 'mine'? banger-build --list-recipes shows them all" "the closest name"
"$BANGER" ../x 2>err; rc=$?
expect_eq "$rc" 1 "a missing path is a failed build"
expect_contains "$(cat err)" "cannot open ../x" "a missing path is named"

out=$("$BANGER" --list-recipes); rc=$?
expect_eq "$rc" 0 "--list-recipes exit status"
expect_contains "$out" "./recipes:
  both         Here: the current directory's recipes." "the current directory's, with its first comment line"
expect_contains "$out" "$XDG_CONFIG_HOME/banger/recipes:
  both         Mine: from the user's config. (hidden by ./recipes/both.lua)
  mine         Only mine." "the config's, a hidden one marked"

# an installed banger-build: recipes by name from its prefix, the agent, the man page
prefix=$(cd .. && pwd)/prefix
# what `cmake --install --prefix` runs, with its manifest written here rather than into the build
sed "s|file(WRITE \"$BANGER_BUILD_DIR/|file(WRITE \"$PWD/|" "$BANGER_BUILD_DIR/cmake_install.cmake" \
  > install.cmake
cmake -DCMAKE_INSTALL_PREFIX="$prefix" -P install.cmake >install.log 2>&1
expect_eq "$?" 0 "cmake --install ($(tail -n 3 install.log))"
expect_eq "$(test -f install_manifest.txt && echo here)" here "the manifest stays in the test's directory"
mkdir -p ../empty && cd ../empty
export XDG_CONFIG_HOME=$PWD/nothing
installed=$prefix/bin/banger-build
expect_eq "$(test -f "$prefix/share/man/man1/banger-build.1" && echo yes)" yes "the man page is installed"
out=$("$installed" --list-recipes)
for r in alpine cache debian default; do
  expect_contains "$out" "  $r " "--list-recipes lists the installed $r"
done
expect_contains "$out" "$prefix/share/banger/recipes:" "the installed recipes' directory"
expect_contains "$("$installed" default --help)" "usage: banger-build default [key=value ...]" \
  "an installed recipe by name: its --help"
"$installed" -q --cache-dir "$PWD/cache" default "image=oci:$PWD/../layout:demo" out=i.ext4 2>err
expect_eq "$?" 0 "an installed banger-build builds with the default recipe by name ($(cat err))"
expect_eq "$(debugfs -R 'cat /usr/local/bin/banger-vsock-agent' i.ext4 2>/dev/null | sha256sum)" \
  "$(sha256sum < "$prefix/libexec/banger/banger-vsock-agent")" "with the installed agent"
finish
