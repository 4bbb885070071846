#!/usr/bin/env bash
# Set up ao (without its test tools), then bring up the demo project (no AI agent needed) and show
# its sessions. The demo works in a scratch git repository of its own, under ao's data dir, so
# your checkout gets no demo branches or worktrees.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
say() { printf '==> %s\n' "$*"; }
ao=.venv/bin/ao

data_dir=$(.venv/bin/python -c 'from reconciler.paths import DataDir; print(DataDir.resolve().root)')
demo_dir="$data_dir/demo"
mkdir -p "$demo_dir"
if [ ! -d "$demo_dir/repo/.git" ]; then
  say "creating the demo's scratch repository $demo_dir/repo"
  git init -q -b main "$demo_dir/repo"
  printf '# demo\n\nA scratch repository for the ao demo; its sessions work in worktrees of it.\n' \
    >"$demo_dir/repo/README.md"
  git -C "$demo_dir/repo" add README.md
  git -C "$demo_dir/repo" -c user.name=ao -c user.email=ao@localhost commit -q -m "demo: first commit"
fi
# examples/demo.yaml as shipped, pointed at the scratch repository (a path relative to the copy).
sed 's|^  repo: \.\. .*$|  repo: repo               # the scratch repository next to this file|' \
  examples/demo.yaml >"$demo_dir/demo.yaml"

say "ao apply -f $demo_dir/demo.yaml"
$ao apply -f "$demo_dir/demo.yaml"
say "ao get sessions"
$ao get sessions
cat <<TIP

The demo's data lives in $demo_dir (its repository and manifest) and in $data_dir.
Next:
  .venv/bin/ao attach demo-orchestrator      look inside (detach with Ctrl-b d)
  .venv/bin/ao logs demo-1                   the last lines of a worker's screen
  .venv/bin/ao describe session demo-1       spec, state and events of one session
  .venv/bin/ao delete project demo           stop the demo
TIP
