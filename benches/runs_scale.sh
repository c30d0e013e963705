#!/usr/bin/env bash
# History at scale: synthesizes RUNS runs (default 100,000) in the
# reference's run layout (`runs/<run_id>/run_trace.json` and one
# `stage_results/<request_id>.json` each, started over the last 200 days)
# in a fresh workspace, then times, against the process-start floor
# (`millrace version`) measured in the same run:
#   runs ls --limit 20    first call (builds state/runs_index.jsonl) and warm
#   runs show <id>        full id, and an 8-digit prefix
#   runs trace <id>
#   status
#   runs prune --older-than 180d --dry-run, then for real (~10% of the runs)
#   runs ls --limit 20    after the prune
# Each warm command runs REPEAT times (default 7); the median is printed.
#
#   benches/runs_scale.sh [RUNS]
#
# Environment: TMPDIR (the disk), MILLRACE (default target/release/millrace,
# built if missing), REPEAT.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
RUNS=${1:-100000}
REPEAT=${REPEAT:-7}
bin=${MILLRACE:-$root/target/release/millrace}
[ -x "$bin" ] || cargo build --release --quiet
work=$(mktemp -d "${TMPDIR:-/tmp}/mrruns.XXXXXX")
trap 'rm -rf "$work"' EXIT
ws=$work/ws
"$bin" init --workspace "$ws" >/dev/null 2>&1

synth_start=$(date +%s.%N)
python3 - "$ws/millrace-agents/runs" "$RUNS" <<'PY'
import json, os, sys, time, hashlib
runs_dir, n = sys.argv[1], int(sys.argv[2])
now = time.time()
span = 200 * 86400
def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)
for i in range(n):
    h = hashlib.blake2b(b"run%d" % i, digest_size=16).hexdigest()
    run_id, req = "run-" + h, "request-" + h[::-1]
    started = now - span + span * i / n
    done = started + 1.5
    d = os.path.join(runs_dir, run_id)
    os.makedirs(os.path.join(d, "stage_results"))
    result = {
        "schema_version": "1.0", "kind": "stage_result", "run_id": run_id,
        "plane": "execution", "stage": "builder", "node_id": "builder",
        "stage_kind_id": "builder", "work_item_kind": "task", "work_item_id": "t-%06d" % i,
        "terminal_result": "BUILDER_COMPLETE", "result_class": "success",
        "started_at": iso(started), "completed_at": iso(done), "duration_seconds": 1.5,
        "metadata": {"request_id": req, "mode_id": "default_codex", "request_kind": "active_work_item"},
    }
    with open(os.path.join(d, "stage_results", req + ".json"), "w") as f:
        json.dump(result, f, indent=2)
    trace = {
        "schema_version": "1.0", "kind": "run_trace_graph", "run_id": run_id, "run_dir": d,
        "compiled_plan_id": None, "mode_id": "default_codex", "request_kind": "active_work_item",
        "work_item_kind": "task", "work_item_id": "t-%06d" % i, "closure_target_root_spec_id": None,
        "status": "complete", "started_at": iso(started), "completed_at": iso(done),
        "duration_seconds": 1.5, "nodes": [], "edges": [], "notes": [],
    }
    with open(os.path.join(d, "run_trace.json"), "w") as f:
        json.dump(trace, f, indent=2)
    for p in (os.path.join(d, "stage_results"), d):
        os.utime(p, (done, done))
PY
synth_end=$(date +%s.%N)
printf 'synthesized runs=%d seconds=%.1f fs=%s\n' "$RUNS" "$(echo "$synth_end - $synth_start" | bc -l)" "$(stat -f -c %T "$work")"

ms() { # command... -> milliseconds of one call (output discarded)
  local a b
  a=$(date +%s%N)
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  b=$(date +%s%N)
  echo "scale=2; ($b - $a) / 1000000" | bc
}
median_ms() { # label command...
  local label=$1; shift
  local xs=()
  for _ in $(seq 1 "$REPEAT"); do xs+=("$(ms "$@")"); done
  printf '%-34s median_ms=%8.2f  (%s)\n' "$label" \
    "$(printf '%s\n' "${xs[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}')" \
    "$(printf '%s ' "${xs[@]}")"
}

W=(--workspace "$ws")
first=$(for d in "$ws"/millrace-agents/runs/run-*; do basename "$d"; break; done)
median_ms "version (process-start floor)" "$bin" version
printf '%-34s once_ms=%8.2f\n' "runs ls --limit 20 (builds index)" "$(ms "$bin" runs ls --limit 20 "${W[@]}")"
median_ms "runs ls --limit 20" "$bin" runs ls --limit 20 "${W[@]}"
median_ms "runs show <id>" "$bin" runs show "$first" "${W[@]}"
median_ms "runs show <8-hex prefix>" "$bin" runs show "${first:4:8}" "${W[@]}"
median_ms "runs trace <id>" "$bin" runs trace "$first" "${W[@]}"
median_ms "status" "$bin" status "${W[@]}"
median_ms "runs prune --older-than 180d --dry-run" "$bin" runs prune --older-than 180d --dry-run "${W[@]}"
printf '%-34s once_ms=%8.2f\n' "runs prune --older-than 180d" "$(ms "$bin" runs prune --older-than 180d "${W[@]}")"
printf 'runs left=%d\n' "$(ls "$ws/millrace-agents/runs" | wc -l)"
median_ms "runs ls --limit 20 (after prune)" "$bin" runs ls --limit 20 "${W[@]}"
