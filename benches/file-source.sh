#!/usr/bin/env bash
# Lines/s from a log file to a local folder: LINES lines of about 200 bytes are in
# the file before the daemon starts (start_at = "beginning"), and the clock runs
# until /metrics counts them all delivered (the last buffer waits up to its 1 s
# interval, which is in the figure). Release build; medians of RUNS.
#
#   benches/file-source.sh [LINES] [RUNS] [COMPRESSION]
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-1000000}
runs=${2:-3}
compression=${3:-none}
bin=${SLUICE:-target/release/sluice}
[ -x "$bin" ] || cargo build --release -p sluice
results=()
for run in $(seq "$runs"); do
  dir=$(mktemp -d)
  mkdir -p "$dir/logs"
  seq -f '%08g {"level":"info","msg":"request handled","path":"/api/v1/items","status":200,"latency_ms":12,"user":"u-1234","pad":"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"}' 1 "$lines" > "$dir/logs/app.log"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$dir/sluice.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[spool]
dir = "$dir/spool"
[[delivery_streams]]
name = "bench"
source = { type = "file", paths = ["$dir/logs/*.log"], start_at = "beginning", poll_interval_ms = 50 }
buffering = { size_mb = 64, interval_seconds = 1 }
compression = "$compression"
destination = { type = "local", path = "$dir/out" }
TOML
  start=$(date +%s.%N)
  "$bin" run --config "$dir/sluice.toml" 2>"$dir/log" &
  pid=$!
  while :; do
    n=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '/^sluice_delivered_records_total/ {print $2}')
    [ "${n:-0}" = "$lines" ] && break
    sleep 0.05
  done
  end=$(date +%s.%N)
  kill "$pid"; wait "$pid" || true
  rate=$(python3 -c "print(round($lines / ($end - $start)))")
  mb=$(du -sm "$dir/logs/app.log" | cut -f1)
  echo "run $run: $lines lines ($mb MB) in $(python3 -c "print(round($end - $start, 2))") s: $rate lines/s"
  results+=("$rate")
  rm -rf "$dir"
done
printf '%s\n' "${results[@]}" | sort -n | awk '{a[NR]=$1} END {print "median:", a[int((NR+1)/2)], "lines/s"}'
