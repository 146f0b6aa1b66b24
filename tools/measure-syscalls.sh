#!/usr/bin/env bash
# Measures the system calls `docgate run` makes, to review src/system/sandbox/syscalls.json
# (README: "The sandbox"). Needs root and strace (apt-get install strace).
#
#   tools/measure-syscalls.sh [TEST ...]    default: the end-to-end tests below
#
# It builds the test binaries, puts a wrapper in place of target/debug/docgate that runs
# each `docgate run` under `strace -f` (attached to the wrapper itself, which then becomes
# the daemon, so a test's SIGKILL still kills the daemon), runs the tests, puts the real
# binary back, and prints every call made after the sandbox went on (after the last
# `seccomp` call), with how many daemons made it, marking those missing from the list and
# those the filter refused (EPERM). Nothing else on the machine changes. Do not run it
# while another cargo command uses this target directory.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=("$@")
[ "${#tests[@]}" -gt 0 ] || tests=(demo provisioning provisioning_token signature_token_gateway
    signature_exchange systemd clerk_pages health_metrics local_api)
command -v strace >/dev/null || { echo "strace is missing: apt-get install strace" >&2; exit 1; }

args=()
for test in "${tests[@]}"; do args+=(--test "$test"); done
cargo test --features fault-injection --no-run "${args[@]}" 2>/dev/null
cargo build --features fault-injection 2>/dev/null

out=$(mktemp -d)
binary=target/debug/docgate
mv "$binary" "$binary.real"
trap 'mv -f "$binary.real" "$binary"' EXIT
cat > "$binary" <<EOF
#!/usr/bin/env bash
if [ "\$1" = run ]; then
    strace -f -qq -s 0 -o "$out/run.\$\$" -p \$\$ 2>/dev/null &
    until grep -q "TracerPid:[[:space:]]*[1-9]" /proc/\$\$/status; do sleep 0.01; done
fi
exec "$PWD/$binary.real" "\$@"
EOF
chmod +x "$binary"

for test in "${tests[@]}"; do
    executable=$(ls -t target/debug/deps/"$test"-* | grep -v '\.d$' | head -1)
    echo "== $test" >&2
    "$executable" --test-threads=2 >"$out/$test.log" 2>&1 || echo "   (some tests failed: $out/$test.log)" >&2
done

python3 - "$out" src/system/sandbox/syscalls.json <<'EOF'
import collections, glob, json, os, re, sys
out, policy = sys.argv[1], json.load(open(sys.argv[2]))
listed = {rule["syscall"] for rule in policy["docgate"]["filter"]}
call = re.compile(r'^\d+\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()')
seen, refused, daemons = collections.Counter(), set(), 0
for trace in glob.glob(os.path.join(out, "run.*")):
    lines = open(trace, errors="replace").read().splitlines()
    start = max((i for i, line in enumerate(lines) if re.match(r'^\d+\s+seccomp\(', line)), default=None)
    if start is None:
        continue
    daemons += 1
    names = set()
    for line in lines[start + 1:]:
        match = call.match(line)
        if match:
            name = match.group(1) or match.group(2)
            names.add(name)
            if "EPERM" in line and name not in listed:
                refused.add(name)
    seen.update(names)
print(f"{daemons} sandboxed daemons traced ({out})")
for name, count in sorted(seen.items()):
    mark = "" if name in listed else ("  REFUSED (EPERM)" if name in refused else "  NOT LISTED")
    print(f"{name:24} {count:4}{mark}")
EOF
