#!/usr/bin/env bash
# Create .venv with a Python 3.10 interpreter and install spikeforge into it.
# Lava 0.10 refuses Python 3.11 (dataclass error at import), so we look for 3.10
# explicitly: $PYTHON first, then PATH, then pyenv's usual location.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
    local candidates=()
    [ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
    candidates+=(python3.10 python3 python)
    for v in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10.*/bin/python3.10; do
        candidates+=("$v")
    done
    for c in "${candidates[@]}"; do
        if command -v "$c" >/dev/null 2>&1 \
           && "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

extras="${1:-}"
stamp=".venv/.spikeforge-installed${extras:+-$extras}"
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
    exit 0
fi
if [ ! -x .venv/bin/python ]; then
    py=$(find_python) || {
        echo "error: spikeforge needs Python 3.10 (Lava does not run on 3.11+)." >&2
        echo "       Set PYTHON=/path/to/python3.10, or install it (e.g. 'pyenv install 3.10')." >&2
        exit 1
    }
    echo "bootstrap: creating .venv with $py"
    "$py" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
target="."
[ -n "$extras" ] && target=".[$extras]"
echo "bootstrap: installing spikeforge${extras:+[$extras]} and its pinned dependencies (first time: a few minutes)"
.venv/bin/python -m pip install --quiet -e "$target"
touch "$stamp"
