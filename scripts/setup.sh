#!/usr/bin/env bash
# Prepare this checkout: system tools (tmux, git), a virtualenv in .venv with ao and its test
# tools. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }

missing=()
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v git >/dev/null 2>&1 || missing+=(git)
python_ok() { python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
python_ok || missing+=(python3 python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "ao needs: ${missing[*]} (Python >= 3.11 with venv)." >&2
    echo "Install them, e.g. 'sudo apt-get install ${missing[*]}' or 'brew install ${missing[*]}', then run this again." >&2
    exit 1
  fi
fi
python_ok || { echo "Python >= 3.11 is required; found $(python3 --version 2>&1)." >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  say "creating virtualenv .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import reconciler, pytest, xdist, hypothesis, httpx, schemathesis, playwright, fastapi' 2>/dev/null \
   || [ pyproject.toml -nt .venv/.ao-installed ]; then
  say "installing ao and its test tools into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
  .venv/bin/python -m pip install --quiet -e '.[test]'
  touch .venv/.ao-installed
fi
say "ready: $(.venv/bin/ao --version), $(tmux -V), $(git --version)"
