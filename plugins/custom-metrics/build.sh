#!/usr/bin/env bash
# Build custom-metrics into plugin.wasm with the recipe every Go plugin shares (../go-common/build-go.sh:
# Go 1.26, reproducible flags, the SDK pinned in go.mod/go.sum).
#   OUT=<path>  write the module there instead of ./plugin.wasm (plugins/build.sh --verify uses it)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../go-common/build-go.sh" "$here"
