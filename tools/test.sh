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
#   chromium, chromium-driver — headless Chromium and its WebDriver server `chromedriver`,
#                   the real browser of tests/browser_*.rs (tests/common/browser.rs).
#   rauc, rauc-service, dbus-daemon, squashfs-tools — the appliance's updater, run for real
#                   on file-backed slots with its own bus (tests/update_status.rs).
#   iproute2, nftables — `ip` and `tc` (256 kbit/s throttling) and `nft` (10% loss) on the
#                   link of tools/chaos's private network namespace (tests/chaos/).
packages=(procps softhsm2 opensc poppler-utils qpdf openssl systemd util-linux chromium chromium-driver
    rauc rauc-service dbus-daemon squashfs-tools iproute2 nftables)

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

# `docgate run` refuses to run as root. Run as root (CI is), the tests start it with
# `--drop-to docgate-test` and hand that user the files it needs (tests/common/mod.rs,
# `run_args`); the user is made here once: a system user with no home and no shell.
if [ "$(id -u)" = 0 ] && ! id -u docgate-test >/dev/null 2>&1; then
    echo "tools/test.sh: creating the system user docgate-test"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin docgate-test
fi

if [ ! -d ../shared/conformance ]; then
    echo "tools/test.sh: ../shared/conformance is missing; the edXML conformance tests read it" >&2
    exit 1
fi

# Independent checkers from PyPI, pinned, in a virtual environment outside the checkout
# (made once): schemathesis checks the running API against its OpenAPI document
# (tests/openapi.rs); prometheus-client's own text parser reads /metrics
# (tests/health_metrics.rs). Neither is packaged in Debian 12.
TEST_TOOLS="schemathesis==4.32.5 prometheus-client==0.21.1"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/docgate/test-tools-$(echo "$TEST_TOOLS" | sha256sum | cut -c1-12)"
if [ ! -x "$venv/bin/schemathesis" ]; then
    echo "tools/test.sh: installing $TEST_TOOLS into $venv"
    # shellcheck disable=SC2086 # the list is split on purpose
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q $TEST_TOOLS; }; then
        echo "tools/test.sh: cannot install $TEST_TOOLS (python3-venv and network access to PyPI are needed); tests/openapi.rs and tests/health_metrics.rs will fail" >&2
    fi
fi
export DOCGATE_SCHEMATHESIS="$venv/bin/schemathesis"
export DOCGATE_PYTHON="$venv/bin/python"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
cargo clippy --all-targets --locked --features fault-injection -- -D warnings
# `fault-injection` compiles in the test-only hook that wedges the store writer
# (tests/systemd.rs checks the watchdog then falls silent); release builds never have it.
echo "== cargo test"
cargo test --locked --features fault-injection
