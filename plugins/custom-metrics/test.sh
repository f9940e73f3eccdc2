#!/usr/bin/env bash
# Unit and request-flow tests for this plugin, run natively (go test; the flow tests use the
# Go SDK's host emulator, proxywasm/proxytest). Also vets the wasip1/wasm build (../go-common/test-go.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../go-common/test-go.sh" "$here"
