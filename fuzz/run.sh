#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZ_SECONDS each, default 45),
# starting from the committed seeds; `./run.sh test` runs it beside the
# tests. Exits non-zero if any target found a crash, a failed property, a
# hang (an input still running after FUZZ_HANG_SECONDS, default 25: parsing
# one input takes microseconds, so this only catches a stall) or runaway
# memory, and prints the path of each input that did it.
#
#   fuzz/run.sh                 every target
#   fuzz/run.sh dns_wire        one target
#   FUZZ_SECONDS=600 fuzz/run.sh lab_file    longer
#
# Needs cargo-fuzz (scripts/install-deps.sh installs it). libFuzzer runs
# without a sanitizer (`-s none`) so the stable toolchain builds it; Rust's
# own checks (bounds, overflow, debug assertions) are what turn a bug into
# a crash.
set -euo pipefail
cd "$(dirname "$0")"

secs="${FUZZ_SECONDS:-45}"
hang="${FUZZ_HANG_SECONDS:-25}"
# The same build flags for `build` and `run`, so `run` rebuilds nothing.
flags=(--sanitizer none --codegen-units 16)

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

start=$(date +%s)
cargo fuzz build "${flags[@]}"
echo "fuzz: built ${#targets[@]} targets in $(($(date +%s) - start)) s" >&2

failed=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  before=$(find "artifacts/$t" -type f | sort)
  echo "fuzz: $t for ${secs} s" >&2
  # New inputs go to corpus/<target> (not committed); seeds/<target> is read.
  if ! cargo fuzz run "${flags[@]}" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -timeout="$hang" -max_len=16384 -print_final_stats=1; then
    new=$(comm -13 <(echo "$before") <(find "artifacts/$t" -type f | sort) | sed '/^$/d')
    if [ -z "$new" ]; then
      new="(no input saved; see the output above)"
    fi
    while IFS= read -r f; do
      failed+=("$t: ${f/#artifacts/fuzz/artifacts}")
    done <<<"$new"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo >&2
  echo "fuzz: FAILED. Inputs that crashed, hung or broke a property:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  echo "Replay one: cd fuzz && cargo fuzz run ${flags[*]} <target> <input>" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${secs} s each, no failure" >&2
