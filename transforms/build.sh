#!/usr/bin/env bash
# Builds the example plugins into components: transforms/build.sh OUT_DIR [extra.c|extra.js ...]
#
#   C           clang (wasm32-wasi, Debian's clang + lld + wasi-libc + libclang-rt-dev-wasm32),
#               wit-bindgen (bindings) and wasm-tools (component new), from crates.io
#   JavaScript  componentize-js 0.23.0 (npm); set COMPONENTIZE_JS to its cli.js
#   Python      componentize-py (PyPI), on PATH
#
# Each examples/<name>/ becomes OUT_DIR/<name>.wasm; extra C and JavaScript files
# become OUT_DIR/<file name>.wasm (JavaScript with componentize-js's defaults).
# Fails on the first plugin that does not build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
shift
wit="$here/wit"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# C: bindings once, then one core module per plugin, wrapped as a component. The
# plugins use no WASI calls, so no preview1 adapter is needed.
wit-bindgen c "$wit" --world transformer --out-dir "$work/gen" >/dev/null
build_c() {
  local src="$1" name="$2"
  clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Werror \
    -I "$work/gen" -I "$here/sdk/c" -o "$work/$name.core.wasm" \
    "$src" "$work/gen/transformer.c" "$work/gen/transformer_component_type.o"
  wasm-tools component new "$work/$name.core.wasm" -o "$out/$name.wasm"
}

for dir in "$here"/examples/*/; do
  name="$(basename "$dir")"
  case "$name" in
    c-*) build_c "$(ls "$dir"*.c)" "$name" ;;
    js-*)
      # componentize-js wants the source by a relative path, from its folder.
      (cd "$dir" && node "${COMPONENTIZE_JS:?set COMPONENTIZE_JS to componentize-js/src/cli.js}" \
        "$(ls *.js)" --wit "$wit" --world-name transformer -d http fetch-event \
        -o "$out/$name.wasm" >/dev/null)
      ;;
    py-*)
      (cd "$dir" && componentize-py -d "$wit" -w transformer componentize app -o "$out/$name.wasm" >/dev/null)
      ;;
    *) echo "don't know how to build $name" >&2; exit 1 ;;
  esac
  echo "built $out/$name.wasm" >&2
done
for src in "$@"; do
  case "$src" in
    *.c) name="$(basename "$src" .c)"; build_c "$src" "$name" ;;
    *.js)
      # componentize-js's defaults, with no -d: the component imports wasi:http.
      name="$(basename "$src" .js)"
      (cd "$(dirname "$src")" && node "${COMPONENTIZE_JS:?set COMPONENTIZE_JS to componentize-js/src/cli.js}" \
        "$(basename "$src")" --wit "$wit" --world-name transformer -o "$out/$name.wasm" >/dev/null)
      ;;
    *) echo "don't know how to build $src" >&2; exit 1 ;;
  esac
  echo "built $out/$name.wasm" >&2
done
