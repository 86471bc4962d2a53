#!/bin/bash
# docs/banger-build.1 against `banger-build --help`: the same options with the same words, so the
# two cannot drift; and the page renders without a warning (groff -ww).
set -u
. "$BANGER_SOURCE_DIR/tests/lib.sh"
man=$BANGER_SOURCE_DIR/docs/banger-build.1
command -v groff >/dev/null || { echo "FAIL: groff is not installed (make deps)" >&2; exit 1; }

"$BANGER" --help > help.txt
expect_eq "$?" 0 "--help"
python3 - "$man" help.txt > compare.txt <<'PY'
import re, shlex, sys
man, help_text = open(sys.argv[1]).read(), open(sys.argv[2]).read()

def words(s):
    return " ".join(s.split())

# --help: option lines indented by 2 or 6, continued by lines indented past the flags
help_opts = []
section = help_text.split("\noptions:\n", 1)[1].split("\n\n", 1)[0]
for line in section.split("\n"):
    indent = len(line) - len(line.lstrip())
    if indent <= 6 and line.lstrip().startswith("-"):
        flags, _, text = line.strip().partition("  ")
        help_opts.append([flags, text])
    elif indent >= 20 and help_opts:
        help_opts[-1][1] += " " + line.strip()
help_opts = [(words(a), words(b)) for a, b in help_opts]

# the man page: .TP, a line of flags (a font macro), then the description
def roff(line):
    m = re.match(r"^\.(B|I|BR|BI|IR|RB|IB|RI)\s+(.*)$", line)
    if m:
        parts = shlex.split(m.group(2))
        return ("" if len(m.group(1)) == 2 else " ").join(parts)
    return re.sub(r"\\f[BIRP]", "", line).replace("\\-", "-")
body = man.split(".SH OPTIONS\n", 1)[1].split("\n.PP", 1)[0].split("\n.SH", 1)[0]
man_opts = []
for item in body.split(".TP\n")[1:]:
    lines = item.strip("\n").split("\n")
    man_opts.append((words(roff(lines[0])), words(" ".join(roff(l) for l in lines[1:]))))

print("help %d man %d" % (len(help_opts), len(man_opts)))
for h in help_opts:
    print(("same " if h in man_opts else "DIFF help: ") + repr(h))
for m in man_opts:
    if m not in help_opts:
        print("DIFF man: " + repr(m))
PY
expect_eq "$?" 0 "compare"
expect_eq "$(grep '^DIFF' compare.txt)" "" "the man page and --help agree"
expect_eq "$(head -n1 compare.txt)" "help 10 man 10" "both list every option"
for opt in "-h, --help" --plan --list-recipes "--cache-dir DIR" "--progress MODE" --json --; do
  expect_eq "$(grep -c "^same ('$opt'" compare.txt)" 1 "$opt is in both"
done

warnings=$(groff -man -Tutf8 -ww -z "$man" 2>&1)
expect_eq "$warnings" "" "groff -ww finds nothing to warn about"
text=$(groff -man -Tutf8 "$man" 2>/dev/null | sed 's/.\x08//g')
expect_contains "$text" "banger-build RECIPE --help" "the synopsis renders"
for recipe in default debian alpine cache; do
  expect_contains "$text" "       $recipe" "the page names the $recipe recipe"
done
finish
