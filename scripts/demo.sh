#!/usr/bin/env bash
# The README's first command: set up (venv, packages, Kafka jars) and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/spendstream demo "$@"
