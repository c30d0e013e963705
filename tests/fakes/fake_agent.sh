#!/bin/sh
# A generic CLI agent for the command-runner tests. It finds the `Stage:` line
# of the prompt (from --prompt TEXT, else stdin) and answers a marker.
#   --last-message FILE  write the answer there (else only to stdout)
#   FAKE_OUTCOME         token to answer (default: BUILDER_COMPLETE)
#   FAKE_RECORD          directory to record the prompt and MILLRACE_* variables
prompt=""
have_prompt=no
last=""
while [ $# -gt 0 ]; do
  case "$1" in
    --last-message) last="$2"; shift 2 ;;
    --prompt) prompt="$2"; have_prompt=yes; shift 2 ;;
    *) shift ;;
  esac
done
[ "$have_prompt" = yes ] || prompt="$(cat)"
stage="$(printf '%s\n' "$prompt" | sed -n 's/^Stage: //p')"
if [ -n "$FAKE_RECORD" ]; then
  printf '%s' "$prompt" > "$FAKE_RECORD/prompt"
  printf '%s\n' "$MILLRACE_REQUEST_ID" "$MILLRACE_STAGE" "$MILLRACE_LAST_MESSAGE_FILE" > "$FAKE_RECORD/env"
fi
answer="stage $stage handled
### ${FAKE_OUTCOME:-BUILDER_COMPLETE}"
echo "progress for $stage"
if [ -n "$last" ]; then
  printf '%s\n' "$answer" > "$last"
else
  printf '%s\n' "$answer"
fi
