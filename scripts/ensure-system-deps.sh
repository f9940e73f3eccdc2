#!/usr/bin/env bash
# Install the Debian packages tests and benchmarks need, only when something is missing.
# One list, one place: add a "command:package" pair below when a test needs a new program.
set -euo pipefail

NEEDED=(
  "docker-registry:docker-registry"   # real OCI registry for fetch/push tests
  "htpasswd:apache2-utils"            # bcrypt htpasswd files for registry auth
  "openssl:openssl"                   # test CA and certificates
  "wrk:wrk"                           # load generator for bench/ and the reload test
  "nginx:nginx-light"                 # reverse-proxy baseline in bench/
)

missing=()
for pair in "${NEEDED[@]}"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ] && ! [ -x "/usr/bin/$cmd" ]; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing system packages: ${missing[*]}"
"$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" "${missing[@]}"
# Debian starts nginx as a service on install; the benchmark runs its own instance.
if [[ " ${missing[*]} " == *" nginx "* ]]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO systemctl stop nginx >/dev/null 2>&1 || $SUDO service nginx stop >/dev/null 2>&1 || true
fi
