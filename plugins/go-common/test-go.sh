#!/usr/bin/env bash
# The one recipe that tests Go plugin code natively; go-common/test.sh and each Go demo plugin's
# test.sh call it:
#   go-common/test-go.sh DIR
# Runs `go test` on every package under DIR (the plugins' request-flow tests use the Go SDK's host
# emulator, proxywasm/proxytest), and `go vet` both natively and for the wasip1/wasm build.
set -euo pipefail
[ $# -eq 1 ] && [ -d "$1" ] || { echo "usage: test-go.sh DIR" >&2; exit 2; }
cd "$1"
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly GOWORK=off CGO_ENABLED=0
unset GOOS GOARCH GOWASM
GOOS=wasip1 GOARCH=wasm go vet ./...
go vet ./...
go test -count=1 ./...
