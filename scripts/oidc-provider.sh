#!/usr/bin/env bash
# Start the test OpenID provider (tests/oidc/provider.mjs, npm oidc-provider) in the foreground.
# Usage: scripts/oidc-provider.sh '{"port": 9500, "clients": [...]}'
# Its npm packages are installed by `make oidc-provider` (part of `make test`) from the pinned lock file;
# this script installs them too when they are missing, so a test run alone works on a fresh checkout.
set -euo pipefail
here="$(cd "$(dirname "$0")/../tests/oidc" && pwd)"
if [ ! -d "$here/node_modules/oidc-provider" ]; then
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error >&2
fi
exec node "$here/provider.mjs" "$1"
