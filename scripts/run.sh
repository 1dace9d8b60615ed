#!/usr/bin/env bash
# Sets Callboard up (first time only) and starts it. Flags go to `callboard serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/callboard serve "$@"
