#!/usr/bin/env bash
# The README's second command: set up, lint, type-check, check the import layers, then run every
# test on the real broker.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -k ledger).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
exec .venv/bin/pytest "$@"
