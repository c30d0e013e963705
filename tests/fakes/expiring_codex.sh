#!/bin/sh
# A Codex CLI whose credentials expire mid-run, written from the real
# `codex exec --json` output (tests/fixtures/agent-clis/): every stage
# succeeds with its happy marker, except the stage named in FAKE_EXPIRE_AT
# while the file FAKE_EXPIRED exists, which fails as Codex does when the
# provider refuses the token (`error` event, `turn.failed`, exit 1).
. "$(dirname "$(readlink -f "$0")")/codex_common.sh"
codex_call "$@"
cat > /dev/null
marker=$(printf '%s\n' "$prompt" | sed -n 's/^Legal markers for this stage: `### \([A-Z_]*\)`.*/\1/p' | head -n 1)
echo '{"type":"thread.started","thread_id":"t-1"}'
echo '{"type":"turn.started"}'
if [ "$stage" = "$FAKE_EXPIRE_AT" ] && [ -e "$FAKE_EXPIRED" ]; then
  echo '{"type":"error","message":"unexpected status 401 Unauthorized: Your authentication token has expired. Please try signing in again."}'
  echo '{"type":"turn.failed","error":{"message":"unexpected status 401 Unauthorized: Your authentication token has expired. Please try signing in again."}}'
  exit 1
fi
printf '{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"done\\n### %s"}}\n' "$marker"
echo '{"type":"turn.completed","usage":{"input_tokens":1000,"cached_input_tokens":0,"output_tokens":50,"reasoning_output_tokens":0}}'
printf 'done\n### %s\n' "$marker" > "$out"
exit 0
