#!/usr/bin/env bash
# Build as-headers (AssemblyScript 0.14.9 + @solo-io/proxy-runtime 0.1.8, pinned in package-lock.json).
#   OUT=<path>  write the module there instead of ./plugin.wasm (plugins/build.sh --verify uses it)
# Needs Node >= 16 with npm; the first build runs `npm ci` (npm registry).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${OUT:-$here/plugin.wasm}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

command -v npm >/dev/null || { echo "as-headers: npm not found; install Node.js 20 and npm (apt-get install nodejs npm)" >&2; exit 1; }
cd "$here"
# Reinstall whenever package-lock.json changed since the last install.
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp=node_modules/.wasmplugin-lock-sha256
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_sum" > "$stamp"
fi

mkdir -p "$(dirname "$out")"
# --use abort=abort_proc_exit routes AssemblyScript aborts to the runtime's proc_exit handler.
node node_modules/assemblyscript/bin/asc assembly/index.ts --binaryFile "$out.tmp" \
  --use abort=abort_proc_exit --optimize 2> >(grep -v -e 'AS201' -e 'utoa32' -e '~~~~' -e 'lib/number.ts' -e '^\s*$' >&2 || true)
mv "$out.tmp" "$out"
