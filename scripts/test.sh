#!/usr/bin/env bash
# Set everything up (with the test tools), then run the whole test suite (unit and integration, real
# tmux and git). Workers: $AO_TEST_WORKERS, else one per CPU, at most 4 (more only adds contention
# between the tests' tmux servers and git processes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
workers=${AO_TEST_WORKERS:-$(.venv/bin/python -c 'import os; print(max(1, min(4, os.cpu_count() or 1)))')}
exec .venv/bin/python -m pytest -n "$workers" "$@"
