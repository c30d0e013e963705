#!/bin/sh
# A fake Claude Code CLI keeping `claude -p`'s stream-json contract:
# `--output-format stream-json` without `--verbose` exits 1 as the real one
# does; otherwise it prints a `system`/`init` event, an `assistant` event
# and a final `result` event with `usage` and `total_cost_usd`, whose
# `result` text ends with the stage's happy-path marker. It reads stdin to
# its end (an open stdin would hang it). Its argv goes to
# "$FAKE_CLAUDE_LOG" (one argument a line, calls separated by `--`).
# FAKE_CLAUDE_ERROR=1: `is_error: true` with subtype `success`, exit 1 (not
# logged in). FAKE_CLAUDE_ERROR=500: `is_error: true`, `api_error_status: 500`
# (a provider failure). FAKE_CLAUDE_QUOTA_ONCE=FILE: while FILE does not exist,
# create it and answer as a Claude subscription at its usage limit
# ("Claude AI usage limit reached|<epoch now + FAKE_CLAUDE_RESET (2) s>").
# FAKE_CLAUDE_DENIED=1: a happy text with one `permission_denials` entry.
# All written from the real CLI's output (tests/fixtures/agent-clis/).
# FAKE_TOKENS: tokens to report (default 600).
prompt=""
format="text"
verbose=0
prev=""
for a in "$@"; do
  [ "$prev" = "-p" ] && prompt="$a"
  [ "$prev" = "--output-format" ] && format="$a"
  [ "$a" = "--verbose" ] && verbose=1
  prev="$a"
done
if [ -n "$FAKE_CLAUDE_LOG" ]; then
  for a in "$@"; do printf '%s\n' "$a" | head -n 1; done >> "$FAKE_CLAUDE_LOG"
  echo "--" >> "$FAKE_CLAUDE_LOG"
fi
cat > /dev/null
if [ "$format" = "stream-json" ] && [ "$verbose" = 0 ]; then
  echo "Error: When using --print, --output-format=stream-json requires --verbose" >&2
  exit 1
fi
stage=$(printf '%s\n' "$prompt" | sed -n 's/^Stage: *\([a-z_]*\).*/\1/p' | head -n 1)
case "$stage" in
  builder) token=BUILDER_COMPLETE ;;
  checker) token=CHECKER_PASS ;;
  updater) token=UPDATE_COMPLETE ;;
  planner) token=PLANNER_COMPLETE ;;
  manager) token=MANAGER_COMPLETE ;;
  *) token=BLOCKED ;;
esac
tokens=${FAKE_TOKENS:-600}
input=$((tokens - 100 - 300))
if [ "$format" = "stream-json" ]; then
  echo '{"type":"system","subtype":"init","session_id":"s-1","tools":["Bash","Write"],"model":"claude-fake"}'
  printf '{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"working on %s"}]},"session_id":"s-1"}\n' "$stage"
fi
if [ -n "$FAKE_CLAUDE_QUOTA_ONCE" ] && [ ! -e "$FAKE_CLAUDE_QUOTA_ONCE" ]; then
  : > "$FAKE_CLAUDE_QUOTA_ONCE"
  reset=$(( $(date +%s) + ${FAKE_CLAUDE_RESET:-2} ))
  printf '{"type":"result","subtype":"success","is_error":true,"api_error_status":null,"result":"Claude AI usage limit reached|%s","usage":{"input_tokens":0,"output_tokens":0},"total_cost_usd":0,"num_turns":1,"permission_denials":[],"session_id":"s-1"}\n' "$reset"
  exit 1
fi
if [ "$FAKE_CLAUDE_ERROR" = "500" ]; then
  echo '{"type":"result","subtype":"success","is_error":true,"api_error_status":500,"result":"API Error: 500 {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal server error\"}}","usage":{"input_tokens":0,"output_tokens":0},"total_cost_usd":0,"num_turns":1,"permission_denials":[],"session_id":"s-1"}'
  exit 1
fi
if [ "$FAKE_CLAUDE_DENIED" = "1" ]; then
  printf '{"type":"result","subtype":"success","is_error":false,"num_turns":2,"result":"could not write\\n### %s","usage":{"input_tokens":100,"output_tokens":10},"total_cost_usd":0,"permission_denials":[{"tool_name":"Write","tool_use_id":"toolu_1","tool_input":{"file_path":"x.txt","content":"x"}}],"session_id":"s-1"}\n' "$token"
  exit 0
fi
if [ "$FAKE_CLAUDE_ERROR" = "1" ]; then
  echo '{"type":"result","subtype":"success","is_error":true,"result":"Not logged in · Please run /login","usage":{"input_tokens":0,"output_tokens":0},"total_cost_usd":0,"num_turns":1,"permission_denials":[],"session_id":"s-1"}'
  exit 1
fi
printf '{"type":"result","subtype":"success","is_error":false,"duration_ms":700,"num_turns":2,"result":"done with %s\\n### %s","usage":{"input_tokens":%s,"cache_creation_input_tokens":0,"cache_read_input_tokens":300,"output_tokens":100},"total_cost_usd":0.0125,"permission_denials":[],"session_id":"s-1"}\n' "$stage" "$token" "$input"
exit 0
