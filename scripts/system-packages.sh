#!/usr/bin/env bash
# Install the real services the tests run against, only when their binaries are missing:
# nginx (ext-auth in front of `frontdoor authz`, the rendered nginx.conf), redis-server (shared rate
# limits), chromium (the admin dashboard in a real browser), caddy (forward_auth in front of `frontdoor authz`,
# in the conformance matrix), node and npm (the real OpenID provider of the sign-in tests, npm's
# oidc-provider, installed by `make oidc-provider`), curl (HTTP/2 client tests), h2load (`make bench`'s
# HTTP/2 load and one bounded run in tests/test_h2.py, from nghttp2-client), prometheus and promtool (a real Prometheus scraping serve; the
# rendered alerts' unit tests; never the system service the package may start). Tests start their own instances on free
# loopback ports; nothing here is left running.
set -euo pipefail

declare -A package_of=(
  [nginx]=nginx-light
  [redis-server]=redis-server
  [chromium]=chromium
  [caddy]=caddy
  [node]=nodejs
  [npm]=npm
  [curl]=curl
  [h2load]=nghttp2-client
  [prometheus]=prometheus
  [promtool]=prometheus
)

missing=()
for binary in "${!package_of[@]}"; do
  if ! command -v "$binary" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$binary" ]; then
    missing+=("${package_of[$binary]}")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
# one package may bring several binaries (prometheus, promtool): ask for it once
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ]; then
  echo "system-packages: missing ${missing[*]} and installing needs root (apt-get)" >&2
  exit 1
fi
echo "system-packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
