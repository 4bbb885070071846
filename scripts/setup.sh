#!/usr/bin/env bash
# Prepare this checkout: system tools (tmux, git) and a virtualenv in .venv with ao.
# `setup.sh --test` also installs the test tools (pytest, hypothesis, playwright...): the demo does
# not need them. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="" imports="reconciler, fastapi, sqlite_utils.migrations" stamp=.venv/.ao-installed
if [ "${1:-}" = "--test" ]; then
  extras="[test]" imports="$imports, pytest, xdist, pytest_timeout, hypothesis, httpx, schemathesis, playwright"
  stamp=.venv/.ao-installed-test
fi

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
if ! .venv/bin/python -c "import $imports" 2>/dev/null || [ pyproject.toml -nt "$stamp" ]; then
  say "installing ao${extras:+ and its test tools} into .venv"
  # pip's and setuptools' chatter (editable-install notices, warnings) goes to a log, shown on failure.
  log=.venv/pip-install.log
  if ! { .venv/bin/python -m pip install --quiet --upgrade pip \
         && .venv/bin/python -m pip install --quiet -e ".$extras"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "pip install failed (log: $log)" >&2
    exit 1
  fi
  touch "$stamp" .venv/.ao-installed   # the test install includes ao itself
fi
say "ready: $(.venv/bin/ao --version), $(tmux -V), $(git --version)"
