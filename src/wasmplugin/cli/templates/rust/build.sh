#!/usr/bin/env bash
# Builds plugin.wasm from src/ with cargo (Rust >= 1.68 with the wasm32-wasip1 target).
# The first build downloads the crates listed in Cargo.toml from crates.io.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
target=wasm32-wasip1
command -v cargo >/dev/null || { echo "build.sh: cargo not found; install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
if command -v rustup >/dev/null && ! grep -qx "$target" <<<"$(rustup target list --installed)"; then
  rustup target add "$target"
fi
cargo build --release --target "$target"
cp "target/$target/release/__CRATE__.wasm" plugin.wasm
echo "built $(pwd)/plugin.wasm"
