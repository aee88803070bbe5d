#!/usr/bin/env bash
# Builds the example plugins into components: transforms/build.sh OUT_DIR [extra.c|extra.js ...]
#
#   C           clang (wasm32-wasi, Debian's clang + lld + wasi-libc + libclang-rt-dev-wasm32),
#               wit-bindgen (bindings, crates.io) and wasm-tools (component new; crates.io or PyPI)
#   JavaScript  componentize-js 0.23.0 (npm); set COMPONENTIZE_JS to its cli.js;
#               built in a copy of the plugin's folder with sdk/js/sluice_transform.js
#               beside it (componentize-js reads no file above the source's folder)
#   Python      componentize-py (PyPI), on PATH, with sdk/python on the Python path
#   Rust        a rustc with the wasm32-unknown-unknown target (RUSTC_WASM, default
#               /usr/bin/rustc: Debian's rustc + libstd-rust-dev-wasm32), with
#               sdk/rust/sluice_transform.rs beside the plugin, then wasm-tools
#               (component embed, component new)
#
# Each examples/<name>/ becomes OUT_DIR/<name>.wasm; extra C, JavaScript, Python and Rust
# files become OUT_DIR/<file name>.wasm (JavaScript with componentize-js's defaults).
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

# JavaScript: the plugin's .js files and the SDK copied to a folder of their own.
build_js() {
  local name="$1" entry="$2"
  shift 2
  local dir="$work/js-$name"
  mkdir -p "$dir"
  cp "$@" "$here/sdk/js/sluice_transform.js" "$dir/"
  (cd "$dir" && node "${COMPONENTIZE_JS:?set COMPONENTIZE_JS to componentize-js/src/cli.js}" \
    "$entry" --wit "$wit" --world-name transformer ${JS_FLAGS[@]+"${JS_FLAGS[@]}"} \
    -o "$out/$name.wasm" >/dev/null)
}
# Rust: one file, the SDK module beside it, no crates: a core module that imports
# no WASI, embedded with the world and made a component.
build_rust() {
  local src="$1" name="$2"
  local dir="$work/rs-$name"
  mkdir -p "$dir"
  cp "$src" "$dir/plugin.rs"
  cp "$here/sdk/rust/sluice_transform.rs" "$dir/"
  "${RUSTC_WASM:-/usr/bin/rustc}" --edition 2021 --target wasm32-unknown-unknown --crate-type cdylib \
    -O -C strip=debuginfo -o "$dir/core.wasm" "$dir/plugin.rs"
  wasm-tools component embed "$wit" --world transformer "$dir/core.wasm" -o "$dir/embedded.wasm"
  wasm-tools component new "$dir/embedded.wasm" -o "$out/$name.wasm"
}
build_py() {
  local dir="$1" module="$2" name="$3"
  (cd "$dir" && componentize-py -d "$wit" -w transformer componentize \
    -p . -p "$here/sdk/python" "$module" -o "$out/$name.wasm" >/dev/null)
}

for dir in "$here"/examples/*/; do
  name="$(basename "$dir")"
  case "$name" in
    c-*) build_c "$(ls "$dir"*.c)" "$name" ;;
    js-*)
      # -d http fetch-event: no HTTP client, which the sandbox does not grant.
      JS_FLAGS=(-d http fetch-event)
      entry="$(cd "$dir" && ls *.js | head -n1)"
      build_js "$name" "$entry" "$dir"*.js
      ;;
    py-*) build_py "$dir" app "$name" ;;
    rust-*) build_rust "$dir/plugin.rs" "$name" ;;
    *) echo "don't know how to build $name" >&2; exit 1 ;;
  esac
  echo "built $out/$name.wasm" >&2
done
for src in "$@"; do
  case "$src" in
    *.c) name="$(basename "$src" .c)"; build_c "$src" "$name" ;;
    *.js)
      # componentize-js's defaults, with no -d: the component imports wasi:http.
      JS_FLAGS=()
      name="$(basename "$src" .js)"
      build_js "$name" "$(basename "$src")" "$src"
      ;;
    *.py) name="$(basename "$src" .py)"; build_py "$(dirname "$src")" "$name" "$name" ;;
    *.rs) name="$(basename "$src" .rs)"; build_rust "$src" "$name" ;;
    *) echo "don't know how to build $src" >&2; exit 1 ;;
  esac
  echo "built $out/$name.wasm" >&2
done
