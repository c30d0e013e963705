#!/bin/sh
# A Codex-style fake for the crash test whose answer depends only on the
# stage and the work item (never on how many times it was called), so a
# stage re-run after a SIGKILL answers the same. Tasks by number n:
#   n % 4 == 0  escalate: builder, troubleshooter BLOCKED; consultant NEEDS_PLANNING
#   n % 4 == 1  dead end: builder, troubleshooter, consultant BLOCKED
#   n % 4 == 2  one fix:  checker FIX_NEEDED, then the happy path
#   n % 4 == 3  happy path
# Specs, incidents and everything else take the happy path.
out=""
prev=""
prompt=""
for a in "$@"; do
  [ "$prev" = "--output-last-message" ] && out="$a"
  prev="$a"
  prompt="$a"
done
stage=$(printf '%s\n' "$prompt" | sed -n 's/^Stage: *\([a-z_]*\).*/\1/p' | head -n 1)
item=$(printf '%s\n' "$prompt" | sed -n 's/^Active Work Item: task t-0*\([0-9][0-9]*\)$/\1/p' | head -n 1)
group=3
[ -n "$item" ] && group=$((item % 4))
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
  *) token=BLOCKED ;;
esac
case "$group:$stage" in
  0:builder|0:troubleshooter|1:builder|1:troubleshooter|1:consultant) token=BLOCKED ;;
  0:consultant) token=NEEDS_PLANNING ;;
  2:checker) token=FIX_NEEDED ;;
esac
printf 'done\n### %s\n' "$token" > "$out"
printf '### %s\n' "$token"
exit 0
