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
