#!/usr/bin/env bash
# The system packages the test suite drives for real: PostgreSQL, SIPp and the baresip softphone.
# Installs only what is missing, so a second run costs nothing.
set -euo pipefail

need=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need+=(postgresql)
command -v sipp >/dev/null || need+=(sip-tester)
# baresip-core holds every module the tests load (ctrl_tcp, aubridge, ausine, g711);
# the `baresip` metapackage would pull GTK, GStreamer and X11 as recommends.
command -v baresip >/dev/null || need+=(baresip-core)
command -v openssl >/dev/null || need+=(openssl)
command -v runuser >/dev/null || need+=(util-linux)
# Debian's Chromium for the browser SDK's end-to-end tests (Playwright drives it; it never
# downloads a browser), run in a network namespace made with unshare/nsenter (util-linux).
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v nsenter >/dev/null || need+=(util-linux)

if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing system packages: ${need[*]} (run as root, or install them yourself)" >&2
        exit 1
    fi
    echo "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's postinst may start a cluster where an init system exists; the tests make their own.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

# JsSIP (the web phone's SIP stack) for tests/integration/test_jssip.py: Node.js 20 or newer
# (a global WebSocket), and the npm modules pinned in tests/support/jssip/package-lock.json.
# `npm ci` runs again only when node_modules is missing or the lockfile changed.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "missing Node.js and npm: the JsSIP tests need Node.js 20 or newer" >&2
    exit 1
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "Node.js $(node --version) is too old: the JsSIP tests need Node.js 20 or newer" >&2
    exit 1
fi
jssip="$(dirname "$0")/../tests/support/jssip"
lock_sum="$(sha256sum "$jssip/package-lock.json" | cut -d' ' -f1)"
stamp="$jssip/node_modules/.installed-lock"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
    echo "installing the JsSIP test harness's npm modules"
    npm ci --prefix "$jssip" --no-audit --no-fund --loglevel=error
    echo "$lock_sum" >"$stamp"
fi

# The browser SDK's npm modules (jssip, esbuild, typescript: `npm ci` in web/sdk) and
# its build, which the end-to-end tests load from the server.
bash "$(dirname "$0")/build-sdk.sh"

# The published webitel-sdk (one unmodified `Client`, run in Node by
# tests/support/webitel/client.mjs) for tests/integration/test_webitel_sdk.py: webitel-sdk
# and its peer dependency axios, pinned in tests/support/webitel/package-lock.json.
# `npm ci` runs again only when node_modules is missing or the lockfile changed.
webitel="$(dirname "$0")/../tests/support/webitel"
lock_sum="$(sha256sum "$webitel/package-lock.json" | cut -d' ' -f1)"
stamp="$webitel/node_modules/.installed-lock"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
    echo "installing the webitel-sdk test harness's npm modules"
    npm ci --prefix "$webitel" --no-audit --no-fund --loglevel=error
    echo "$lock_sum" >"$stamp"
fi
