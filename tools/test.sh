#!/usr/bin/env bash
# The whole test suite: exactly what CI runs (.ci/run calls this script and nothing else).
#
#   tools/test.sh            format check, clippy with warnings as errors, every test
#
# When run as root on Debian it first installs the system packages the tests use and that
# are missing; otherwise it says which are missing and carries on.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need:
#   procps        — `kill`, used by the tests to SIGKILL and SIGTERM the daemon.
#   softhsm2      — the PKCS#11 token of the signature tests (a leader's and the agency's).
#   opensc        — `pkcs11-tool`, to put certificates on the SoftHSM tokens.
#   poppler-utils — `pdfsig`, the independent verifier of the PDFs the gateway signs, and
#                   `pdftoppm`, which renders the visible seal for the tests to look at.
#   qpdf          — rewrites test PDFs with object and cross-reference streams.
#   openssl       — independent CMS verifier and the tests' timestamp authority (`openssl ts`).
#   systemd       — `systemd-analyze` (the unit's security rating and verify),
#                   `systemd-sysusers` and `systemd-tmpfiles` (tests/systemd.rs).
#   util-linux    — `unshare`, which gives tests/systemd.rs a private /run for its journal.
packages=(procps softhsm2 opensc poppler-utils qpdf openssl systemd util-linux)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "tools/test.sh: installing ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "tools/test.sh: missing Debian packages ${missing[*]} (run as root to install them)" >&2
    fi
fi

if [ ! -d ../shared/conformance ]; then
    echo "tools/test.sh: ../shared/conformance is missing; the edXML conformance tests read it" >&2
    exit 1
fi

# schemathesis (from PyPI, pinned) checks the running API against its OpenAPI document
# (tests/openapi.rs). It lives in a virtual environment outside the checkout, made once.
SCHEMATHESIS_VERSION=4.32.5
venv="${XDG_CACHE_HOME:-$HOME/.cache}/docgate/schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -x "$venv/bin/schemathesis" ]; then
    echo "tools/test.sh: installing schemathesis $SCHEMATHESIS_VERSION into $venv"
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"; }; then
        echo "tools/test.sh: cannot install schemathesis (python3-venv and network access to PyPI are needed); tests/openapi.rs will fail" >&2
    fi
fi
export DOCGATE_SCHEMATHESIS="$venv/bin/schemathesis"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked --features fault-injection -- -D warnings
# `fault-injection` compiles in the test-only hook that wedges the store writer
# (tests/systemd.rs checks the watchdog then falls silent); release builds never have it.
echo "== cargo test"
cargo test --locked --features fault-injection
