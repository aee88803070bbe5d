#!/usr/bin/env bash
# Spool durability benchmark: PutRecordBatch of 500 x 1 KiB records with
# `durability = "fsync"` against `"buffered"`, on 1, 8 and 64 connections. Runs are
# interleaved (fsync, buffered, fsync, ...) so machine noise hits both alike; the
# table shows medians. Usage: benches/spool-durability.sh [runs] [seconds] [compression]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"; secs="${2:-10}"; compression="${3:-none}"
bin="${CARGO_TARGET_DIR:-target}/release"
[ -x "$bin/sluice-bench" ] || cargo build --release --workspace
out=$(mktemp -d)
for run in $(seq "$runs"); do
  for conns in 1 8 64; do
    for mode in fsync buffered; do
      "$bin/sluice-bench" --duration "$secs" --connections "$conns" --durability "$mode" \
        --compression "$compression" >"$out/$mode-$conns-$run.txt" 2>/dev/null
    done
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { # file pattern awk-field
  grep "$2" "$1" | awk "{print \$$3}"
}
printf '%-6s %-9s %14s %10s %10s %12s\n' conns mode "acked rec/s" "p50 ms" "p99 ms" "landed/s"
for conns in 1 8 64; do
  for mode in fsync buffered; do
    files=("$out/$mode-$conns-"*.txt)
    acked=$(for f in "${files[@]}"; do field "$f" 'records acked/s' 3; done | median)
    p50=$(for f in "${files[@]}"; do field "$f" 'ack latency' 5; done | median)
    p99=$(for f in "${files[@]}"; do field "$f" 'ack latency' 9; done | median)
    landed=$(for f in "${files[@]}"; do field "$f" 'records landed/s' 3; done | median)
    printf '%-6s %-9s %14.0f %10.1f %10.1f %12.0f\n' "$conns" "$mode" "$acked" "$p50" "$p99" "$landed"
  done
done
echo "raw outputs: $out" >&2
