#!/usr/bin/env bash
# What the built-in processors cost, each against the same load without them,
# interleaved runs, gzip, 4 connections of PutRecordBatch (release build):
#
# - jq: 500 log-like records of ~1 KiB a request, once without processors and
#   once with a two-key `metadata_extraction` partitioning by service and level;
# - deaggregation: records that each aggregate 10 such lines (50 a request),
#   once delivered whole and once with `deaggregation` (JSON sub-records) and
#   `append_delimiter` making a record of each line. Both land the same lines.
#
# Prints each run's landed records (lines) a second and CPU, the medians and
# their ratio.
#
#   benches/processors.sh [RUNS] [SECONDS] [jq|deaggregation|both]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
runs=${1:-3}
seconds=${2:-15}
which=${3:-both}
target=${CARGO_TARGET_DIR:-target}
[ -x "$target/release/sluice-bench" ] || cargo build --release -p sluice -p sluice-bench
bench="$target/release/sluice-bench"
landed() { sed -n 's/^records landed\/s *\([0-9]*\).*/\1/p'; }

# compare NAME "ARGS WITHOUT" "ARGS WITH" (each an array name)
compare() {
  local name=$1
  local -a without=() with=()
  local -n a=$2 b=$3
  for i in $(seq 1 "$runs"); do
    out=$("$bench" --duration "$seconds" --connections 4 "${a[@]}")
    without+=("$(landed <<<"$out")"); echo "$name run $i without: ${without[-1]} landed/s; $(grep 'daemon CPU' <<<"$out")"
    out=$("$bench" --duration "$seconds" --connections 4 "${b[@]}")
    with+=("$(landed <<<"$out")"); echo "$name run $i with:    ${with[-1]} landed/s; $(grep 'daemon CPU' <<<"$out")"
  done
  local p j
  p=$(printf '%s\n' "${without[@]}" | median); j=$(printf '%s\n' "${with[@]}" | median)
  echo "$name: median landed/s without $p, with $j, ratio $(awk -v a="$j" -v b="$p" 'BEGIN {printf "%.2f", a/b}')"
}

if [ "$which" != deaggregation ]; then
  plain=()
  query=(--processors '[{ type = "metadata_extraction", query = "{service: .service, level: .level}" }]'
         --prefix 'service=!{partitionKeyFromQuery:service}/level=!{partitionKeyFromQuery:level}/')
  compare "metadata_extraction (2 keys)" plain query
fi
if [ "$which" != jq ]; then
  whole=(--batch 50 --sub-records 10)
  split=(--batch 50 --sub-records 10
         --processors '[{ type = "deaggregation", sub_record_type = "json" }, { type = "append_delimiter" }]')
  compare "deaggregation (10 x 1 KiB JSON)" whole split
fi
