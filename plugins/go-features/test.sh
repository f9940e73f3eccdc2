#!/usr/bin/env bash
# Vets this plugin natively and for the wasip1/wasm build, and runs `go test` (../go-common/test-go.sh).
# Its behaviour is tested end to end by wasmplugin's own tests (tests/ load plugin.wasm).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../go-common/test-go.sh" "$here"
