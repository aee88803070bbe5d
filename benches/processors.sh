#!/usr/bin/env bash
# What metadata extraction costs: the load generator drives PutRecordBatch (500
# log-like records of ~1 KiB per request) at a stream with gzip, once without
# processors and once with a two-key jq query partitioning by service and level,
# interleaved. Prints each run's landed records/s and CPU, then the medians and
# their ratio. Release build.
#
#   benches/processors.sh [RUNS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
seconds=${2:-15}
target=${CARGO_TARGET_DIR:-target}
[ -x "$target/release/sluice-bench" ] || cargo build --release -p sluice -p sluice-bench
bench="$target/release/sluice-bench"
query='[{ type = "metadata_extraction", query = "{service: .service, level: .level}" }]'
prefix='service=!{partitionKeyFromQuery:service}/level=!{partitionKeyFromQuery:level}/'
declare -a plain jq
landed() { sed -n 's/^records landed\/s *\([0-9]*\).*/\1/p'; }
for i in $(seq 1 "$runs"); do
  out=$("$bench" --duration "$seconds" --connections 4)
  plain+=("$(landed <<<"$out")"); echo "run $i without: ${plain[-1]} landed/s; $(grep 'daemon CPU' <<<"$out")"
  out=$("$bench" --duration "$seconds" --connections 4 --processors "$query" --prefix "$prefix")
  jq+=("$(landed <<<"$out")"); echo "run $i with jq:   ${jq[-1]} landed/s; $(grep 'daemon CPU' <<<"$out")"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
p=$(median "${plain[@]}"); j=$(median "${jq[@]}")
echo "median landed/s: without $p, with metadata_extraction (2 keys) $j, ratio $(awk -v a="$j" -v b="$p" 'BEGIN {printf "%.2f", a/b}')"
