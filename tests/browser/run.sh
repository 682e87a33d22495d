#!/usr/bin/env bash
# Installs what the dashboard's browser tests need (Debian's chromium, playwright-core from
# package-lock.json) and runs them: unit tests, asset checks, and the pages in headless
# Chromium against the mock server. Prints node's test summary ("# pass N", "# fail N").
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM_PATH:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "missing: chromium (sudo apt-get install chromium); the browser tests will be skipped" >&2
  fi
fi
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --silent
exec node --test --test-reporter=spec .
