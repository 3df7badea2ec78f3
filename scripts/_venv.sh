# shellcheck shell=bash
# Sourced by scripts/*.sh (not run on its own). Makes sure ./.venv exists (Python 3.11)
# with the project installed in editable mode with its test extras. pip only runs when
# pyproject.toml changed since the last install (hash stamp kept inside .venv).

ONECLAIM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ONECLAIM_VENV="$ONECLAIM_ROOT/.venv"

_oneclaim_python() {
    local py
    for py in "${ONECLAIM_PYTHON:-}" python3.11 python3; do
        [ -n "$py" ] || continue
        if command -v "$py" >/dev/null 2>&1 &&
            "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    echo "error: Python 3.11 not found (set ONECLAIM_PYTHON)" >&2
    return 1
}

oneclaim_venv() {
    local py stamp want
    if ! "$ONECLAIM_VENV/bin/python" -c '' 2>/dev/null; then
        py="$(_oneclaim_python)"
        echo "==> creating .venv with $py" >&2
        "$py" -m venv --clear "$ONECLAIM_VENV"
    fi
    stamp="$ONECLAIM_VENV/.oneclaim-install-stamp"
    want="$(sha256sum <"$ONECLAIM_ROOT/pyproject.toml" | cut -d" " -f1) .[test]"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "==> pip install -e .[test]" >&2
        (cd "$ONECLAIM_ROOT" &&
            PIP_NO_INPUT=1 "$ONECLAIM_VENV/bin/python" -m pip install --quiet \
                --disable-pip-version-check -e ".[test]")
        echo "$want" >"$stamp"
    fi
}

# npm packages, once there is a package-lock.json (npm ci only when it changed).
oneclaim_npm() {
    local stamp want
    [ -f "$ONECLAIM_ROOT/package-lock.json" ] || return 0
    stamp="$ONECLAIM_ROOT/node_modules/.oneclaim-install-stamp"
    want="$(sha256sum <"$ONECLAIM_ROOT/package-lock.json" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "==> npm ci" >&2
        (cd "$ONECLAIM_ROOT" && npm ci --no-audit --no-fund --loglevel=error </dev/null)
        echo "$want" >"$stamp"
    fi
}
