#!/usr/bin/env bash
# Debian/Ubuntu packages the project needs beyond Python: the build tools and libraries for KenLM's
# lmplz/build_binary (scripts/build_kenlm_tools.sh) and, with --browser, Chromium for the report's
# browser test and a CJK font (WenQuanYi Micro Hei, 1.6 MB) that the report's plots and page fall back
# to for Chinese/Japanese text. Installs only what is missing; uses sudo when not root.
#
#   scripts/install_system_deps.sh [--browser]
set -euo pipefail

packages=(cmake g++ make libboost-program-options-dev libboost-system-dev libboost-thread-dev
          libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev)
[ "${1:-}" = "--browser" ] && packages+=(chromium fonts-wqy-microhei)

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo "install_system_deps: not a Debian/Ubuntu system; install the equivalents of: ${packages[*]}" >&2
  exit 0
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
