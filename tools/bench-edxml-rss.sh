#!/usr/bin/env bash
# Peak resident memory of the edXML codec on a packet with a 200 MB attachment:
#   `docgate edxml build --meta META.json --attach FILE -o OUT.edxml`, then
#   `docgate edxml parse OUT.edxml --json`,
# each measured with `/usr/bin/time -f %M` (peak RSS, KiB) and wall time. The target is
# under 64 MB peak RSS for both. Beside them, in the same run, the peak RSS of the same
# binary doing nothing (`docgate --version`).
#
# Usage: tools/bench-edxml-rss.sh [SIZE_MIB]   (default: DOCGATE_BENCH_EDXML_RSS_MIB, or 200)
# Environment: DOCGATE_BENCH_SUMMARY   a file to append the summary row to (tools/bench sets
#                                      it; the format is benches/shared/summary.rs's)
set -euo pipefail
cd "$(dirname "$0")/.."

size_mib="${1:-${DOCGATE_BENCH_EDXML_RSS_MIB:-200}}"
target_kib=$((64 * 1024))
docgate="${CARGO_TARGET_DIR:-target}/release/docgate"

if [ ! -x /usr/bin/time ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y time >/dev/null
    else
        echo "bench-edxml-rss: /usr/bin/time is missing (Debian package 'time')" >&2
        exit 1
    fi
fi

cargo build --release --quiet
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/attachment.pdf"
cat > "$work/meta.json" <<'JSON'
{
  "kind": "edoc",
  "from": {"organ_id": "000.00.00.H41", "organ_name": "UBND Tỉnh Nghệ An"},
  "to": [{"organ_id": "000.00.00.G22", "organ_name": "Văn phòng Chính phủ"}],
  "document_id": "000.00.00.H41,2026/01/15,12/UBND-VP",
  "code": {"code_number": "12", "code_notation": "UBND-VP"},
  "subject": "Đo bộ nhớ với tệp đính kèm lớn"
}
JSON

build=("$docgate" edxml build --meta "$work/meta.json" --attach "$work/attachment.pdf" -o "$work/packet.edxml")
parse=("$docgate" edxml parse "$work/packet.edxml" --json)

/usr/bin/time -f "%M KiB peak RSS, %e s wall" -o "$work/build.rss" "${build[@]}"
/usr/bin/time -f "%M KiB peak RSS, %e s wall" -o "$work/parse.rss" "${parse[@]}" > "$work/parse.json"
/usr/bin/time -f "%M KiB peak RSS, %e s wall" -o "$work/version.rss" "$docgate" --version > /dev/null

expected="$(sha256sum "$work/attachment.pdf" | cut -d ' ' -f 1)"
if ! grep -Eq "\"sha256\": ?\"$expected\"" "$work/parse.json"; then
    echo "bench-edxml-rss: the parsed attachment's SHA-256 does not match the original" >&2
    exit 1
fi

echo "attachment: ${size_mib} MiB, packet: $(( $(stat -c %s "$work/packet.edxml") / 1024 / 1024 )) MiB"
echo "build: $(cat "$work/build.rss")"
echo "parse --json: $(cat "$work/parse.rss")"
echo "baseline, docgate --version: $(cat "$work/version.rss")"

# The summary row for tools/bench: five tab-separated fields (benches/shared/summary.rs).
if [ -n "${DOCGATE_BENCH_SUMMARY:-}" ]; then
    kib() { cut -d ' ' -f 1 "$1"; }
    seconds() { sed -n 's/.*RSS, \([0-9.]*\) s wall.*/\1/p' "$1"; }
    mib() { awk -v kib="$1" 'BEGIN { printf "%.1f", kib / 1024 }'; }
    build_kib=$(kib "$work/build.rss")
    parse_kib=$(kib "$work/parse.rss")
    version_kib=$(kib "$work/version.rss")
    if [ "$build_kib" -le "$target_kib" ] && [ "$parse_kib" -le "$target_kib" ]; then
        verdict="met"
    else
        verdict="not met"
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' \
        "edXML with a ${size_mib} MiB attachment, peak RSS" \
        "parse $(mib "$parse_kib") MiB ($(seconds "$work/parse.rss") s), build $(mib "$build_kib") MiB" \
        "the same binary doing nothing (\`docgate --version\`): $(mib "$version_kib") MiB" \
        "target ≤ 64 MiB: $verdict" \
        "tools/bench-edxml-rss.sh" >> "$DOCGATE_BENCH_SUMMARY"
fi
