#!/usr/bin/env bash
# Unit tests of the shared Go packages, run natively; also vets the wasip1/wasm build (test-go.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/test-go.sh" "$here"
