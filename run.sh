#!/usr/bin/env bash
# The two commands of the README:
#   ./run.sh          the main job: the reference journey, hop by hop
#   ./run.sh test     the whole test suite (root tests run in their own labs)
# Both install what they need first (Debian packages, as root).
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
  echo "run.sh: Labyrinth builds namespaces and needs root (try: sudo $0 $*)" >&2
  exit 1
fi
bash scripts/install-deps.sh

case "${1:-main}" in
  main)
    cargo build --release -p labyrinth
    mkdir -p out
    ./target/release/labyrinth journey --pcap out/journey.pcapng --html out/journey.html "${@:2}"
    echo
    echo "Every capture point in one file:  wireshark -o tcp.analyze_sequence_numbers:FALSE out/journey.pcapng  (or tshark -r)"
    echo "The path drawn:                   out/journey.html"
    echo "Keep the lab to explore it:       ./run.sh main --keep   (then: ./target/release/labyrinth lab ssh --name journey node-1)"
    ;;
  test)
    # The full environment: a root-only test that cannot run here fails
    # instead of skipping (crates/testkit/src/root.rs).
    export LABYRINTH_REQUIRE_ROOT=1
    cargo fmt --all -- --check
    # Every test binary first, on all cores.
    if cargo nextest --version >/dev/null 2>&1; then
      cargo nextest run --workspace --no-run
      suite=(cargo nextest run --workspace --no-fail-fast)
    else
      cargo test --workspace --no-run
      suite=(cargo test --workspace --no-fail-fast)
    fi
    # Then the suite, beside clippy and the fuzz targets. The suite's time is
    # mostly lab tests waiting on namespaces, agents and probes, so the
    # cores sit half idle; clippy and the fuzz build take that idle time at
    # the lowest priority. One after the other they took ~50 min on a 2-core
    # CI machine. Clippy checks into a folder of its own, so it never waits
    # on the suite's build lock; its and the fuzz run's output is printed
    # after the suite's, whole.
    side="$(mktemp -d)"
    (
      nice -n 19 env CARGO_TARGET_DIR=target/clippy \
        cargo clippy --workspace --all-targets -- -D warnings >"$side/clippy.log" 2>&1
      echo $? >"$side/clippy.rc"
      # Every fuzz target for a bounded time from its seeds (fuzz/README.md).
      nice -n 19 bash fuzz/run.sh >"$side/fuzz.log" 2>&1
      echo $? >"$side/fuzz.rc"
    ) &
    side_pid=$!
    trap 'kill -- -$side_pid 2>/dev/null || kill $side_pid 2>/dev/null || true' EXIT
    # The suite's output is also kept, so its end (each failed test's
    # output again, then the list of failures: failure-output in
    # .config/nextest.toml) can be printed last, where a reader of only the
    # log's tail sees it.
    set +e
    "${suite[@]}" 2>&1 | tee "$side/suite.log"
    suite_rc="${PIPESTATUS[0]}"
    set -e
    wait "$side_pid" || true
    trap - EXIT
    failed=()
    [ "$suite_rc" -eq 0 ] || failed+=("tests (exit $suite_rc)")
    for step in clippy fuzz; do
      echo
      echo "===== $step ====="
      rc="$(cat "$side/$step.rc" 2>/dev/null || echo missing)"
      if [ "$rc" = 0 ]; then
        # A pass needs no page of fuzzer statistics: its last lines say it.
        tail -n 5 "$side/$step.log"
      else
        cat "$side/$step.log"
        failed+=("$step (exit $rc)")
      fi
    done
    if [ "$suite_rc" -ne 0 ]; then
      echo
      echo "===== the suite's end again: failed tests' output, then the summary ====="
      tail -n 250 "$side/suite.log"
    fi
    rm -rf "$side"
    if [ ${#failed[@]} -gt 0 ]; then
      echo "run.sh test: FAILED: ${failed[*]}" >&2
      exit 1
    fi
    echo "run.sh test: fmt, tests, clippy and fuzz all passed"
    ;;
  bench)
    cargo build --release -p labyrinth
    ./target/release/labyrinth lab bench
    ;;
  *)
    echo "usage: $0 [main|test|bench]" >&2
    exit 2
    ;;
esac
