#!/usr/bin/env bash
# Benchmark `millrace status` and `millrace queue ls` on an empty workspace
# and on one with 10,000 queued tasks. Targets: < 3 ms empty, < 20 ms at 10,000.
#
# Usage: benches/workspace.sh [path/to/millrace]
#   default binary: $CARGO_TARGET_DIR/release/millrace (built with `cargo build --release`)
# Uses hyperfine when installed, else a timed loop of 200 runs (mean per run).
set -euo pipefail

BIN=${1:-${CARGO_TARGET_DIR:-target}/release/millrace}
[ -x "$BIN" ] || { echo "build first: cargo build --release (binary $BIN not found)" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

EMPTY=$WORK/empty
FULL=$WORK/full
"$BIN" init --workspace "$EMPTY" >/dev/null
"$BIN" init --workspace "$FULL" >/dev/null

# 10,000 valid task documents written straight into tasks/queue/ (enqueueing
# them one by one would measure process start-up, not the commands).
Q=$FULL/millrace-agents/tasks/queue
for i in $(seq -w 1 10000); do
  printf '# Task %s\n\nTask-ID: task-%s\nTitle: Task %s\nCreated-At: 2026-03-01T12:30:00Z\nCreated-By: bench\n\nTarget-Paths:\n- src/\n\nAcceptance:\n- passes\n\nRequired-Checks:\n- cargo test\n\nReferences:\n- bench\n\nRisk:\n- low\n' \
    "$i" "$i" "$i" > "$Q/task-$i.md"
done
"$BIN" doctor --repair --workspace "$FULL" >/dev/null || true   # sync snapshot depths
"$BIN" queue ls --workspace "$FULL" | head -1

measure() { # name, args...
  local name=$1; shift
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 20 --runs 200 --export-json "$WORK/h.json" "$*" >/dev/null
    python3 -c "import json;r=json.load(open('$WORK/h.json'))['results'][0];print(f\"$name: mean {r['mean']*1000:.2f} ms  (min {r['min']*1000:.2f}, max {r['max']*1000:.2f})\")"
  else
    for _ in $(seq 20); do "$@" >/dev/null; done
    local n=200 start end
    start=$(date +%s%N)
    for _ in $(seq $n); do "$@" >/dev/null; done
    end=$(date +%s%N)
    echo "$name: mean $(( (end - start) / n / 1000 )) us per run over $n runs (loop)"
  fi
}

measure "status   empty " "$BIN" status --workspace "$EMPTY"
measure "queue ls empty " "$BIN" queue ls --workspace "$EMPTY"
measure "status   10000 " "$BIN" status --workspace "$FULL"
measure "queue ls 10000 " "$BIN" queue ls --workspace "$FULL"
