#!/usr/bin/env bash
# The test command: scripts/test.sh [pytest args...]
#
# Bootstraps .venv (and node_modules), lints with ruff and checks the layer rules with
# lint-imports, then runs pytest on 2 workers (each worker starts its own throw-away
# PostgreSQL through pytest-postgresql). Then, unless pytest args were given, it runs the
# suite (less the slow fault tests and the calendar-free modules of tests/conftest.py) twice more with the clock moved years ahead by Debian's
# faketime (installed when missing), so that no test can depend on what today is.
# Exits non-zero if any pass fails; "no tests collected" (5) counts as a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh
oneclaim_venv
oneclaim_npm

echo "==> ruff check ." >&2
.venv/bin/ruff check .
echo "==> lint-imports (the layer rules in pyproject.toml)" >&2
.venv/bin/lint-imports

FUTURE_CLOCKS=("2027-06-01" "2029-01-01")

# Debian packages the suite needs, installed with apt-get when missing: faketime (the clock
# passes), Go with golang.org/x/mod (tests/test_independent_verifier.py checks our bundles and
# proofs with sumdb/note and sumdb/tlog), and chromium for the explorer's browser tests.
ensure_debian_packages() {
    local missing=()
    command -v faketime >/dev/null 2>&1 || missing+=(faketime)
    command -v go >/dev/null 2>&1 || missing+=(golang-go)
    [ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] || missing+=(golang-golang-x-mod-dev)
    # the explorer's browser tests (tests/test_explorer_browser.py): Debian's chromium and its
    # driver, never a downloaded browser, and a CJK font for the pages' Chinese labels
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
    fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || missing+=(fonts-wqy-microhei)
    [ "${#missing[@]}" -eq 0 ] && return 0
    echo "==> apt-get install ${missing[*]}" >&2
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq >/dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# run_pytest LABEL SECONDS [command prefix...] -- [pytest args...]
run_pytest() {
    local label="$1" limit="$2" rc=0
    shift 2
    local prefix=()
    while [ "$1" != "--" ]; do
        prefix+=("$1")
        shift
    done
    shift
    local cmd=("${prefix[@]}" .venv/bin/pytest -n "${ONECLAIM_TEST_WORKERS:-2}" -q "$@")
    # Never let a hung run eat CI's budget; timeout also kills the xdist workers. Each test also
    # has its own limit (pytest-timeout, in pyproject.toml).
    cmd=(timeout --kill-after=30 "$limit" "${cmd[@]}")
    echo "==> [$label] ${cmd[*]}" >&2
    "${cmd[@]}" </dev/null || rc=$?
    case "$rc" in
        0) ;;
        5) echo "FAILED [$label]: pytest collected no tests (exit 5)" >&2 ;;
        124) echo "FAILED [$label]: pytest timed out after ${limit}s" >&2 ;;
        *) echo "FAILED [$label]: pytest exited with $rc" >&2 ;;
    esac
    return "$rc"
}

ensure_debian_packages
run_pytest "today's clock" "${ONECLAIM_TEST_TIMEOUT:-1500}" -- "$@"

if [ "$#" -eq 0 ]; then
    for clock in "${FUTURE_CLOCKS[@]}"; do
        # faketime -f "@T": the clock starts at T and runs on, for pytest and every process it starts
        run_pytest "clock at $clock" "${ONECLAIM_TEST_TIMEOUT:-1500}" faketime -f "@$clock 00:00:00" -- -m "not slow and not calendar_free"
    done
fi
