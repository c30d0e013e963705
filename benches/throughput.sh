#!/usr/bin/env bash
# Stage-handoff time, ours against the reference (millrace-ai 0.18.0), side
# by side in one run on the same disk, through the same fake Codex
# (benches/fakes/fake_codex.c, about 1 ms per spawn). For each
# implementation: N tasks (default 100) are queued in a fresh workspace and
# run to done (3 stages each); the time from daemon start to the last task
# in `tasks/done` divided by the stages run is the time per handoff. Each
# implementation runs RUNS times (default 3); the median is reported, and
# the ratio ours/reference.
#
#   benches/throughput.sh [N] [RUNS]
#
# Environment:
#   TMPDIR     the disk to measure on (e.g. TMPDIR=/dev/shm for tmpfs)
#   MILLRACE   our binary (default target/release/millrace, built if missing)
#   REFERENCE  the reference's `millrace` (default /tmp/ref/bin/millrace if
#              present, else installed with pip into
#              ${XDG_CACHE_HOME:-~/.cache}/millrace-bench/ref-0.18.0)
#   ONLY=ours  skip the reference
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
N=${1:-100}
RUNS=${2:-3}
ours=${MILLRACE:-$root/target/release/millrace}
[ -x "$ours" ] || cargo build --release --quiet
work=$(mktemp -d "${TMPDIR:-/tmp}/mrthroughput.XXXXXX")
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/fake_codex" "$root/benches/fakes/fake_codex.c"

reference() {
  if [ -n "${REFERENCE:-}" ]; then echo "$REFERENCE"; return; fi
  if [ -x /tmp/ref/bin/millrace ]; then echo /tmp/ref/bin/millrace; return; fi
  local venv=${XDG_CACHE_HOME:-$HOME/.cache}/millrace-bench/ref-0.18.0
  if [ ! -x "$venv/bin/millrace" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet millrace-ai==0.18.0 click >&2
  fi
  echo "$venv/bin/millrace"
}

task_md() { # id
  printf '# Task %s\n\nTask-ID: %s\nTitle: Task %s\nCreated-At: 2026-04-15T12:00:00Z\nCreated-By: bench\n\nTarget-Paths:\n- README.md\n\nAcceptance:\n- a\n\nRequired-Checks:\n- c\n\nReferences:\n- r\n\nRisk:\n- none\n' "$1" "$1" "$1"
}

now() { date +%s.%N; }

one_run() { # bin impl -> ms per handoff
  local bin=$1 impl=$2 ws
  ws=$(mktemp -d "$work/ws.XXXXXX")
  "$bin" init --workspace "$ws" >/dev/null
  printf 'command = "%s"\nargs = []\n' "$work/fake_codex" >> "$ws/millrace-agents/millrace.toml"
  local q="$ws/millrace-agents/tasks/queue" done_dir="$ws/millrace-agents/tasks/done"
  for i in $(seq 1 "$N"); do task_md "t-$(printf %05d "$i")" > "$q/t-$(printf %05d "$i").md"; done
  local start end
  if [ "$impl" = ours ]; then
    start=$(now)
    "$bin" run daemon --workspace "$ws" --until-idle >/dev/null
    end=$(now)
  else
    # The reference has no --until-idle: poll for the last task in done/.
    start=$(now)
    "$bin" run daemon --workspace "$ws" >/dev/null 2>&1 &
    local pid=$!
    while [ "$(ls "$done_dir" | wc -l)" -lt "$N" ]; do
      kill -0 "$pid" 2>/dev/null || { echo "reference daemon died" >&2; exit 1; }
      sleep 0.02
    done
    end=$(now)
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  local got; got=$(ls "$done_dir" | wc -l)
  [ "$got" -eq "$N" ] || { echo "$impl: expected $N done, got $got" >&2; exit 1; }
  echo "($end - $start) * 1000 / ($N * 3)" | bc -l
  rm -rf "$ws"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }

fs=$(stat -f -c %T "$work")
declare -A med
impls="ours"
[ "${ONLY:-}" = ours ] || impls="reference ours"
for impl in $impls; do
  bin=$ours
  [ "$impl" = reference ] && bin=$(reference)
  results=()
  for _ in $(seq 1 "$RUNS"); do results+=("$(one_run "$bin" "$impl")"); done
  med[$impl]=$(printf '%s\n' "${results[@]}" | median)
  printf '%-9s fs=%s tasks=%d stages=%d per_handoff_ms median=%.2f runs=%s\n' \
    "$impl" "$fs" "$N" $((N * 3)) "${med[$impl]}" "$(printf '%.2f ' "${results[@]}")"
done
if [ -n "${med[reference]:-}" ]; then
  printf 'ratio ours/reference=%.3f\n' "$(echo "${med[ours]} / ${med[reference]}" | bc -l)"
fi
