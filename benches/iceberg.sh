#!/usr/bin/env bash
# Records/s into an Iceberg table against plain Parquet objects, on the same
# records in the same sitting: sluice-bench PutRecordBatch of templated ~1 KiB JSON
# log records for SECONDS, converted with the same ten columns, BUFFER_MB buffers
# (default 64), fsync, into a local folder: once as Parquet objects, once as an
# Iceberg table (SQLite catalog, local warehouse, one commit per buffer). Runs
# alternate; prints medians of RUNS of records landed/s, daemon cores and peak RSS,
# and the data files and commits of the last Iceberg run.
#
#   benches/iceberg.sh [RUNS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
runs=${1:-3}
seconds=${2:-20}
target=${CARGO_TARGET_DIR:-target}
bench=$target/release/sluice-bench
[ -x "$bench" ] && [ -x "$target/release/sluice" ] || cargo build --release --workspace
format='{ type = "parquet", columns = [
  { name = "ts", type = "timestamp" }, { name = "level", type = "string" },
  { name = "service", type = "string" }, { name = "host", type = "string" },
  { name = "trace_id", type = "string" }, { name = "user_id", type = "bigint" },
  { name = "status", type = "int" }, { name = "latency_ms", type = "int" },
  { name = "path", type = "string" }, { name = "msg", type = "string" } ] }'
declare -A outs
for kind in parquet iceberg; do outs[$kind]=$(mktemp); done
for _ in $(seq "$runs"); do
  for kind in parquet iceberg; do
    extra=()
    [ "$kind" = iceberg ] && extra=(--iceberg)
    "$bench" --sluice "$target/release/sluice" --mode firehose --records templated --connections 4 \
      --duration "$seconds" --compression none --size-mb "${BUFFER_MB:-64}" --interval-seconds 900 \
      --format "$format" "${extra[@]}" 2>/dev/null >> "${outs[$kind]}"
  done
done
echo "| destination | records landed/s | daemon cores | peak RSS |"
echo "|---|---|---|---|"
grep -E "^(records landed  |iceberg data files)" "${outs[iceberg]}" | tail -2
for kind in parquet iceberg; do
  out=${outs[$kind]}
  col() { grep "^$1" "$out" | sed -E "s|^$1 *||" | awk "{print \$$2}" | median; }
  echo "| $kind | $(col 'records landed/s' 1) | $(col 'daemon CPU' 4) | $(col 'daemon peak RSS' 1) MB |"
  rm -f "$out"
done
