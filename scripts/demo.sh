#!/usr/bin/env bash
# Set everything up, then bring up the demo project (no AI agent needed) and show its sessions.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
say() { printf '==> %s\n' "$*"; }
say "ao apply -f examples/demo.yaml"
.venv/bin/ao apply -f examples/demo.yaml
say "ao get sessions"
.venv/bin/ao get sessions
cat <<'TIP'

Next:
  .venv/bin/ao attach demo-orchestrator      look inside (detach with Ctrl-b d)
  .venv/bin/ao logs demo-1                   the last lines of a worker's screen
  .venv/bin/ao describe session demo-1       spec, state and events of one session
  .venv/bin/ao delete project demo           stop the demo
TIP
