#!/usr/bin/env bash
# Peak resident memory of the edXML codec on a packet with a 200 MB attachment:
#   `docgate edxml build --meta META.json --attach FILE -o OUT.edxml`, then
#   `docgate edxml parse OUT.edxml --json`,
# each measured with `/usr/bin/time -f %M` (peak RSS, KiB) and wall time. The target is
# under 64 MB peak RSS for both.
#
# Usage: tools/bench-edxml-rss.sh [SIZE_MIB]   (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."

size_mib="${1:-200}"

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

build=(target/release/docgate edxml build --meta "$work/meta.json" --attach "$work/attachment.pdf" -o "$work/packet.edxml")
parse=(target/release/docgate edxml parse "$work/packet.edxml" --json)

/usr/bin/time -f "%M KiB peak RSS, %e s wall" -o "$work/build.rss" "${build[@]}"
/usr/bin/time -f "%M KiB peak RSS, %e s wall" -o "$work/parse.rss" "${parse[@]}" > "$work/parse.json"

expected="$(sha256sum "$work/attachment.pdf" | cut -d ' ' -f 1)"
if ! grep -Eq "\"sha256\": ?\"$expected\"" "$work/parse.json"; then
    echo "bench-edxml-rss: the parsed attachment's SHA-256 does not match the original" >&2
    exit 1
fi

echo "attachment: ${size_mib} MiB, packet: $(( $(stat -c %s "$work/packet.edxml") / 1024 / 1024 )) MiB"
echo "build: $(cat "$work/build.rss")"
echo "parse --json: $(cat "$work/parse.rss")"
