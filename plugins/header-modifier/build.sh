#!/usr/bin/env bash
# Build header-modifier (Rust, proxy-wasm crate) into plugin.wasm, reproducibly.
#   OUT=<path>  write the module there instead of ./plugin.wasm (plugins/build.sh --verify uses it)
# Needs: rustup stable 1.95.0 with the wasm32-wasip1 target, and crates.io for the first build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${OUT:-$here/plugin.wasm}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
target=wasm32-wasip1
expected_rustc="rustc 1.95.0"

command -v cargo >/dev/null || { echo "header-modifier: cargo not found; install rustup stable ($expected_rustc)" >&2; exit 1; }
actual="$(rustc --version)"
case "$actual" in
  "$expected_rustc"*) ;;
  *) echo "header-modifier: warning: $actual differs from $expected_rustc; the module will not match MANIFEST.json" >&2 ;;
esac
if command -v rustup >/dev/null && ! grep -qx "$target" <<<"$(rustup target list --installed)"; then
  echo "header-modifier: adding rust target $target" >&2
  rustup target add "$target"
fi

# Everything cargo writes stays in gitignored directories next to the sources. Paths are remapped so
# the module does not depend on where the repository or the cargo home lives.
export CARGO_HOME="$here/.cargo-home"
export CARGO_TARGET_DIR="$here/target"
export CARGO_INCREMENTAL=0
# rustc applies the last matching prefix, and CARGO_HOME lies inside $here: keep this order.
export RUSTFLAGS="--remap-path-prefix=$here=/plugin --remap-path-prefix=$CARGO_HOME=/cargo"
unset CARGO_BUILD_RUSTFLAGS CARGO_ENCODED_RUSTFLAGS

cd "$here"
cargo build --quiet --release --locked --target "$target"
mkdir -p "$(dirname "$out")"
cp "$CARGO_TARGET_DIR/$target/release/header_modifier.wasm" "$out.tmp"
mv "$out.tmp" "$out"
