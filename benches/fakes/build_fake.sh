#!/usr/bin/env bash
# Build the fake Codex (fake_codex.c) at $1. Statically linked by default:
# the fake stands for an agent that costs as little as a process can, and
# a static binary skips the dynamic loader (about 0.2 ms of every spawn on
# this project's VM; docs/performance.md). FAKE_LINK=dynamic builds it as
# an ordinary dynamically linked program, and the static build falls back
# to that where the C library has no static archive. Prints the linkage.
set -euo pipefail
out=$1
src="$(dirname "$0")/fake_codex.c"
if [ "${FAKE_LINK:-static}" = static ] && cc -O2 -static -o "$out" "$src" 2>/dev/null; then
  echo static
else
  cc -O2 -o "$out" "$src"
  echo dynamic
fi
