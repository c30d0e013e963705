#!/usr/bin/env bash
# Durable operations per stage handoff: runs N tasks (default 100, 3 stages
# each) with `run daemon --until-idle` and the repository's fake Codex under
# `strace -f`, and counts, per stage, the daemon's own system calls (the
# agent processes are left out): fsync/fdatasync (by file), files opened
# with O_CREAT (by name), renames, unlinks and directory creations; with
# perf on ext4, the inodes allocated and freed per stage. Also counts the
# files left in `runs/` and how many of them are empty.
#
#   benches/handoff_syscalls.sh [N]
#
# Needs strace (apt-get install -y strace) and python3. Environment:
# MILLRACE (default target/release/millrace, built if missing), TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
prefix=mrsyscalls
. benches/strace_workspace.sh
# ext4 tracepoints, when perf can count them: inodes allocated and freed
# (a file or directory made, an unlinked or replaced one released) and
# fsync/fdatasync calls, the agents' included.
counted=()
events=ext4:ext4_allocate_inode,ext4:ext4_free_inode,ext4:ext4_sync_file_enter
if command -v perf >/dev/null && perf stat -x, -e "$events" true >/dev/null 2>&1; then
  counted=(perf stat -x, -o "$work/perf.txt" -e "$events" --)
fi
"${counted[@]}" strace -f -y -o "$work/trace.txt" \
  -e trace=execve,fsync,fdatasync,openat,rename,renameat,renameat2,link,linkat,mkdir,mkdirat,unlink,unlinkat \
  "$bin" run daemon --workspace "$ws" --until-idle >/dev/null
python3 - "$work/trace.txt" $((N * 3)) "$ws/millrace-agents/" <<'PY'
import collections, re, sys
path, stages, ma = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows, agents = [], set()
for line in open(path):
    m = re.match(r'(\d+)\s+(\w+)\((.*)', line)
    if not m:
        continue
    pid, call, rest = m.groups()
    if call == 'execve' and 'millrace' not in rest.split(',')[0]:
        agents.add(pid)
    rows.append((pid, call, rest))
def norm(name):
    name = re.sub(r'(request|run)-[0-9a-f]{8,}', r'\1-X', name)
    name = re.sub(r'\.\d+\.\d+\.millrace-tmp', '.tmp', name)
    return re.sub(r't-\d+', 't-N', name.replace(ma, ''))
calls, creates, syncs = collections.Counter(), collections.Counter(), collections.Counter()
for pid, call, rest in rows:
    if pid in agents or call == 'execve':
        continue
    calls[call] += 1
    failed = re.search(r'= -1', rest)
    if call == 'openat' and 'O_CREAT' in rest and not failed:
        name = norm(re.search(r'"([^"]*)"', rest).group(1).split('/')[-1])
        kind = 'new' if 'O_EXCL' in rest else 'create-or-open'
        creates[f'{name} ({kind})'] += 1
    if call in ('fsync', 'fdatasync'):
        m = re.match(r'\d+<([^>]*)>', rest)
        syncs[norm(m.group(1)) if m else '?'] += 1
print(f'stages={stages}')
for k in sorted(calls):
    print(f'  {k:10} {calls[k] / stages:6.2f} per stage')
print(f'fsync+fdatasync per stage: {sum(syncs.values()) / stages:.2f}')
for k, v in syncs.most_common():
    if v / stages >= 0.05:
        print(f'  {v / stages:5.2f} {k}')
print(f'opens with O_CREAT per stage (existing files included): {sum(creates.values()) / stages:.2f}')
for k, v in creates.most_common():
    if v / stages >= 0.05:
        print(f'  {v / stages:5.2f} {k}')
PY
if [ -s "$work/perf.txt" ]; then
  awk -F, -v st=$((N * 3)) '/ext4_/ {n = $3; sub(/.*:ext4_/, "", n); printf "ext4 %-15s %6.2f per stage\n", n, $1 / st}' "$work/perf.txt"
fi
files=$(find "$ws/millrace-agents/runs" -type f | wc -l)
empty=$(find "$ws/millrace-agents/runs" -type f -empty | wc -l)
echo "run files: $files for $N runs ($((files / N)) per run), empty: $empty"
