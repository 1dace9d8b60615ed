#!/usr/bin/env bash
# Builds the browser SDK (web/sdk, TypeScript) into src/callboard/web/static/sdk/, which
# the server serves at /sdk/. Needs Node.js 20 or newer and npm. Runs `npm ci` only when
# the lockfile changed, and the build only when a source changed (a hash of them is kept
# next to the build), so a second run costs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

sdk=web/sdk
out=src/callboard/web/static/sdk
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "Node.js 20 or newer and npm are needed to build the browser SDK (web/sdk):" \
        "install them (e.g. apt-get install nodejs npm, or from nodejs.org) and run this again" >&2
    exit 1
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "Node.js $(node --version) is too old: the browser SDK needs Node.js 20 or newer" >&2
    exit 1
fi

lock_sum="$(sha256sum "$sdk/package-lock.json" | cut -d' ' -f1)"
stamp="$sdk/node_modules/.installed-lock"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
    echo "installing the SDK's build tools (npm ci in $sdk)"
    npm ci --prefix "$sdk" --no-audit --no-fund --loglevel=error
    echo "$lock_sum" >"$stamp"
fi

# Everything the build reads: the SDK and the apps built with it (web/apps).
source_sum="$(
    find "$sdk/src" "$sdk/build.mjs" "$sdk/package.json" "$sdk/package-lock.json" \
        "$sdk"/tsconfig*.json web/apps -type f ! -path '*/node_modules/*' 2>/dev/null \
        | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
)"
if [ ! -f "$out/.source-sum" ] || [ "$(cat "$out/.source-sum")" != "$source_sum" ]; then
    echo "building the browser SDK into $out"
    node "$sdk/build.mjs"
    echo "$source_sum" >"$out/.source-sum"
fi
