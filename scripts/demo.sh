#!/usr/bin/env bash
# Runs the OneClaim demo: scripts/demo.sh [args for `oneclaim demo`...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh
oneclaim_venv
oneclaim_npm

exec .venv/bin/oneclaim demo --reset "$@"
