#!/usr/bin/env bash
# Build the test and demo plugins from source and record them in plugins/MANIFEST.json.
#
#   plugins/build.sh                 rebuild every plugin (every plugins/*/ with plugin.json and build.sh)
#   plugins/build.sh NAME...         rebuild only these
#   plugins/build.sh --verify [NAME...]
#                                    rebuild into a temporary directory and compare byte for byte with
#                                    the committed modules; also check MANIFEST.json still matches the
#                                    sources. Changes nothing; exits 1 on any difference.
#   plugins/build.sh --list          plugin names
#
# Each plugin's own build.sh does the work (and installs what it needs: npm ci, a rustup target,
# Debian packages for clang, or says what to install). It honours OUT=<path> for the main module;
# variants are written next to it. Build intermediates stay in gitignored places.
set -euo pipefail
plugins_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest_py="$plugins_dir/manifest.py"

command -v python3 >/dev/null || { echo "plugins/build.sh: python3 is needed (apt-get install python3)" >&2; exit 1; }

verify=0
names=()
for arg in "$@"; do
  case "$arg" in
    --verify) verify=1 ;;
    --list) python3 "$manifest_py" list; exit 0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "plugins/build.sh: unknown option $arg" >&2; exit 2 ;;
    *) names+=("${arg%/}") ;;
  esac
done
mapfile -t all < <(python3 "$manifest_py" list)
if [ ${#names[@]} -eq 0 ]; then names=("${all[@]}"); fi
# A here-string, not `printf | grep -q`: under pipefail, grep -q exiting at the first match can kill
# printf with SIGPIPE and fail the pipeline (it did, for the first name, on CI).
for n in "${names[@]}"; do
  grep -qx -- "$n" <<<"$(printf '%s\n' "${all[@]}")" || { echo "plugins/build.sh: no plugin named $n (plugins/$n needs plugin.json and build.sh)" >&2; exit 2; }
done

# One line naming the toolchain that builds a plugin of this language (recorded in MANIFEST.json).
toolchain_of() {
  local name="$1" lang
  lang="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("language",""))' "$plugins_dir/$name/plugin.json")"
  case "$lang" in
    rust) echo "$(rustc --version 2>/dev/null || echo 'rustc ?'); $(cargo --version 2>/dev/null || echo 'cargo ?')" ;;
    go) echo "$(go env GOVERSION 2>/dev/null || echo 'go ?')" ;;
    c) echo "$(clang --version 2>/dev/null | head -1 || echo 'clang ?')" ;;
    assemblyscript)
      local asc_pkg="$plugins_dir/$name/node_modules/assemblyscript/package.json"
      local asc="?"
      [ -f "$asc_pkg" ] && asc="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$asc_pkg")"
      echo "assemblyscript $asc; node $(node --version 2>/dev/null || echo '?')" ;;
    wat) echo "$(wat2wasm --version 2>/dev/null | sed 's/^/wabt /' || echo 'python wasmtime.wat2wasm')" ;;
    *) echo "$lang" ;;
  esac
}

now() { date +%s.%N; }
elapsed() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$1" "$2"; }

failed=()
if [ "$verify" -eq 1 ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  echo "verifying ${#names[@]} plugin(s) by rebuilding into $work"
  for n in "${names[@]}"; do
    t0="$(now)"
    if ! OUT="$work/$n/plugin.wasm" bash "$plugins_dir/$n/build.sh" >"$work/$n.log" 2>&1; then
      echo "$n: build failed:"; sed 's/^/    /' "$work/$n.log" | tail -20
      failed+=("$n"); continue
    fi
    t1="$(now)"
    python3 "$manifest_py" compare "$n" "$work/$n" || failed+=("$n")
    python3 "$manifest_py" check "$n" || failed+=("$n")
    echo "$n: rebuilt in $(elapsed "$t0" "$t1") s ($(toolchain_of "$n"))"
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "verify FAILED for: $(printf '%s\n' "${failed[@]}" | sort -u | tr '\n' ' ')"
    exit 1
  fi
  echo "verify OK: every rebuilt module is byte-identical to the committed one"
  exit 0
fi

updates=()
for n in "${names[@]}"; do
  echo "== $n"
  t0="$(now)"
  if ! bash "$plugins_dir/$n/build.sh"; then
    echo "$n: build FAILED" >&2
    failed+=("$n"); continue
  fi
  t1="$(now)"
  updates+=("$n=$(toolchain_of "$n")")
  while read -r file; do
    printf '   %-28s %9s bytes  %s s\n' "$file" "$(stat -c %s "$plugins_dir/$n/$file")" "$(elapsed "$t0" "$t1")"
  done < <(python3 "$manifest_py" outputs "$n")
done
if [ ${#updates[@]} -gt 0 ]; then
  python3 "$manifest_py" update "${updates[@]}"
  echo "wrote plugins/MANIFEST.json"
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "build FAILED for: ${failed[*]}" >&2
  exit 1
fi
