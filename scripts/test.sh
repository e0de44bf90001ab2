#!/usr/bin/env bash
# The README's second command: set up, lint, type-check and run every test on the real broker.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -k ledger).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
