#!/bin/sh
# Runs the intake benchmarks (benches/intake.rs): durable intake throughput against a raw
# SQLite commit, idle RSS, and peak RSS while a 200 MiB attachment streams in. Prints the
# machine first so the figures can be pasted into BENCHMARKS.md with their context.
#
# Usage: tools/bench-intake.sh
# Environment: DOCGATE_BENCH_DIR     where the gateway state and the baseline database go
#                                    (default: <target dir>/tmp); it decides which disk is
#                                    measured, so put it on the disk you care about.
#              DOCGATE_BENCH_INTAKE_SECS  length of the measured intake phase (default 15).
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bench_dir=${DOCGATE_BENCH_DIR:-${CARGO_TARGET_DIR:-$repo/target}/tmp}
mkdir -p "$bench_dir"

tools/machine.sh "$bench_dir"

exec cargo bench --bench intake
