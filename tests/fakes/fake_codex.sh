#!/bin/sh
# Fake Codex CLI for the runner tests (speaks `codex exec --json` just enough).
# Behaviour comes from the environment the runner passes (runners.codex.env):
#   FAKE_OUTCOME   token to answer (default: BUILDER_COMPLETE)
#   FAKE_MODE      ok | stdout_only | fail | no_marker | hang | netwait |
#                  netwait_recover
#                  (netwait: Codex's "waiting for network" event, twice,
#                  then nothing for 300 s; netwait_recover: the same wait,
#                  then after FAKE_NAP s (default 0.2) another event, a
#                  pause of FAKE_PAUSE s (default 2.5), the wait and an event
#                  again, then the answer)
#   FAKE_RECORD    directory to record argv (NUL-separated), cwd and a probe
#   FAKE_PROBE     any value; recorded to show the environment reaches the agent
outcome="${FAKE_OUTCOME:-BUILDER_COMPLETE}"
mode="${FAKE_MODE:-ok}"
out=""
prev=""
for a in "$@"; do
  [ "$prev" = "--output-last-message" ] && out="$a"
  prev="$a"
done
if [ -n "$FAKE_RECORD" ]; then
  printf '%s\0' "$@" > "$FAKE_RECORD/argv"
  pwd > "$FAKE_RECORD/cwd"
  printf '%s' "$FAKE_PROBE" > "$FAKE_RECORD/probe"
fi
echo "fake codex: starting" >&2
echo '{"type":"thread.started","thread_id":"t-1"}'
echo '{"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":1200,"cached_input_tokens":300,"output_tokens":45,"reasoning_output_tokens":20,"total_tokens":1245}}}}'
echo '{"type":"token_count","info":{"last_token_usage":{"input_tokens":10,"output_tokens":5}}}'
echo '{"type":"turn.completed","usage":{"input_tokens":999999,"output_tokens":1}}'
case "$mode" in
  ok)
    printf 'Resume-Stage: Checker\nwork done\n### %s\n' "$outcome" > "$out" ;;
  stdout_only)
    printf '### %s\n' "$outcome" ;;
  no_marker)
    printf 'I could not decide.\n' > "$out" ;;
  fail)
    echo "fake codex: failing" >&2
    exit 3 ;;
  netwait)
    wait_line='{"type":"error","message":"Reconnecting... waiting for network (Connection failed: error sending request)"}'
    echo "$wait_line"
    echo "$wait_line"
    sleep 300 &
    [ -n "$FAKE_RECORD" ] && echo $! > "$FAKE_RECORD/grandchild.pid"
    wait ;;
  netwait_recover)
    wait_line='{"type":"error","message":"Reconnecting... waiting for network (Connection failed: error sending request)"}'
    echo "$wait_line"
    sleep "${FAKE_NAP:-0.2}"
    echo '{"type":"turn.started"}'
    sleep "${FAKE_PAUSE:-2.5}"
    echo "$wait_line"
    echo '{"type":"turn.started"}'
    printf 'back online\n### %s\n' "$outcome" > "$out" ;;
  hang)
    sleep 300 &
    echo $! > "$FAKE_RECORD/grandchild.pid"
    echo $$ > "$FAKE_RECORD/child.pid"
    wait ;;
esac
exit 0
