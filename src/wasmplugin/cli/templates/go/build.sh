#!/usr/bin/env bash
# Builds plugin.wasm with Go >= 1.24 (GOOS=wasip1, -buildmode=c-shared).
# The first build downloads the proxy-wasm Go SDK through the Go module proxy.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v go >/dev/null || { echo "build.sh: go not found; install Go 1.24 or newer (https://go.dev/dl)" >&2; exit 1; }
GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -o plugin.wasm .
echo "built $(pwd)/plugin.wasm"
