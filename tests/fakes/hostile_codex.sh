#!/bin/sh
# A hostile fake Codex CLI for tests/hostile_fs.rs. On its first builder
# call it does what HOSTILE names (plant a link where the runtime will
# write or read, print a huge line, flood its output), then answers like
# an honest agent; every later call is honest. OUTSIDE names a file and
# OUTSIDE_DIR a directory outside the workspace.
. "$(dirname "$(readlink -f "$0")")/codex_common.sh"
codex_call "$@"
token=$(happy_token "$stage")
run_dir=$(dirname "$out")
req=$(basename "$out" | sed 's/^runner_last_message\.\(.*\)\.txt$/\1/')
ma=$(dirname "$(dirname "$run_dir")")
write_out=yes
if [ "$stage" = builder ] && [ -n "$HOSTILE_FLAG" ] && [ ! -e "$HOSTILE_FLAG" ]; then
  : > "$HOSTILE_FLAG"
  case "$HOSTILE" in
    stdout) ln -s "$OUTSIDE" "$run_dir/runner_stdout.$req.txt" ;;
    hardlink) ln "$OUTSIDE" "$run_dir/runner_stdout.$req.txt" ;;
    completion) ln -s "$OUTSIDE" "$run_dir/runner_completion.$req.json" ;;
    last_message) ln -s "$OUTSIDE" "$out"; write_out=no ;;
    stage_results) ln -s "$OUTSIDE_DIR" "$run_dir/stage_results" ;;
    run_dir) mv "$run_dir" "$run_dir.moved"; ln -s "$OUTSIDE_DIR" "$run_dir"; write_out=no ;;
    run_dir_out) mv "$run_dir" "$OUTSIDE_DIR/run"; ln -s "$OUTSIDE_DIR/run" "$run_dir"; write_out=no
      ls -A "$OUTSIDE_DIR/run" > "$HOSTILE_FLAG.list" ;;
    state_out) mv "$ma/state" "$OUTSIDE_DIR/state"; ln -s "$OUTSIDE_DIR/state" "$ma/state"
      : > "$HOSTILE_FLAG.moved"; sleep 0.05 ;;
    event_log) rm -f "$ma/logs/runtime_events.jsonl"; ln -s "$OUTSIDE" "$ma/logs/runtime_events.jsonl" ;;
    status) rm -f "$ma/state/execution_status.md"; ln -s "$OUTSIDE" "$ma/state/execution_status.md" ;;
    snapshot) rm -f "$ma/state/runtime_snapshot.json"; ln -s "$OUTSIDE" "$ma/state/runtime_snapshot.json" ;;
    big_line) head -c "${BIG_BYTES:-1073741824}" /dev/zero | tr '\0' a ;;
    flood) head -c "${BIG_BYTES:-100000}" /dev/zero | tr '\0' b; echo; head -c "${BIG_BYTES:-100000}" /dev/zero | tr '\0' e >&2 ;;
  esac
fi
[ "$write_out" = yes ] && printf 'done\n### %s\n' "$token" > "$out"
printf '\n### %s\n' "$token"
exit 0
