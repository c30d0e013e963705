#!/bin/sh
# A scripted fake Codex CLI for the interpreter's trace tests.
#
# FAKE_SCRIPT names a file of lines `<stage> <TOKEN> [<TOKEN> ...]`: the Nth
# call of a stage answers its Nth token (the last one repeats). Stages not in
# the file answer their happy-path token. `NONE` answers with no marker;
# `CRASH` exits 3; `TWO` prints two different markers; `SLEEP` sleeps 30 s,
# or `FAKE_SLEEP` seconds when set (an agent still working when its daemon
# dies); `PLANT` puts a regular
# file where the run's `stage_results/` directory goes (so the runtime
# cannot record the result) and `UNPLANT` removes it, both then answering
# the stage's happy token; `ORPHAN` leaves a `sleep 300` running in the
# background (its pid in `orphan.pid` in the run directory) and answers the
# happy token. Every call appends `<stage> <TOKEN>` to
# "$FAKE_SCRIPT.log". `FAKE_DELAY` (seconds) makes every call that slow;
# `FAKE_TOKENS=N` reports N input and N/10 output tokens (a `token_count` event).
# Stages named in FAKE_NAP_STAGES sleep FAKE_NAP seconds first.
# `FAKE_EVENT`: a line printed first, before any delay (an agent's event).
# `FAKE_SKILL_UPDATE=1`: a completing curator writes
# `curator_skill_update_summary.md` in its run directory.
# `FAKE_REPORT=1`: a troubleshooter writes `troubleshoot_report.md` at the
# "Preferred Troubleshoot Report Path" its prompt gives; an arbiter writes its
# report and verdict at the "Preferred Report Path" and "Preferred Verdict Path";
# any other stage reads the troubleshoot path and, when a report is there,
# appends "<stage> saw report" to "$FAKE_SCRIPT.log".
# `FAKE_TURN_TOKENS=N` reports N tokens in all as current Codex does (a
# `turn.completed` event, no `token_count`).
. "$(dirname "$(readlink -f "$0")")/codex_common.sh"
codex_call "$@"
case "$stage" in
  analyst) token=ANALYST_NOOP ;;
  professor) token=PROFESSOR_NOOP ;;
  curator) token=CURATOR_NOOP ;;
  *) token=$(happy_token "$stage") ;;
esac
happy=$token
[ -n "$FAKE_EVENT" ] && printf '%s\n' "$FAKE_EVENT"
[ -n "$FAKE_DELAY" ] && sleep "$FAKE_DELAY"
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
if [ -n "$FAKE_TURN_TOKENS" ]; then
  printf '{"type":"turn.completed","usage":{"input_tokens":%s,"cached_input_tokens":0,"output_tokens":100}}\n' $((FAKE_TURN_TOKENS - 100))
fi
# FAKE_NAP_STAGES: stages that take FAKE_NAP seconds (default 1) to answer.
case " $FAKE_NAP_STAGES " in
  *" $stage "*) sleep "${FAKE_NAP:-1}" ;;
esac
run_dir=$(dirname "$out")
# FAKE_SKILL_UPDATE: a curator that completes also writes its skill update summary.
if [ -n "$FAKE_SKILL_UPDATE" ] && [ "$stage" = curator ] && [ "$token" = CURATOR_COMPLETE ]; then
  printf 'updated skills/x/SKILL.md\n' > "$run_dir/curator_skill_update_summary.md"
fi
if [ -n "$FAKE_REPORT" ]; then
  field() { printf '%s\n' "$prompt" | sed -n "s/^$1: *//p" | head -n 1; }
  case "$stage" in
    troubleshooter) printf '# Troubleshoot report\n\nroot cause: scripted\n' > "$(field 'Preferred Troubleshoot Report Path')" ;;
    arbiter)
      printf '# Arbiter report\n\nparity: scripted\n' > "$(field 'Preferred Report Path')"
      v=$(field 'Preferred Verdict Path'); mkdir -p "$(dirname "$v")"; printf '{"verdict":"scripted"}\n' > "$v" ;;
    *) r=$(field 'Preferred Troubleshoot Report Path')
      [ -n "$FAKE_SCRIPT" ] && [ -f "$r" ] && echo "$stage saw report" >> "$FAKE_SCRIPT.log" ;;
  esac
fi
case "$token" in
  PLANT) [ -e "$run_dir/stage_results" ] || : > "$run_dir/stage_results"; token=$happy ;;
  UNPLANT) [ -f "$run_dir/stage_results" ] && rm -f "$run_dir/stage_results"; token=$happy ;;
  ORPHAN) sleep 300 > /dev/null 2>&1 & echo $! > "$run_dir/orphan.pid"; token=$happy ;;
esac
case "$token" in
  NONE) printf 'I am not sure what to do.\n' > "$out" ;;
  CRASH) echo "scripted crash" >&2; exit 3 ;;
  SLEEP) sleep "${FAKE_SLEEP:-30}"; printf '### BLOCKED\n' > "$out" ;;
  TWO) printf '### BUILDER_COMPLETE\n### BLOCKED\n' > "$out" ;;
  *) printf 'done\n### %s\n' "$token" > "$out" ;;
esac
if [ -n "$FAKE_TOKENS" ]; then
  out_tokens=$((FAKE_TOKENS / 10))
  printf '{"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":%s,"cached_input_tokens":0,"output_tokens":%s,"reasoning_output_tokens":0,"total_tokens":%s}}}}\n' \
    "$FAKE_TOKENS" "$out_tokens" $((FAKE_TOKENS + out_tokens))
fi
printf '### %s\n' "$token"
exit 0
