#!/usr/bin/env bash
# Makes sure Debian's chromium is installed: the dashboard tests load every page in a real
# headless browser (IntegrationTests/Support/WebEndpoint.swift). Does nothing when it is
# there; $MUSTER_TEST_CHROMIUM may name another binary.
set -euo pipefail

browser=${MUSTER_TEST_CHROMIUM:-/usr/bin/chromium}
[ -x "$browser" ] && exit 0

echo "Installing chromium with apt (headless browser for the dashboard tests)..." >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install chromium" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
install() { $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
install || { $sudo apt-get update -qq && install; }
[ -x "$browser" ] || { echo "chromium still missing at $browser after apt-get install" >&2; exit 1; }
