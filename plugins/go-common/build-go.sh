#!/usr/bin/env bash
# The one recipe that builds a Go proxy-wasm plugin into a module; each Go plugin's build.sh calls it:
#   go-common/build-go.sh PLUGIN_DIR
#   OUT=<path>  write the module there instead of PLUGIN_DIR/plugin.wasm (plugins/build.sh --verify
#               uses it; a relative path is taken from the current directory)
# Needs Go 1.26 (GOTOOLCHAIN=local: another version builds, but not the bytes MANIFEST.json records)
# and the proxy-wasm-go-sdk pseudo-version pinned in the plugin's go.mod/go.sum.
# Reproducible: -trimpath, no VCS stamping, empty build id, go.sum checked (-mod=readonly), GOWASM
# cleared. The wasm "name" section is kept so traps show Go function names.
# Every plugin that calls this lists ../go-common/build-go.sh in its plugin.json sources, so a change
# here shows up in plugins/MANIFEST.json as a change of each of them.
set -euo pipefail
[ $# -eq 1 ] && [ -d "$1" ] || { echo "usage: build-go.sh PLUGIN_DIR" >&2; exit 2; }
here="$(cd "$1" && pwd)"
out="${OUT:-$here/plugin.wasm}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
name="$(basename "$here")"
expected_go="go1.26"

command -v go >/dev/null || { echo "$name: go not found; install Go $expected_go (https://go.dev/dl)" >&2; exit 1; }
export GOTOOLCHAIN=local GOOS=wasip1 GOARCH=wasm GOWASM= CGO_ENABLED=0 GOFLAGS=-mod=readonly GOWORK=off
actual="$(go env GOVERSION)"
case "$actual" in
  "$expected_go"|"$expected_go".*) ;;
  *) echo "$name: warning: $actual differs from $expected_go; the module will not match MANIFEST.json" >&2 ;;
esac

cd "$here"
mkdir -p "$(dirname "$out")"
go build -buildmode=c-shared -trimpath -buildvcs=false -ldflags="-buildid=" -o "$out.tmp" .
mv "$out.tmp" "$out"
