#!/usr/bin/env bash
# Times `millrace lint` on the shipped stdlib and modes (11 files: parse,
# resolve, check, bounded-cycle proof and worst-case bound for 3 loops).
#
#   cargo build --release && benches/lint.sh [RUNS]
#
# Uses hyperfine when installed (apt-get install hyperfine), otherwise a
# plain loop that reports the median wall time.
# Last measured (2-core machine, release build, 200 runs): median 2.77 ms,
# p10 2.64 ms, p90 4.11 ms, process spawn included.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MILLRACE:-target/release/millrace}
RUNS=${1:-200}
[ -x "$BIN" ] || cargo build --release
if command -v hyperfine >/dev/null 2>&1; then
  hyperfine -N --warmup 10 --runs "$RUNS" "$BIN lint"
else
  python3 - "$BIN" "$RUNS" <<'PY'
import statistics, subprocess, sys, time
binary, runs = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run([binary, "lint"], stdout=subprocess.DEVNULL, check=True)
    times.append((time.perf_counter() - t) * 1000)
times.sort()
print(f"millrace lint: median {statistics.median(times):.2f} ms, p10 {times[len(times)//10]:.2f} ms, p90 {times[9*len(times)//10]:.2f} ms over {runs} runs")
PY
fi
