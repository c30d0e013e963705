#!/usr/bin/env bash
# The runner path's system calls per stage: runs N tasks (default 100, 3
# stages each) with `run daemon --until-idle` and the repository's fake
# Codex under `strace -f`, and counts, per stage, the daemon's own system
# calls (the agent processes are left out; the moments between the spawn's
# clone and the agent's execve count as the agent's): all of them, the
# threads it starts, and the calls of the runner window, from the creation
# of the stage's prompt file to the agent note being emptied after the
# agent ended (every daemon thread included).
#
#   benches/runner_syscalls.sh [N]
#
# Needs strace (apt-get install -y strace) and python3. Environment:
# MILLRACE (default target/release/millrace, built if missing), TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
prefix=mrrunner
. benches/strace_workspace.sh
strace -f -o "$work/trace.txt" "$bin" run daemon --workspace "$ws" --until-idle >/dev/null 2>&1
python3 - "$work/trace.txt" $((N * 3)) <<'PY'
import collections, re, sys
path, stages = sys.argv[1], int(sys.argv[2])
call_re = re.compile(r'^(\d+) +(?:<\.\.\. (\w+) resumed>|(\w+)\()')
rows, first, agents = [], None, set()
for line in open(path):
    m = call_re.match(line)
    if not m or m.group(3) is None:
        continue  # a resumed call was counted where it started
    pid, call = int(m.group(1)), m.group(3)
    first = first or pid
    if call == 'execve' and pid != first:
        agents.add(pid)
    rows.append((pid, call, line))
daemon = [(pid, call, line) for pid, call, line in rows if pid not in agents]
calls = collections.Counter(call for _, call, _ in daemon)
threads = sum(1 for _, call, line in daemon if call == 'clone3' and 'CLONE_THREAD' in line)
print(f'stages={stages}')
print(f'daemon system calls per stage: {len(daemon) / stages:.1f}')
print(f'threads started per stage: {threads / stages:.2f}')
for k in ['clone3', 'openat', 'openat2', 'read', 'statx', 'close', 'prlimit64', 'futex']:
    print(f'  {k:10} {calls[k] / stages:6.2f}')
window, inside, seen = collections.Counter(), False, 0
for pid, call, line in daemon:
    if not inside and call == 'openat' and 'runner_prompt.' in line:
        inside, seen = True, seen + 1
    if inside:
        window[call] += 1
        if call == 'ftruncate' and re.search(r'ftruncate\(\d+, 0[) ]', line):
            inside = False
print(f'runner window ({seen} stages): {sum(window.values()) / max(seen, 1):.1f} calls per stage')
for k, v in window.most_common():
    if v / max(seen, 1) >= 0.5:
        print(f'  {k:10} {v / seen:6.2f}')
PY
