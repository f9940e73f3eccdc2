#!/usr/bin/env bash
# Build go-features (Go >= 1.24, proxy-wasm-go-sdk at the pseudo-version in go.mod) into plugin.wasm.
#   OUT=<path>  write the module there instead of ./plugin.wasm (plugins/build.sh --verify uses it)
# Reproducible: -trimpath, no VCS stamping, empty build id, GOTOOLCHAIN=local, go.sum checked,
# GOWASM cleared. The "name" section is kept so traps show Go function names.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${OUT:-$here/plugin.wasm}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
expected_go="go1.26"

command -v go >/dev/null || { echo "go-features: go not found; install Go $expected_go (https://go.dev/dl)" >&2; exit 1; }
export GOTOOLCHAIN=local GOOS=wasip1 GOARCH=wasm GOWASM= CGO_ENABLED=0 GOFLAGS=-mod=readonly GOWORK=off
actual="$(go env GOVERSION)"
case "$actual" in
  "$expected_go"|"$expected_go".*) ;;
  *) echo "go-features: warning: $actual differs from $expected_go; the module will not match MANIFEST.json" >&2 ;;
esac

cd "$here"
mkdir -p "$(dirname "$out")"
go build -buildmode=c-shared -trimpath -buildvcs=false -ldflags="-buildid=" -o "$out.tmp" .
mv "$out.tmp" "$out"
