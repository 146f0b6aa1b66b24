#!/bin/sh
# Prints the machine a benchmark runs on, so its figures can be pasted into BENCHMARKS.md
# with their context. Usage: tools/machine.sh BENCH_DIR (the directory whose disk is measured).
set -eu
bench_dir=$1
echo "machine"
echo "  cpus:    $(nproc) ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sort | uniq -c | sed 's/^ *//' | tr '\n' ' '))"
echo "  memory:  $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "  kernel:  $(uname -sr)"
echo "  disk:    $(df -T "$bench_dir" | awk 'NR == 2 { print $1 ", " $2 ", mounted on " $7 }') (bench directory $bench_dir)"
echo "  rustc:   $(rustc --version)"
echo "  load:    $(cut -d' ' -f1-3 /proc/loadavg)"
echo
