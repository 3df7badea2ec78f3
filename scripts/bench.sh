#!/usr/bin/env bash
# Runs the benchmarks: scripts/bench.sh [args for `python -m bench`...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh
oneclaim_venv

exec .venv/bin/python -m bench "$@"
