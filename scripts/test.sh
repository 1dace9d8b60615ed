#!/usr/bin/env bash
# Installs what the tests need and runs all the checks: ruff, mypy, then the whole suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k seed -x
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
bash scripts/setup.sh test

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== browser SDK: tsc, node --test"
web/sdk/node_modules/.bin/tsc --noEmit -p web/sdk/tsconfig.json
web/sdk/node_modules/.bin/tsc --noEmit -p web/apps/tsconfig.json
npm test --prefix web/sdk --silent
echo "== pytest"
.venv/bin/pytest "$@"
