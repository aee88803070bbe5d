#!/usr/bin/env bash
# What a no-op compiled plugin adds to the pipeline's CPU per record: LINES lines of
# ~1 KiB in a log file go from the file source to a local folder, once without
# processors and once through transforms/examples/c-noop (500 records per call),
# interleaved. The daemon's CPU time (user + system, from /proc) is read when
# /metrics counts every line delivered. Release build; medians of RUNS.
#
#   benches/transform-overhead.sh [LINES] [RUNS] [COMPRESSION]
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-500000}
runs=${2:-3}
compression=${3:-none}
bin=${SLUICE:-target/release/sluice}
[ -x "$bin" ] || cargo build --release -p sluice
venv=$(bash tests/setup/install.sh | tail -1)
plugins=$(bash tests/setup/build-plugins.sh "$(dirname "$venv")" | tail -1)
tick=$(getconf CLK_TCK)
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
pad=$(printf 'x%.0s' $(seq 1 940))
seq -f "%08g {\"level\":\"info\",\"msg\":\"request handled\",\"path\":\"/api/v1/items\",\"pad\":\"$pad\"}" 1 "$lines" > "$data/app.log"

run() { # $1 = processors line; prints "seconds cpu_seconds"
  local dir port pid start end n cpu
  dir=$(mktemp -d)
  mkdir -p "$dir/logs"
  cp "$data/app.log" "$dir/logs/app.log"
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
$1
destination = { type = "local", path = "$dir/out" }
TOML
  "$bin" run --config "$dir/sluice.toml" 2>"$dir/log" &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.02; done
  start=$(date +%s.%N)
  while :; do
    n=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '/^sluice_delivered_records_total/ {print $2}')
    [ "${n:-0}" = "$lines" ] && break
    sleep 0.05
  done
  end=$(date +%s.%N)
  cpu=$(awk -v t="$tick" '{print ($14 + $15) / t}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" || true
  rm -rf "$dir"
  echo "$(python3 -c "print(round($end - $start, 2))") $cpu"
}

plain=(); noop=()
for r in $(seq "$runs"); do
  a=$(run "")
  b=$(run "processors = [{ type = \"wasm\", module = \"$plugins/c-noop.wasm\", batch_records = 500, batch_mb = 1 }]")
  echo "run $r: no processor: ${a% *} s, ${a#* } CPU s;  c-noop: ${b% *} s, ${b#* } CPU s"
  plain+=("${a#* }"); noop+=("${b#* }")
done
python3 - "$lines" "${plain[*]}" "${noop[*]}" <<'PY'
import statistics, sys
lines = int(sys.argv[1])
plain = statistics.median(map(float, sys.argv[2].split()))
noop = statistics.median(map(float, sys.argv[3].split()))
print(f"median CPU per record: no processor {plain / lines * 1e6:.2f} µs, c-noop {noop / lines * 1e6:.2f} µs; "
      f"the plugin adds {100 * (noop - plain) / plain:.1f}%")
PY
