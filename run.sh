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
    if cargo nextest --version >/dev/null 2>&1; then
      cargo nextest run --workspace --no-fail-fast
    else
      cargo test --workspace --no-fail-fast
    fi
    cargo clippy --workspace --all-targets -- -D warnings
    # Every fuzz target for a bounded time from its seeds (fuzz/README.md).
    bash fuzz/run.sh
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
