#!/bin/sh
# Runs the exchange benchmarks (benches/exchange.rs): delivery latency, throughput against
# raw HTTPS uploads, bytes on the wire, and the time to drain a backlog. Prints the
# machine first so the figures can be pasted into BENCHMARKS.md with their context.
#
# Usage: tools/bench-exchange.sh
# Environment: DOCGATE_BENCH_DIR     where the gateway state and the baseline database go
#                                    (default: <target dir>/tmp); it decides which disk is
#                                    measured, so put it on the disk you care about.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bench_dir=${DOCGATE_BENCH_DIR:-${CARGO_TARGET_DIR:-$repo/target}/tmp}
mkdir -p "$bench_dir"

tools/machine.sh "$bench_dir"

exec cargo bench --bench exchange
