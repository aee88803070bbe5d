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
use_destination
echo "| mode | records | landed/s | MB/s landed | zlib-6 yardstick | ratio | daemon cores | peak RSS | ack p99 |"
echo "|---|---|---|---|---|---|---|---|---|"
for mode in firehose ndjson file; do
  for shape in words templated; do
    out=$(mktemp)
    for _ in $(seq "$runs"); do
      empty_bucket
      "$bench" --mode "$mode" --records "$shape" --duration "$seconds" --file-mb 1024 "${DEST_ARGS[@]}" 2>/dev/null >> "$out"
    done
    col() { grep "^$1" "$out" | sed -E "s|^$1 *||" | awk "{print \$$2}" | median; }
    echo "| $mode | $shape | $(col 'records landed/s' 1) | $(col 'MB/s landed' 1) | $(col 'zlib-6 yardstick' 1) MB/s | $(col 'MB/s landed' 3 | tr -d x)x | $(col 'daemon CPU' 4) | $(col 'daemon peak RSS' 1) MB | $( [ "$mode" = file ] && echo - || echo "$(col 'ack latency ms' 6) ms") |"
    rm -f "$out"
  done
done
