#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the window and its tests need when they are missing:
# a virtual X server (xvfb), Mesa OpenGL, and the xcb libraries Qt's X11 platform loads.
# EXTRA_PKGS adds more (make bench: libusb for Open3D).
set -euo pipefail
PKGS="xvfb xauth libgl1 libegl1 libglx-mesa0 libgl1-mesa-dri libxkbcommon-x11-0 libxcb-cursor0 \
libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 \
libxcb-xinerama0 libxcb-xfixes0 libfontconfig1 libdbus-1-3 ${EXTRA_PKGS:-}"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "system-deps: please install:$missing (no apt-get here)" >&2; exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
echo "system-deps: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
