#!/usr/bin/env bash
# Stage-handoff time, ours against the reference (millrace-ai 0.18.0), side
# by side in one run on the same disk, through the same fake Codex
# (benches/fakes/fake_codex.c, built by benches/fakes/build_fake.sh:
# statically linked unless FAKE_LINK=dynamic; 0.4 ms per spawn static,
# 0.6 ms dynamic, from a small C parent on this VM). For each
# implementation: N tasks (default 100) are queued in a fresh workspace and
# run to done (3 stages each); the time from daemon start to the last task
# in `tasks/done` divided by the stages run is the time per handoff. The
# implementations take turns, RUNS rounds (default 3: reference, ours,
# reference, ours, ...); the median of each is reported, and the ratio
# ours/reference.
#
# Workspaces are removed only when the script ends: on ext4 without a
# journal (this project's VM) an inode freed in the last minutes is skipped
# one by one by every later file creation in its block group, so deleting a
# run's ~2,500 files would slow the next run down (and a second run of the
# script in the same directory pays for the first one's deletions: give
# each run a fresh top-level directory, e.g. TMPDIR=/bench-$(date +%s), or
# wait some minutes). Each run line also says what one file creation cost
# next to the workspace just before the run (`create_ms`, 200 files). When
# `perf` can count ext4 tracepoints, one more run of each, not timed
# (counting slows every event down), gives the inodes allocated and freed
# and the fsync/fdatasync calls per handoff (the agent processes included).
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
#   PERF=0     do not count ext4 events with perf
#   FAKE_LINK=dynamic  a dynamically linked fake agent (default static)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
N=${1:-100}
RUNS=${2:-3}
ours=${MILLRACE:-$root/target/release/millrace}
[ -x "$ours" ] || cargo build --release --quiet
work=$(mktemp -d "${TMPDIR:-/tmp}/mrthroughput.XXXXXX")
trap 'rm -rf "$work"' EXIT
fake_link=$("$root/benches/fakes/build_fake.sh" "$work/fake_codex")
# One file creation's cost in a fresh directory (ms): the state of the disk.
cat > "$work/probe.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char p[4096];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 200; i++) {
        snprintf(p, sizeof p, "%s/f%d", argv[1], i);
        int fd = open(p, O_CREAT | O_WRONLY | O_EXCL, 0644);
        if (fd >= 0) close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.3f\n", ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / 200);
    return 0;
}
C
cc -O2 -o "$work/probe" "$work/probe.c"
events=ext4:ext4_allocate_inode,ext4:ext4_free_inode,ext4:ext4_sync_file_enter
perf_ok=0
if [ "${PERF:-1}" != 0 ] && command -v perf >/dev/null \
  && perf stat -x, -e "$events" true >/dev/null 2>&1; then
  perf_ok=1
fi

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

one_run() { # bin impl count -> "ms_per_handoff create_ms allocs frees syncs"
  # With count=1 the daemon runs under `perf stat` counting ext4 events
  # (that slows every counted event down: such a run's time is not used).
  local bin=$1 impl=$2 count=$3 ws
  ws=$(mktemp -d "$work/ws.XXXXXX")
  "$bin" init --workspace "$ws" >/dev/null 2>&1
  printf 'command = "%s"\nargs = []\n' "$work/fake_codex" >> "$ws/millrace-agents/millrace.toml"
  local q="$ws/millrace-agents/tasks/queue" done_dir="$ws/millrace-agents/tasks/done"
  for i in $(seq 1 "$N"); do task_md "t-$(printf %05d "$i")" > "$q/t-$(printf %05d "$i").md"; done
  mkdir "$ws/probe"
  local create_ms; create_ms=$("$work/probe" "$ws/probe")
  local counted=() stats="$ws/perf.txt"
  [ "$count" = 1 ] && counted=(perf stat -x, -o "$stats" -e "$events" --)
  local start end
  if [ "$impl" = ours ]; then
    start=$(now)
    "${counted[@]}" "$bin" run daemon --workspace "$ws" --until-idle >/dev/null 2>"$ws/daemon.err" || { cat "$ws/daemon.err" >&2; exit 1; }
    end=$(now)
  else
    # The reference has no --until-idle: poll for the last task in done/.
    start=$(now)
    "${counted[@]}" "$bin" run daemon --workspace "$ws" >/dev/null 2>&1 &
    local pid=$!
    while [ "$(ls "$done_dir" | wc -l)" -lt "$N" ]; do
      kill -0 "$pid" 2>/dev/null || { echo "reference daemon died" >&2; exit 1; }
      sleep 0.02
    done
    end=$(now)
    # Under perf, the daemon is perf's child: stop it, and perf reports.
    local daemon=$pid
    [ "$count" = 1 ] && daemon=$(pgrep -P "$pid" | head -1)
    kill -TERM "$daemon" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  local got; got=$(ls "$done_dir" | wc -l)
  [ "$got" -eq "$N" ] || { echo "$impl: expected $N done, got $got" >&2; exit 1; }
  local per; per=$(echo "($end - $start) * 1000 / ($N * 3)" | bc -l)
  local counts="- - -"
  if [ "$count" = 1 ]; then
    counts=$(awk -F, -v st=$((N * 3)) '
      /ext4_allocate_inode/ {a = $1} /ext4_free_inode/ {f = $1} /ext4_sync_file_enter/ {s = $1}
      END {printf "%.2f %.2f %.2f", a / st, f / st, s / st}' "$stats")
  fi
  echo "$per $create_ms $counts"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }

fs=$(stat -f -c %T "$work")
declare -A med
impls="ours"
[ "${ONLY:-}" = ours ] || impls="reference ours"
declare -A bins=([ours]=$ours)
[ "${ONLY:-}" = ours ] || bins[reference]=$(reference)
declare -A results
for round in $(seq 1 "$RUNS"); do
  for impl in $impls; do
    line=$(one_run "${bins[$impl]}" "$impl" 0)
    read -r per create _ <<<"$line"
    results[$impl]+="$per "
    printf '  round %d %-9s per_handoff_ms=%.2f create_ms=%s\n' "$round" "$impl" "$per" "$create"
  done
done
# The ext4 events, counted in one more run of each (not timed).
if [ "$perf_ok" = 1 ]; then
  for impl in $impls; do
    read -r _ _ allocs frees syncs <<<"$(one_run "${bins[$impl]}" "$impl" 1)"
    printf '  counted   %-9s inodes_allocated=%s freed=%s fsyncs=%s (per handoff; agents included)\n' \
      "$impl" "$allocs" "$frees" "$syncs"
  done
fi
for impl in $impls; do
  med[$impl]=$(printf '%s\n' ${results[$impl]} | median)
  printf '%-9s fs=%s fake=%s tasks=%d stages=%d per_handoff_ms median=%.2f runs=%s\n' \
    "$impl" "$fs" "$fake_link" "$N" $((N * 3)) "${med[$impl]}" "$(printf '%.2f ' ${results[$impl]})"
done
if [ -n "${med[reference]:-}" ]; then
  printf 'ratio ours/reference=%.3f\n' "$(echo "${med[ours]} / ${med[reference]}" | bc -l)"
fi
