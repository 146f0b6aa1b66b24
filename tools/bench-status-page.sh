#!/bin/sh
# Runs the status page benchmark (benches/status_page.rs): GET /, /healthz, /metrics and
# /api/v1/status of a release `docgate run` over a store of 1,000,000 documents, against a 404
# from the same server and a raw `SELECT 1` on the same database. Prints the machine first.
#
# Usage: tools/bench-status-page.sh [--rebuild]
#          --rebuild   seed the cached store again (it is kept under <target dir>/tmp, or
#                      DOCGATE_BENCH_DIR, keyed by the schema version, and rebuilt by itself
#                      when a migration is added)
# Environment: DOCGATE_BENCH_DIR        where the store and the run directory go (default:
#                                       <target dir>/tmp); it decides which disk is measured.
#              DOCGATE_BENCH_DOCUMENTS  documents in the store (default 1000000).
#              DOCGATE_BENCH_KEEP=1     keep the gateway's config and log.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bench_dir=${DOCGATE_BENCH_DIR:-${CARGO_TARGET_DIR:-$repo/target}/tmp}
mkdir -p "$bench_dir"

tools/machine.sh "$bench_dir"

exec cargo bench --bench status_page -- "$@"
