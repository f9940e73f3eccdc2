#!/usr/bin/env bash
# Builds plugin.wasm with AssemblyScript 0.14.9 and @solo-io/proxy-runtime 0.1.8 (Node.js + npm).
# The first build installs both from the npm registry into node_modules/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v npm >/dev/null || { echo "build.sh: npm not found; install Node.js 16 or newer" >&2; exit 1; }
if [ ! -x node_modules/assemblyscript/bin/asc ]; then
  npm install --no-audit --no-fund --loglevel=error
fi
# --use abort=abort_proc_exit sends AssemblyScript aborts to the SDK's handler (required).
node node_modules/assemblyscript/bin/asc assembly/index.ts --binaryFile plugin.wasm \
  --use abort=abort_proc_exit --optimize
echo "built $(pwd)/plugin.wasm"
