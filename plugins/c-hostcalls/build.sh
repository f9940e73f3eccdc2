#!/usr/bin/env bash
# Build c-hostcalls (C, clang 14 for wasm32-wasi as a reactor) for ABI 0.2.1 into plugin.wasm, plus
# the variants next to it: plugin-abi-0.2.0.wasm, plugin-abi-0.1.0.wasm, plugin-no-abi.wasm (no ABI
# marker) and plugin-unknown-import.wasm (imports a host function nobody provides).
#   OUT=<path>  write plugin.wasm there (and the variants into the same directory)
# Needs Debian's clang lld wasi-libc libclang-rt-14-dev-wasm32 (installed here when missing and root).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${OUT:-$here/plugin.wasm}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
outdir="$(dirname "$out")"
packages=(clang lld wasi-libc libclang-rt-14-dev-wasm32)
expected_clang="clang version 14."

have_toolchain() {
  command -v clang >/dev/null && command -v wasm-ld >/dev/null && [ -f /usr/lib/wasm32-wasi/libc.a ] &&
    ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1
}
if ! have_toolchain; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "c-hostcalls: installing ${packages[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }
  else
    echo "c-hostcalls: missing toolchain; run: sudo apt-get install ${packages[*]}" >&2
    exit 1
  fi
fi
case "$(clang --version | head -1)" in
  *"$expected_clang"*) ;;
  *) echo "c-hostcalls: warning: $(clang --version | head -1) is not $expected_clang; modules will not match MANIFEST.json" >&2 ;;
esac

# Compile and link in two steps: when clang links with -O1 or more it runs wasm-opt if binaryen
# happens to be installed, which would make the output depend on the machine. Linking with -O0 never
# does; --strip-debug drops the DWARF that Debian's libc.a carries but keeps the "name" section, so
# traps show function names.
cflags=(--target=wasm32-wasi -O2 -std=c11 -Wall -Wextra -Werror "-ffile-prefix-map=$here=/plugin" -I "$here/include")
ldflags=(--target=wasm32-wasi -mexec-model=reactor -O0 -Wl,--strip-debug)
mkdir -p "$outdir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

build() { # build <output file> <defines...>
  local target="$1"; shift
  local objs=() src obj
  rm -f "$work"/*.o
  for src in "$here"/src/*.c; do
    obj="$work/$(basename "$src" .c).o"
    clang "${cflags[@]}" "$@" -c -o "$obj" "$src"
    objs+=("$obj")
  done
  clang "${ldflags[@]}" -o "$target.tmp" "${objs[@]}"
  mv "$target.tmp" "$target"
}
build "$out" -DPW_ABI=21
build "$outdir/plugin-abi-0.2.0.wasm" -DPW_ABI=20
build "$outdir/plugin-abi-0.1.0.wasm" -DPW_ABI=10
build "$outdir/plugin-no-abi.wasm" -DPW_ABI=21 -DPW_NO_ABI_MARKER
build "$outdir/plugin-unknown-import.wasm" -DPW_ABI=21 -DPW_UNKNOWN_IMPORT
