#!/usr/bin/env bash
# The test command: scripts/test.sh [pytest args...]
# Bootstraps .venv (and node_modules once there is a package-lock.json), lints with ruff,
# starts a throw-away PostgreSQL cluster for the run, then runs pytest on 2 workers.
# Exits with pytest's code; "no tests collected" (5) counts as a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh
oneclaim_venv
oneclaim_npm

echo "==> ruff check ." >&2
.venv/bin/ruff check .

pytest_cmd=(.venv/bin/pytest -n "${ONECLAIM_TEST_WORKERS:-2}" -q "$@")
if [ "${CI:-}" = "true" ]; then
    # Never let a hung test eat CI's budget; timeout also kills the xdist workers.
    pytest_cmd=(timeout --kill-after=30 "${ONECLAIM_TEST_TIMEOUT:-720}" "${pytest_cmd[@]}")
fi

echo "==> ${pytest_cmd[*]}" >&2
rc=0
"${pytest_cmd[@]}" </dev/null || rc=$?
case "$rc" in
    0) ;;
    5) echo "FAILED: pytest collected no tests (exit 5)" >&2 ;;
    124) echo "FAILED: pytest timed out" >&2 ;;
    *) echo "FAILED: pytest exited with $rc" >&2 ;;
esac
exit "$rc"
