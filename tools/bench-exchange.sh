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

echo "machine"
echo "  cpus:    $(nproc) ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sort | uniq -c | sed 's/^ *//' | tr '\n' ' '))"
echo "  memory:  $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "  kernel:  $(uname -sr)"
echo "  disk:    $(df -T "$bench_dir" | awk 'NR == 2 { print $1 ", " $2 ", mounted on " $7 }') (bench directory $bench_dir)"
echo "  rustc:   $(rustc --version)"
echo "  load:    $(cut -d' ' -f1-3 /proc/loadavg)"
echo

exec cargo bench --bench exchange
