#!/usr/bin/env bash
# Unit and request-flow tests for this plugin, run natively (go test; the flow tests use the
# Go SDK's host emulator, proxywasm/proxytest). Also vets the wasip1/wasm build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly GOWORK=off CGO_ENABLED=0
unset GOOS GOARCH GOWASM
GOOS=wasip1 GOARCH=wasm go vet .
go vet .
go test -count=1 .
