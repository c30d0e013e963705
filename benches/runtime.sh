#!/usr/bin/env bash
# Stage-handoff throughput of `millrace run daemon` with the repository's
# fake Codex (benches/fakes/fake_codex.c, built static by build_fake.sh):
#   1. N tasks queued (default 200), all run to done;
#   2. the same N tasks run while 10,000 more are queued behind them.
# Prints milliseconds per stage handoff (wall time / stages) for each.
#
#   cargo build --release && benches/runtime.sh [N] [RUNS]
#
# Set TMPDIR to choose the disk: file creation dominates on a busy ext4
# volume (see docs/performance.md). Runs from a fresh clone: nothing
# outside the repository is needed but a C compiler and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(pwd)/${MILLRACE:-target/release/millrace}
N=${1:-200}
RUNS=${2:-3}
[ -x "$BIN" ] || cargo build --release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mrbench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "fake agent: $(benches/fakes/build_fake.sh "$WORK/fake_codex")"

task_md() { # id
  printf '# Task %s\n\nTask-ID: %s\nTitle: Task %s\nCreated-At: 2026-04-15T12:00:00Z\nCreated-By: bench\n\nTarget-Paths:\n- README.md\n\nAcceptance:\n- a\n\nRequired-Checks:\n- c\n\nReferences:\n- r\n\nRisk:\n- none\n' "$1" "$1" "$1"
}

one_run() { # backlog
  local ws="$WORK/ws-$RANDOM$RANDOM"
  "$BIN" init --workspace "$ws" >/dev/null
  printf 'command = "%s"\nargs = []\n' "$WORK/fake_codex" >> "$ws/millrace-agents/millrace.toml"
  local q="$ws/millrace-agents/tasks/queue"
  for i in $(seq 1 "$N"); do task_md "a-$(printf %05d "$i")" > "$q/a-$(printf %05d "$i").md"; done
  for i in $(seq 1 "$1"); do task_md "z-$(printf %05d "$i")" > "$q/z-$(printf %05d "$i").md"; done
  local stages=$((N * 3))
  local start end
  start=$(date +%s.%N)
  "$BIN" run daemon --workspace "$ws" --max-ticks "$stages" >/dev/null
  end=$(date +%s.%N)
  local done_count
  done_count=$(ls "$ws/millrace-agents/tasks/done" | wc -l)
  [ "$done_count" -eq "$N" ] || { echo "expected $N done, got $done_count" >&2; exit 1; }
  echo "($end - $start) * 1000 / $stages" | bc -l
  rm -rf "$ws"
}

for backlog in 0 10000; do
  results=()
  for _ in $(seq 1 "$RUNS"); do results+=("$(one_run "$backlog")"); done
  printf '%s\n' "${results[@]}" | sort -n | awk -v b="$backlog" -v n="$N" '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "backlog=%d tasks=%d per_stage_ms median=%.2f min=%.2f max=%.2f\n", b, n, m, a[1], a[NR]}'
done
