#!/usr/bin/env bash
# Install Debian packages quietly, with sudo when not root. Shared by scripts/ensure-system-deps.sh
# and plugins/ensure-toolchains.sh, which decide *what* is missing; this only installs it.
set -euo pipefail
[ $# -gt 0 ] || exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
