#!/usr/bin/env bash
# Creates .venv and installs Callboard into it (again only when pyproject.toml changed).
# Usage: scripts/setup.sh [extras], e.g. scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Callboard needs Python 3.11 or newer (found: $("$python" --version 2>&1))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
target="."
[ -n "$extras" ] && target=".[$extras]"
stamp=".venv/.installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
    touch "$stamp"
fi

# The browser SDK the server serves at /sdk/ (Node.js 20+ and npm; rebuilt only when
# web/sdk or web/apps changed).
bash scripts/build-sdk.sh
