#!/usr/bin/env bash
# Install what building and testing the plugins needs, only when it is missing (run by `make test`
# before pytest, so tests/plugins/test_build_*.py never install anything in parallel):
#   - Debian packages: clang lld wasi-libc libclang-rt-14-dev-wasm32 (c-hostcalls), nodejs npm (as-headers)
#   - the rustup target wasm32-wasip1 (header-modifier)
#   - as-headers' node_modules (`npm ci` from package-lock.json)
# Go 1.26 and rustup (Rust 1.95.0) have no Debian package of the right version: when they are missing
# this says how to install them and exits 1; the tests then fail naming the missing toolchain.
# Looks in /usr/local/go/bin and ~/.cargo/bin as well as PATH (where the official installers put them).
set -euo pipefail
plugins_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PATH="$PATH:/usr/local/go/bin:${CARGO_HOME:-$HOME/.cargo}/bin"

have_c_toolchain() {
  command -v clang >/dev/null && command -v wasm-ld >/dev/null && [ -f /usr/lib/wasm32-wasi/libc.a ] &&
    ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1
}

apt_packages=()
have_c_toolchain || apt_packages+=(clang lld wasi-libc libclang-rt-14-dev-wasm32)
command -v npm >/dev/null || apt_packages+=(nodejs npm)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "plugins: installing ${apt_packages[*]}"
  "$plugins_dir/../scripts/apt-install.sh" "${apt_packages[@]}"
fi

missing=()
if command -v rustup >/dev/null; then
  if ! grep -qx wasm32-wasip1 <<<"$(rustup target list --installed)"; then
    echo "plugins: adding rust target wasm32-wasip1"
    rustup target add wasm32-wasip1
  fi
elif ! command -v cargo >/dev/null; then
  missing+=("Rust: install rustup (https://rustup.rs), then: rustup toolchain install 1.95.0 && rustup target add wasm32-wasip1")
fi
command -v go >/dev/null ||
  missing+=("Go 1.26: unpack https://go.dev/dl/go1.26.<n>.linux-amd64.tar.gz into /usr/local (gives /usr/local/go/bin/go)")

# as-headers/build.sh runs the same `npm ci` when package-lock.json changed; doing it here keeps the
# network step out of the test run.
as_dir="$plugins_dir/as-headers"
if [ -f "$as_dir/package-lock.json" ] && command -v npm >/dev/null; then
  lock_sum="$(sha256sum "$as_dir/package-lock.json" | cut -d' ' -f1)"
  stamp="$as_dir/node_modules/.wasmplugin-lock-sha256"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
    echo "plugins: npm ci in plugins/as-headers"
    (cd "$as_dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" > "$stamp"
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "plugins: cannot install these toolchains automatically (no Debian package of the pinned version):" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  echo "plugins: tests/plugins/test_build_verify.py will fail until they are installed" >&2
  exit 1
fi
