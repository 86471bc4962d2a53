# The part of the boot tests that goes through banger-build: guest -> loopback registry ->
# `banger-build RECIPE image=... out=...` -> kernel and initrd out of the built image.
# Source after boot.sh. Extra recipe arguments: $BANGER_BOOT_RECIPE_ARGS (split on spaces).

# What every boot test does first: check the tools, start the loopback registry (stopped on exit).
boot_begin() {
  boot_require_tools
  boot_registry_start "$PWD/registry" || exit 1
  trap boot_registry_stop EXIT
}

# Builds IMAGE from the cached guest NAME with RECIPE; sets KERNEL and INITRD. Failures count.
build_with_recipe() { # RECIPE NAME IMAGE
  local recipe=$1 name=$2 image=$3 oci start rc
  oci=$(boot_guest oci "$name") || { bg_fail=$((bg_fail + 1)); echo "FAIL building guest $name" >&2; return 1; }
  boot_registry_push "$oci" "guest:$name" || { bg_fail=$((bg_fail + 1)); return 1; }
  start=$SECONDS
  # shellcheck disable=SC2086
  "$BANGER" "$recipe" "image=$REGISTRY/guest:$name" "out=$image" ${BANGER_BOOT_RECIPE_ARGS:-} \
    > "build-$name.log" 2>&1
  rc=$?
  printf 'banger-build %s (%s): exit %d after %d s; log %s\n' "$(basename "$recipe")" "$name" \
    "$rc" "$((SECONDS - start))" "$PWD/build-$name.log" >&2
  expect_eq "$rc" 0 "banger-build $(basename "$recipe") image=guest:$name exit status"
  [ "$rc" -eq 0 ] || { tail -n 20 "build-$name.log" >&2; return 1; }
  expect_eq "$(test -f "$image" && echo yes)" yes "banger-build wrote $image"
  if ! boot_kernel "$image" "kernel-$name"; then
    bg_fail=$((bg_fail + 1))
    echo "FAIL no kernel and initrd in /boot of $image" >&2
    return 1
  fi
}

# Keeps what a failed run needs for reading; drops the large images of a passing one.
boot_keep_or_clean() {
  if [ "$bg_fail" -eq 0 ]; then
    rm -f ./*.ext4
    printf 'serial logs: %s/*.log\n' "$PWD" >&2
  else
    printf 'kept for reading: images %s/*.ext4, serial logs %s/*.log, build logs %s/build-*.log\n' \
      "$PWD" "$PWD" "$PWD" >&2
  fi
}
