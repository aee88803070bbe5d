#!/usr/bin/env bash
# Peak RSS of a Parquet stream at 128 MiB buffers: sluice-bench PutRecordBatch of
# templated ~1 KiB JSON log records for SECONDS, converted to Parquet (snappy,
# row groups of BLOCK_MB, default Firehose's 256 MiB: one a file), into a local folder (which
# gathers an object's pieces into one file) or, with DEST=s3, into SeaweedFS on this machine
# (which takes them as multipart parts), fsync, with IN_FLIGHT objects in flight at most
# (default 4, the daemon's default).
# Prints medians of RUNS of records landed/s, daemon cores and peak RSS. With
# BEFORE=/path/to/other/sluice, the runs alternate between that binary and this
# tree's, and both are printed.
#
#   [DEST=s3] [IN_FLIGHT=N] [BLOCK_MB=N] [BEFORE=...] benches/parquet-memory.sh [RUNS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
runs=${1:-3}
seconds=${2:-20}
target=${CARGO_TARGET_DIR:-target}
bench=$target/release/sluice-bench
[ -x "$bench" ] && [ -x "$target/release/sluice" ] || cargo build --release --workspace
format='{ type = "parquet", block_size_mb = '${BLOCK_MB:-256}', columns = [
  { name = "ts", type = "timestamp" }, { name = "level", type = "string" },
  { name = "service", type = "string" }, { name = "host", type = "string" },
  { name = "trace_id", type = "string" }, { name = "user_id", type = "bigint" },
  { name = "status", type = "int" }, { name = "latency_ms", type = "int" },
  { name = "path", type = "string" }, { name = "msg", type = "string" } ] }'
use_destination
binaries=("$target/release/sluice")
[ -n "${BEFORE:-}" ] && binaries=("$BEFORE" "${binaries[@]}")
declare -A outs
for b in "${binaries[@]}"; do outs[$b]=$(mktemp); done
for _ in $(seq "$runs"); do
  for b in "${binaries[@]}"; do
    empty_bucket
    "$bench" --sluice "$b" --mode firehose --records templated --connections 4 \
      --duration "$seconds" --compression none --size-mb 128 --interval-seconds 900 \
      --max-in-flight-objects "${IN_FLIGHT:-4}" --format "$format" ${DEST_ARGS[@]+"${DEST_ARGS[@]}"} \
      2>/dev/null >> "${outs[$b]}"
  done
done
echo "| binary | records landed/s | daemon cores | peak RSS |"
echo "|---|---|---|---|"
for b in "${binaries[@]}"; do
  out=${outs[$b]}
  col() { grep "^$1" "$out" | sed -E "s|^$1 *||" | awk "{print \$$2}" | median; }
  echo "| $b | $(col 'records landed/s' 1) | $(col 'daemon CPU' 4) | $(col 'daemon peak RSS' 1) MB |"
  rm -f "$out"
done
