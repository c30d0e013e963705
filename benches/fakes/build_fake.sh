#!/usr/bin/env bash
# Build the fake Codex (fake_codex.c) at $1 and print how it was linked.
# FAKE_LINK chooses (default freestanding, falling back in this order):
#   freestanding  no C library (x86-64 Linux only): the floor of a spawn;
#   static        glibc linked in, no dynamic loader;
#   dynamic       an ordinary program.
# docs/performance.md gives what each costs per spawn on this project's VM.
set -euo pipefail
out=$1
src="$(dirname "$0")/fake_codex.c"
want=${FAKE_LINK:-freestanding}
if [ "$want" = freestanding ] && [ "$(uname -m)" = x86_64 ] \
  && cc -O2 -static -nostdlib -fno-stack-protector -fno-builtin -DFAKE_FREESTANDING \
       -o "$out" "$src" 2>/dev/null; then
  echo freestanding
elif [ "$want" != dynamic ] && cc -O2 -static -o "$out" "$src" 2>/dev/null; then
  echo static
else
  cc -O2 -o "$out" "$src"
  echo dynamic
fi
