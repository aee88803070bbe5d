#!/usr/bin/env bash
# Builds the example plugins (transforms/examples) and the test plugins
# (tests/plugins) with the toolchains install.sh put in CACHE, once per version of
# their sources. Prints the folder holding the .wasm files on its last line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${1:?usage: build-plugins.sh CACHE}"
hash="$(cd "$root" && find transforms tests/plugins -type f ! -name '*.wasm' -print0 | sort -z \
  | xargs -0 sha256sum | sha256sum | cut -c1-16)"
out="$cache/plugins/$hash"
exec 9>"$cache/plugins.lock"
flock 9
if [ ! -f "$out/.built" ]; then
  rm -rf "$out"
  export PATH="$cache/cargo/bin:$cache/venv/bin:$PATH"
  export COMPONENTIZE_JS="$cache/componentize-js/node_modules/@bytecodealliance/componentize-js/src/cli.js"
  "$root/transforms/build.sh" "$out" "$root"/tests/plugins/*.c "$root"/tests/plugins/*.js "$root"/tests/plugins/*.py "$root"/tests/plugins/*.rs >&2
  touch "$out/.built"
fi
echo "$out"
