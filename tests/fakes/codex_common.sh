# Shared by the Codex-style fakes (scripted_codex.sh, hostile_codex.sh,
# crash_agent.sh, expiring_codex.sh), sourced, never run: how they read
# their call and which marker a stage answers on the happy path. A fake
# finds it beside its own file, through any link to the fake
# (`. "$(dirname "$(readlink -f "$0")")/codex_common.sh"`).

# codex_call "$@": sets `out` (the --output-last-message path), `prompt`
# (the last argument) and `stage` (the prompt's `Stage:` line).
codex_call() {
  out=""
  prev=""
  prompt=""
  for a in "$@"; do
    [ "$prev" = "--output-last-message" ] && out="$a"
    prev="$a"
    prompt="$a"
  done
  stage=$(printf '%s\n' "$prompt" | sed -n 's/^Stage: *\([a-z_]*\).*/\1/p' | head -n 1)
}

# happy_token STAGE: the stage's happy-path marker (execution and planning
# stages); BLOCKED for any other stage.
happy_token() {
  case "$1" in
    builder) echo BUILDER_COMPLETE ;;
    checker) echo CHECKER_PASS ;;
    fixer) echo FIXER_COMPLETE ;;
    doublechecker) echo DOUBLECHECK_PASS ;;
    updater) echo UPDATE_COMPLETE ;;
    troubleshooter) echo TROUBLESHOOT_COMPLETE ;;
    consultant) echo CONSULT_COMPLETE ;;
    planner) echo PLANNER_COMPLETE ;;
    manager) echo MANAGER_COMPLETE ;;
    mechanic) echo MECHANIC_COMPLETE ;;
    auditor) echo AUDITOR_COMPLETE ;;
    arbiter) echo ARBITER_COMPLETE ;;
    *) echo BLOCKED ;;
  esac
}
