#!/bin/sh
# Fake Pi in RPC mode for the runner tests: reads JSON-line commands on stdin
# and answers on stdout. Environment (runners.pi.env):
#   FAKE_OUTCOME   token the assistant text ends with (default: BUILDER_COMPLETE)
#   FAKE_MODE      ok | reject | eof | provider_error | empty | hang
#   FAKE_RECORD    directory to record argv (NUL-separated) and pids
outcome="${FAKE_OUTCOME:-BUILDER_COMPLETE}"
mode="${FAKE_MODE:-ok}"
[ -n "$FAKE_RECORD" ] && printf '%s\0' "$@" > "$FAKE_RECORD/argv"
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
        provider_error)
          echo '{"type":"message_end","message":{"role":"assistant","stopReason":"error"}}'
          echo '{"type":"agent_end","messages":[{"role":"assistant","stopReason":"error"}]}' ;;
        *)
          echo '{"type":"message_end","message":{"role":"assistant","stopReason":"stop"}}'
          echo '{"type":"agent_end","messages":[{"role":"user"},{"role":"assistant","stopReason":"stop"}]}' ;;
      esac ;;
    *'"type":"get_last_assistant_text"'*)
      if [ "$mode" = ok ]; then
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
