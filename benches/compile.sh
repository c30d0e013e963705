#!/usr/bin/env bash
# Times `millrace compile validate` on an initialized workspace: load and
# parse the workspace's .mill sources, check, prove bounds, lower, hash every
# asset, and persist (the plan only when its bytes change; the diagnostics
# file always, with fsync).
#
#   cargo build --release && benches/compile.sh [RUNS]
#
# Last measured (2-core machine, release build): see README.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MILLRACE:-target/release/millrace}
RUNS=${1:-200}
[ -x "$BIN" ] || cargo build --release
WS=$(mktemp -d)
trap 'rm -rf "$WS"' EXIT
"$BIN" init --workspace "$WS" >/dev/null
"$BIN" compile validate --workspace "$WS" >/dev/null
if command -v hyperfine >/dev/null 2>&1; then
  hyperfine -N --warmup 10 --runs "$RUNS" "$BIN compile validate --workspace $WS"
else
  python3 - "$BIN" "$RUNS" "$WS" <<'PY'
import statistics, subprocess, sys, time
binary, runs, ws = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run([binary, "compile", "validate", "--workspace", ws], stdout=subprocess.DEVNULL, check=True)
    times.append((time.perf_counter() - t) * 1000)
times.sort()
print(f"compile validate: median {statistics.median(times):.2f} ms, p10 {times[len(times)//10]:.2f} ms, p90 {times[9*len(times)//10]:.2f} ms over {runs} runs")
PY
fi
