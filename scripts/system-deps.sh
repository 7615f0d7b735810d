#!/usr/bin/env bash
# Installs the system libraries Qt needs on Debian/Ubuntu when they are missing and we are root.
# Usage: scripts/system-deps.sh [extra-package ...]
set -euo pipefail
packages=(libglib2.0-0 libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 "$@")
command -v dpkg-query >/dev/null 2>&1 || exit 0          # not Debian/Ubuntu: see README for pip install .
missing=()
for p in "${packages[@]}"; do
  # a t64-renamed package (e.g. libglib2.0-0t64) also satisfies the plain name
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
     && ! dpkg-query -W -f='${Status}' "${p}t64" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Qt needs these system packages: ${missing[*]} — install them with: sudo apt-get install ${missing[*]}" >&2
  exit 0
fi
echo "Installing system packages for Qt: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# On newer releases some libraries carry a t64 suffix; apt resolves the plain names through Provides.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
