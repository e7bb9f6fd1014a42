#!/usr/bin/env bash
# What the compiled build (`pip install .`, buildsupport/frontdoor_backend.py) needs beyond Python: a C compiler and the
# interpreter's headers. Installed with apt-get only when missing.
set -euo pipefail
python=${1:-python3}
missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if ! "$python" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  missing+=("python$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')-dev")
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "build-prerequisites: missing ${missing[*]} and installing needs root (apt-get)" >&2
  exit 1
fi
echo "build-prerequisites: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
