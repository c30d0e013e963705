#!/bin/sh
# The scripted fake Codex (scripted_codex.sh), slowed down: every call first
# sleeps FAKE_DELAY seconds (default 2), so a watcher can see each stage.
sleep "${FAKE_DELAY:-2}"
exec "$(dirname "$0")/scripted_codex.sh" "$@"
