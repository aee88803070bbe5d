#!/usr/bin/env bash
# The performance table of the README: sluice-bench in each ingest mode (PutRecordBatch,
# NDJSON, a file source catching up on a 1 GiB log) on both record shapes, into a local
# folder, or into SeaweedFS on this machine with DEST=s3. Each line: medians of RUNS
# of records landed/s, MB/s landed, its ratio to the zlib-6 yardstick measured in the
# same run, daemon cores, peak RSS and ack p99. gzip at the default level, 5 MiB
# buffers, fsync. Release build.
#
#   benches/performance.sh [RUNS] [SECONDS]          (DEST=s3 for SeaweedFS)
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
runs=${1:-3}
seconds=${2:-10}
target=${CARGO_TARGET_DIR:-target}
bench=$target/release/sluice-bench
[ -x "$bench" ] && [ -x "$target/release/sluice" ] || cargo build --release --workspace
extra=()
if [ "${DEST:-local}" = s3 ]; then
  venv=$(bash tests/setup/install.sh | tail -1)
  dir=$(mktemp -d)
  s3=$(free_port)
  (cd "$dir" && exec "$venv/bin/weed" server -dir="$dir" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$(free_port)" -volume.port="$(free_port)" -filer.port="$(free_port)" \
    -s3 -s3.port="$s3" -s3.port.iceberg=0 -s3.port.lance=0) > "$dir/weed.log" 2>&1 &
  weed=$!
  trap 'kill $weed 2>/dev/null; rm -rf "$dir"' EXIT
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
  for try in $(seq 60); do
    "$venv/bin/python" -c "
import boto3
boto3.client('s3', endpoint_url='http://127.0.0.1:$s3').create_bucket(Bucket='bench-bucket')" 2>/dev/null && break
    [ "$try" = 60 ] && { echo "SeaweedFS did not start: $(tail -3 "$dir/weed.log")" >&2; exit 1; }
    sleep 0.5
  done
  extra=(--s3-endpoint "http://127.0.0.1:$s3" --s3-bucket bench-bucket)
  empty_bucket() {
    "$venv/bin/python" -c "
import boto3
b = boto3.resource('s3', endpoint_url='http://127.0.0.1:$s3').Bucket('bench-bucket')
b.objects.all().delete()"
  }
else
  empty_bucket() { :; }
fi
echo "| mode | records | landed/s | MB/s landed | zlib-6 yardstick | ratio | daemon cores | peak RSS | ack p99 |"
echo "|---|---|---|---|---|---|---|---|---|"
for mode in firehose ndjson file; do
  for shape in words templated; do
    out=$(mktemp)
    for _ in $(seq "$runs"); do
      empty_bucket
      "$bench" --mode "$mode" --records "$shape" --duration "$seconds" --file-mb 1024 "${extra[@]}" 2>/dev/null >> "$out"
    done
    col() { grep "^$1" "$out" | sed -E "s|^$1 *||" | awk "{print \$$2}" | median; }
    echo "| $mode | $shape | $(col 'records landed/s' 1) | $(col 'MB/s landed' 1) | $(col 'zlib-6 yardstick' 1) MB/s | $(col 'MB/s landed' 3 | tr -d x)x | $(col 'daemon CPU' 4) | $(col 'daemon peak RSS' 1) MB | $( [ "$mode" = file ] && echo - || echo "$(col 'ack latency ms' 6) ms") |"
    rm -f "$out"
  done
done
