# Shared by the benchmarks: the Debian bookworm minbase root filesystem they measure, made once
# with mmdebstrap (it reaches Debian's mirror; a few minutes) and cached in bench/.cache, which
# ignores itself. Sets TARBALL (the uncompressed tar) and LAYER (the same, gzip, as one layer).
bench_minbase() {
  local cache=$1/.cache
  TARBALL=$cache/debian-bookworm-minbase.tar
  LAYER=$cache/debian-bookworm-minbase.tar.gz
  mkdir -p "$cache"
  [ -f "$cache/.gitignore" ] || printf '*\n' > "$cache/.gitignore"
  if [ ! -f "$TARBALL" ]; then
    command -v mmdebstrap >/dev/null || { echo "mmdebstrap is needed (make deps)" >&2; exit 1; }
    mmdebstrap --variant=minbase --format=tar bookworm "$TARBALL.part"
    mv "$TARBALL.part" "$TARBALL"
  fi
  if [ ! -f "$LAYER" ]; then
    gzip -6 -c "$TARBALL" > "$LAYER.part"
    mv "$LAYER.part" "$LAYER"
  fi
}

# The layer blobs of the OCI image in DIR (its one manifest), oldest first, one a line.
bench_blobs() {
  python3 - "$1" <<'PY'
import json, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
m = json.load(open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"].split(":")[1]))
for l in m["layers"]:
    print(d + "/blobs/sha256/" + l["digest"].split(":")[1])
PY
}

# A Lua script at FILE that flattens the gzip layers LAYER... into a tree and prints the time
# of the flatten alone.
bench_flatten_lua() { # FILE LAYER...
  local file=$1 l
  shift
  {
    echo 'local tree, runtime = require "banger.tree", require "banger.runtime"'
    echo 'local t0 = runtime.clock()'
    echo 'local t = assert(tree.from_layers({'
    for l in "$@"; do
      echo "  { path = \"$l\", media_type = \"application/vnd.oci.image.layer.v1.tar+gzip\" },"
    done
    echo '}, { image = "bench" }))'
    echo 'io.write(string.format("%.3f\n", runtime.clock() - t0))'
    echo 't:close()'
  } > "$file"
}
