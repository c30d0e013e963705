#!/bin/sh
# A scripted fake Codex CLI for the interpreter's trace tests.
#
# FAKE_SCRIPT names a file of lines `<stage> <TOKEN> [<TOKEN> ...]`: the Nth
# call of a stage answers its Nth token (the last one repeats). Stages not in
# the file answer their happy-path token. `NONE` answers with no marker;
# `CRASH` exits 3; `TWO` prints two different markers; `SLEEP` sleeps 30 s,
# or `FAKE_SLEEP` seconds when set (an agent still working when its daemon
# dies). Every call appends
# `<stage> <TOKEN>` to "$FAKE_SCRIPT.log".
out=""
prev=""
prompt=""
for a in "$@"; do
  [ "$prev" = "--output-last-message" ] && out="$a"
  prev="$a"
  prompt="$a"
done
stage=$(printf '%s\n' "$prompt" | sed -n 's/^Stage: *\([a-z_]*\).*/\1/p' | head -n 1)
case "$stage" in
  builder) token=BUILDER_COMPLETE ;;
  checker) token=CHECKER_PASS ;;
  fixer) token=FIXER_COMPLETE ;;
  doublechecker) token=DOUBLECHECK_PASS ;;
  updater) token=UPDATE_COMPLETE ;;
  troubleshooter) token=TROUBLESHOOT_COMPLETE ;;
  consultant) token=CONSULT_COMPLETE ;;
  planner) token=PLANNER_COMPLETE ;;
  manager) token=MANAGER_COMPLETE ;;
  mechanic) token=MECHANIC_COMPLETE ;;
  auditor) token=AUDITOR_COMPLETE ;;
  arbiter) token=ARBITER_COMPLETE ;;
  analyst) token=ANALYST_NOOP ;;
  professor) token=PROFESSOR_NOOP ;;
  curator) token=CURATOR_NOOP ;;
  *) token=BLOCKED ;;
esac
if [ -n "$FAKE_SCRIPT" ]; then
  count_file="$FAKE_SCRIPT.count.$stage"
  n=0
  [ -f "$count_file" ] && n=$(cat "$count_file")
  echo $((n + 1)) > "$count_file"
  line=$(grep "^$stage " "$FAKE_SCRIPT" 2>/dev/null | head -n 1)
  if [ -n "$line" ]; then
    set -- $line
    shift
    i=0
    for t in "$@"; do
      token="$t"
      [ "$i" -eq "$n" ] && break
      i=$((i + 1))
    done
  fi
  echo "$stage $token" >> "$FAKE_SCRIPT.log"
fi
case "$token" in
  NONE) printf 'I am not sure what to do.\n' > "$out" ;;
  CRASH) echo "scripted crash" >&2; exit 3 ;;
  SLEEP) sleep "${FAKE_SLEEP:-30}"; printf '### BLOCKED\n' > "$out" ;;
  TWO) printf '### BUILDER_COMPLETE\n### BLOCKED\n' > "$out" ;;
  *) printf 'done\n### %s\n' "$token" > "$out" ;;
esac
printf '### %s\n' "$token"
exit 0
