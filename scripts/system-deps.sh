#!/usr/bin/env bash
# Installs the system libraries Qt needs on Debian/Ubuntu when they are missing and we are root.
# Usage: scripts/system-deps.sh [run|test] [extra-package ...]
#   run   what the window needs on a real X server: Qt's xcb platform plugin (make run)
#   test  the same, plus Xvfb (and xdotool for real pointer drags), so that tests run the real app under an X
#         server (make test)
# The xcb list is what `ldd` says PySide6's plugins/platforms/libqxcb.so and lib/libQt6XcbQpa.so.6 need on a bare
# Debian 12 (PySide6 6.x), mapped to packages with `dpkg -S`.  Qt's own error names only libxcb-cursor0 even when
# the missing ones are libxcb-icccm4 and libxcb-keysyms1, so every one is listed here.
set -euo pipefail
profile=run
case "${1:-}" in run|test) profile=$1; shift ;; esac
offscreen=(libglib2.0-0 libgl1 libegl1 libxkbcommon0 libfontconfig1 libfreetype6 libpng16-16 libdbus-1-3)
xcb=(libx11-6 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
     libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0
     libxcb-xkb1 libxkbcommon-x11-0)
packages=("${offscreen[@]}" "${xcb[@]}")
[ "$profile" = test ] && packages+=(xvfb xauth xdotool)
packages+=("$@")
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
echo "Installing system packages for Qt ($profile): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# On newer releases some libraries carry a t64 suffix; apt resolves the plain names through Provides.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
