# Sourced by the strace benches (handoff_syscalls.sh, runner_syscalls.sh):
# from the repository root, with N and a temp-name prefix set, it builds
# what is missing, makes $work (removed on exit) with the fake agent, and a
# workspace $ws whose codex runner is the fake, with N tasks queued.
root=$(pwd)
bin=${MILLRACE:-$root/target/release/millrace}
[ -x "$bin" ] || cargo build --release --quiet
command -v strace >/dev/null || { echo "strace not found (apt-get install -y strace)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/$prefix.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "fake agent: $("$root/benches/fakes/build_fake.sh" "$work/fake_codex")"
ws=$work/ws
"$bin" init --workspace "$ws" >/dev/null 2>&1
printf 'command = "%s"\nargs = []\n' "$work/fake_codex" >> "$ws/millrace-agents/millrace.toml"
for i in $(seq 1 "$N"); do
  id=t-$(printf %05d "$i")
  printf '# Task %s\n\nTask-ID: %s\nTitle: Task %s\nCreated-At: 2026-04-15T12:00:00Z\nCreated-By: bench\n\nTarget-Paths:\n- README.md\n\nAcceptance:\n- a\n\nRequired-Checks:\n- c\n\nReferences:\n- r\n\nRisk:\n- none\n' "$id" "$id" "$id" > "$ws/millrace-agents/tasks/queue/$id.md"
done
