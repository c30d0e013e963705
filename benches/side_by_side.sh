#!/usr/bin/env bash
# Side by side with the reference: the same scenario workspaces run by the
# reference (millrace-ai 0.18.0) and by ours, through the same scripted fake
# agent (tests/fakes/scripted_codex.sh). For each scenario it prints, per
# implementation, the order in which work items ran (from `stage_started`
# events; `arbiter(<root>)` for closure judgements) and the event names
# seen, then `same` or the diff.
#
# usage: [SCENARIOS="order closure ..."] benches/side_by_side.sh [REFERENCE_BIN] [OURS_BIN]
#   REFERENCE_BIN defaults to /tmp/ref/bin/millrace
#     (python3 -m venv /tmp/ref && /tmp/ref/bin/pip install millrace-ai==0.18.0 click)
#   OURS_BIN defaults to target/release/millrace (built when missing)
# Exit status: 0 when every scenario's claim order matches, 1 otherwise.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
ref=${1:-/tmp/ref/bin/millrace}
ours=${2:-$here/target/release/millrace}
[ -x "$ref" ] || { echo "reference not installed at $ref" >&2; exit 2; }
[ -x "$ours" ] || (cd "$here" && cargo build --release --quiet) || exit 2
fake=$here/tests/fakes/scripted_codex.sh
scratch=$(mktemp -d "${TMPDIR:-/tmp}/sbs.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

task() { # id created_at [extra json fields]
  printf '{"task_id":"%s","title":"%s","summary":"s","target_paths":["README.md"],"acceptance":["a"],"required_checks":["c"],"references":["r"],"risk":["none"],"created_at":"%s","created_by":"tests"%s}\n' "$1" "$1" "$2" "${3:-}"
}
spec() { # id created_at [extra json fields]
  printf '{"spec_id":"%s","title":"%s","summary":"s","source_type":"manual","goals":["g"],"non_goals":["n"],"constraints":["c"],"acceptance":["a"],"references":["r"],"created_at":"%s","created_by":"tests"%s}\n' "$1" "$1" "$2" "${3:-}"
}

# Each scenario: a name, the agent script, and `kind json` lines of work.
scenario_order() {
  echo ""
  echo "task $(task t-a 2026-04-15T12:00:02Z)"
  echo "task $(task t-b 2026-04-15T12:00:01Z)"
  echo "task $(task t-c 2026-04-15T11:00:03Z)"
}
scenario_dependency() {
  echo ""
  echo "task $(task t-first 2026-04-15T12:00:00Z ',"depends_on":["t-later"]')"
  echo "task $(task t-later 2026-04-15T12:00:05Z)"
}
scenario_blocked_dependency() {
  printf '%s\\n' "builder BLOCKED" "troubleshooter BLOCKED" "consultant BLOCKED" | tr -d '\n'; echo
  echo "task $(task t-dep 2026-04-15T12:00:00Z)"
  echo "task $(task t-needs 2026-04-15T12:00:01Z ',"depends_on":["t-dep"]')"
}
scenario_closure() {
  echo ""
  echo "spec $(spec spec-a 2026-04-15T12:00:00Z ',"root_idea_id":"idea-a","root_spec_id":"spec-a"')"
  echo "spec $(spec spec-b 2026-04-15T12:00:01Z ',"root_idea_id":"idea-b","root_spec_id":"spec-b"')"
  echo "task $(task t-a1 2026-04-15T12:00:02Z ',"root_spec_id":"spec-a"')"
  echo "task $(task t-b1 2026-04-15T12:00:03Z ',"root_spec_id":"spec-b"')"
  echo "task $(task t-a2 2026-04-15T12:00:04Z ',"root_spec_id":"spec-a"')"
  echo "seed idea-a"
  echo "seed idea-b"
}
scenario_idea() {
  echo ""
  echo "idea # Faster builds"
}

run_one() { # impl-bin scenario-name -> prints "order: ..." and "events: ..."
  local bin=$1 name=$2 ws=$scratch/$(basename "$(dirname "$1")")-$2-$RANDOM
  "$bin" init --workspace "$ws" >/dev/null 2>&1 || { echo "init failed"; return; }
  local lines; lines=$("scenario_$name")
  local script; script=$(printf '%s\n' "$lines" | head -n 1)
  printf '%b' "$script" > "$ws/script.txt"
  printf 'command = "%s"\nargs = []\n' "$fake" >> "$ws/millrace-agents/millrace.toml"
  mkdir -p "$ws/in" "$ws/ideas/inbox"
  local i=0
  printf '%s\n' "$lines" | tail -n +2 | while read -r kind doc; do
    i=$((i + 1))
    case $kind in
      task) echo "$doc" > "$ws/in/$i.json"; "$bin" add-task "$ws/in/$i.json" --workspace "$ws" >/dev/null ;;
      spec) echo "$doc" > "$ws/in/$i.json"; "$bin" add-spec "$ws/in/$i.json" --workspace "$ws" >/dev/null ;;
      idea) printf '%s\n\nCache the dependency layer.\n' "$doc" > "$ws/ideas/inbox/faster-builds.md" ;;
      seed) printf '# %s\n\nThe seed idea of a root spec.\n' "$doc" > "$ws/ideas/inbox/$doc.md" ;;
    esac
  done
  # Run the daemon until its event log has been quiet for 3 s (at most 90 s).
  local log=$ws/millrace-agents/logs/runtime_events.jsonl
  FAKE_SCRIPT=$ws/script.txt "$bin" run daemon --workspace "$ws" >/dev/null 2>&1 &
  local pid=$! size=-1 quiet=0 waited=0
  while [ $quiet -lt 6 ] && [ $waited -lt 180 ]; do
    sleep 0.5; waited=$((waited + 1))
    local now; now=$(stat -c %s "$log" 2>/dev/null || echo 0)
    if [ "$now" = "$size" ]; then quiet=$((quiet + 1)); else quiet=0; size=$now; fi
  done
  kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null
  python3 - "$ws/millrace-agents/logs/runtime_events.jsonl" <<'EOF'
import json, sys
order, names, last = [], [], None
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    t = e.get("event_type")
    if t not in names:
        names.append(t)
    if t == "stage_started":
        d = e.get("data", {})
        item = d.get("work_item_id") or "arbiter"
        if item != last:
            order.append(item)
        last = item
print("order:", " ".join(order))
print("events:", " ".join(sorted(names)))
EOF
}

status=0
for name in ${SCENARIOS:-order dependency blocked_dependency closure idea}; do
  a=$(run_one "$ref" "$name")
  b=$(run_one "$ours" "$name")
  echo "== $name"
  echo "reference $(echo "$a" | grep '^order:')"
  echo "ours      $(echo "$b" | grep '^order:')"
  if [ "$(echo "$a" | grep '^order:')" = "$(echo "$b" | grep '^order:')" ]; then
    echo "claim order: same"
  else
    echo "claim order: DIFFERENT"; status=1
  fi
  ra=$(echo "$a" | grep '^events:' | cut -d' ' -f2- | tr ' ' '\n')
  rb=$(echo "$b" | grep '^events:' | cut -d' ' -f2- | tr ' ' '\n')
  missing=$(comm -23 <(echo "$ra" | sort) <(echo "$rb" | sort) | tr '\n' ' ')
  echo "reference events ours lacks: ${missing:-none}"
done
exit $status
