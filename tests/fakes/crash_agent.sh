#!/bin/sh
# A Codex-style fake for the crash test whose answer depends only on the
# stage and the work item (never on how many times it was called), so a
# stage re-run after a SIGKILL answers the same. Tasks by number n:
#   n % 4 == 0  escalate: builder, troubleshooter BLOCKED; consultant NEEDS_PLANNING
#   n % 4 == 1  dead end: builder, troubleshooter, consultant BLOCKED
#   n % 4 == 2  one fix:  checker FIX_NEEDED, then the happy path
#   n % 4 == 3  happy path
# Specs, incidents and everything else take the happy path.
. "$(dirname "$(readlink -f "$0")")/codex_common.sh"
codex_call "$@"
item=$(printf '%s\n' "$prompt" | sed -n 's/^Active Work Item: task t-0*\([0-9][0-9]*\)$/\1/p' | head -n 1)
group=3
[ -n "$item" ] && group=$((item % 4))
token=$(happy_token "$stage")
case "$group:$stage" in
  0:builder|0:troubleshooter|1:builder|1:troubleshooter|1:consultant) token=BLOCKED ;;
  0:consultant) token=NEEDS_PLANNING ;;
  2:checker) token=FIX_NEEDED ;;
esac
printf 'done\n### %s\n' "$token" > "$out"
printf '### %s\n' "$token"
exit 0
