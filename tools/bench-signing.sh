#!/bin/sh
# Runs the signing benchmarks (benches/signing.rs): agency-signed PDFs per second and batch
# vs single signatures on a SoftHSM2 token slowed to 250 ms per signature, and the peak
# RSS of signing a 100 MB PDF. Prints the machine first.
#
# Usage: tools/bench-signing.sh      (needs softhsm2, opensc and openssl: tools/test.sh
#                                     installs them)
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
tools/machine.sh "${CARGO_TARGET_DIR:-$repo/target}"
exec cargo bench --bench signing
