#!/bin/bash
# Runs every fuzz target of a BANGER_FUZZ=ON build directory.
#   run.sh BUILD SECONDS   fuzz each target that long, growing BUILD/fuzz-corpus/<target>
#   run.sh BUILD smoke     replay the seeds and reproducers, then a fixed-seed run of each target
# A crash, sanitizer report, leak or timeout fails the target; its input is kept in
# BUILD/fuzz-artifacts/ and the end of the log is printed.
set -uo pipefail
build=$1
mode=$2
src=$(cd "$(dirname "$0")" && pwd)
seeds=$build/fuzz-seeds
python3 "$src/mkseeds.py" "$seeds" || exit 1
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
passed=0
failed=0
for bin in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  t=$(basename "$bin")
  log=$build/fuzz-logs/$t.log
  common=(-rss_limit_mb=2048 -timeout=10 -artifact_prefix="$build/fuzz-artifacts/$t-"
          -print_final_stats=1)
  [ -f "$src/$t.dict" ] && common+=(-dict="$src/$t.dict")
  [ "$t" = fuzz_layer ] && common+=(-max_len=65536)
  if [ "$mode" = smoke ]; then
    # deterministic: the seeds as they are, then a short run from a fixed random seed
    "$bin" "${common[@]}" -runs=0 "$seeds/$t" > "$log" 2>&1 &&
      "$bin" "${common[@]}" -seed=1 -runs=2000 "$seeds/$t" >> "$log" 2>&1
  else
    mkdir -p "$build/fuzz-corpus/$t"
    "$bin" "${common[@]}" -max_total_time="$mode" "$build/fuzz-corpus/$t" "$seeds/$t" > "$log" 2>&1
  fi
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz: $t ok (${runs:-0} executions)"
  else
    failed=$((failed + 1))
    echo "fuzz: $t FAILED (exit $rc), log $log:"
    tail -40 "$log"
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
