#!/usr/bin/env bash
# Set everything up, then run the whole test suite (unit and integration, real tmux and git).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest -n "${AO_TEST_WORKERS:-4}" "$@"
