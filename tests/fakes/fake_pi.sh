#!/bin/sh
# Fake Pi in RPC mode for the runner tests: reads JSON-line commands on stdin
# and answers on stdout. Environment (runners.pi.env):
#   FAKE_OUTCOME   token the assistant text ends with (default: BUILDER_COMPLETE)
#   FAKE_MODE      ok | reject | eof | provider_error | empty | hang |
#                  netwait (Pi retrying a connection error every 0.3 s, for
#                  ever: FAKE_RECORD gets the retrying process's pid) |
#                  netwait_recover (two waits of FAKE_PAUSE seconds, each
#                  ended by an answer, then a normal end)
#   FAKE_RECORD    directory to record argv (NUL-separated) and pids
#   FAKE_PAUSE     seconds each netwait_recover wait lasts (default 0.5)
outcome="${FAKE_OUTCOME:-BUILDER_COMPLETE}"
mode="${FAKE_MODE:-ok}"
[ -n "$FAKE_RECORD" ] && printf '%s\0' "$@" > "$FAKE_RECORD/argv"
# One failed attempt as Pi reports it, then its own retry ($1: the attempt).
failed_attempt() {
  echo '{"type":"agent_start"}'
  echo '{"type":"turn_start"}'
  echo '{"type":"message_start","message":{"role":"assistant","content":[],"stopReason":"error","errorMessage":"Connection error."}}'
  echo '{"type":"message_end","message":{"role":"assistant","content":[],"stopReason":"error","errorMessage":"Connection error."}}'
  echo '{"type":"turn_end","message":{"role":"assistant","content":[],"stopReason":"error","errorMessage":"Connection error."},"toolResults":[]}'
  echo '{"type":"agent_end","messages":[{"role":"assistant","content":[],"stopReason":"error","errorMessage":"Connection error."}]}'
  printf '{"type":"auto_retry_start","attempt":%s,"maxAttempts":100,"delayMs":300,"errorMessage":"Connection error."}\n' "$1"
}
# The answer after a retry: Pi's success ends the retry.
answered() {
  echo '{"type":"agent_start"}'
  echo '{"type":"message_update","assistantMessageEvent":{"type":"text_delta","delta":"ok"}}'
  echo "{\"type\":\"message_end\",\"message\":{\"role\":\"assistant\",\"stopReason\":\"$1\"}}"
  echo '{"type":"auto_retry_end","success":true,"attempt":1}'
}
echo "fake pi: starting" >&2
while IFS= read -r line; do
  case "$line" in
    *'"type":"prompt"'*)
      if [ "$mode" = reject ]; then
        echo '{"type":"response","id":"prompt-1","command":"prompt","success":false,"error":"agent is busy"}'
        continue
      fi
      echo '{"type":"response","id":"prompt-1","command":"prompt","success":true}'
      echo '{"type":"agent_start"}'
      echo '{"type":"message_update","assistantMessageEvent":{"type":"text_delta","delta":"wor"}}'
      case "$mode" in
        eof) exit 0 ;;
        hang)
          trap '' TERM
          sleep 300 &
          echo $! > "$FAKE_RECORD/grandchild.pid"
          echo $$ > "$FAKE_RECORD/child.pid"
          continue ;;
        netwait)
          failed_attempt 1
          (n=2; while :; do sleep 0.3; failed_attempt $n; n=$((n + 1)); done) &
          echo $! > "$FAKE_RECORD/grandchild.pid"
          continue ;;
        netwait_recover)
          pause="${FAKE_PAUSE:-0.5}"
          failed_attempt 1
          sleep "$pause"
          # A tool call answered, then the next call fails and is retried.
          answered toolUse
          echo '{"type":"tool_execution_start","toolName":"bash"}'
          echo '{"type":"tool_execution_end","toolName":"bash"}'
          failed_attempt 1
          sleep "$pause"
          answered stop
          echo '{"type":"agent_end","messages":[{"role":"assistant","stopReason":"stop"}]}' ;;
        provider_error)
          echo '{"type":"message_end","message":{"role":"assistant","stopReason":"error"}}'
          echo '{"type":"agent_end","messages":[{"role":"assistant","stopReason":"error"}]}' ;;
        *)
          echo '{"type":"message_end","message":{"role":"assistant","stopReason":"stop"}}'
          echo '{"type":"agent_end","messages":[{"role":"user"},{"role":"assistant","stopReason":"stop"}]}' ;;
      esac ;;
    *'"type":"get_last_assistant_text"'*)
      if [ "$mode" = ok ] || [ "$mode" = netwait_recover ]; then
        printf '{"type":"response","id":"last-assistant-1","command":"get_last_assistant_text","success":true,"data":{"text":"work done\\n### %s\\n"}}\n' "$outcome"
      else
        echo '{"type":"response","id":"last-assistant-1","command":"get_last_assistant_text","success":true,"data":{"text":""}}'
      fi ;;
    *'"type":"get_session_stats"'*)
      echo '{"type":"response","id":"session-stats-1","command":"get_session_stats","success":true,"data":{"tokens":{"input":100,"output":20,"cacheRead":5,"total":0}}}' ;;
    *'"type":"abort"'*)
      [ "$mode" = hang ] || echo '{"type":"response","id":"abort-1","command":"abort","success":true}' ;;
  esac
done
[ "$mode" = hang ] && wait
exit 0
