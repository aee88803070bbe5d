#!/usr/bin/env bash
# What a no-op compiled plugin adds to the pipeline's CPU per record: LINES lines of
# ~1 KiB in a log file go from the file source to a local folder, once without
# processors and once through transforms/examples/c-noop (500 records per call),
# interleaved. The daemon's CPU time (user + system, from /proc) is read when
# /metrics counts every line delivered. Each run starts after `sync`, so the
# previous run's writeback does not land in its system time. Release build;
# medians of RUNS.
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

run() { # $1 = processors line; prints "seconds user_seconds system_seconds"
  local dir port pid start end n cpu
  dir=$(mktemp -d)
  mkdir -p "$dir/logs"
  cp "$data/app.log" "$dir/logs/app.log"
  sync
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
  cpu=$(awk -v t="$tick" '{print $14 / t, $15 / t}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" || true
  rm -rf "$dir"
  echo "$(python3 -c "print(round($end - $start, 2))") $cpu"
}

plain=(); noop=()
for r in $(seq "$runs"); do
  a=$(run "")
  b=$(run "processors = [{ type = \"wasm\", module = \"$plugins/c-noop.wasm\", batch_records = 500, batch_mb = 1 }]")
  read -r _ au as <<<"$a"; read -r _ bu bs <<<"$b"
  echo "run $r: no processor: ${a%% *} s, user $au s, system $as s;  c-noop: ${b%% *} s, user $bu s, system $bs s"
  plain+=("$au,$as"); noop+=("$bu,$bs")
done
python3 - "$lines" "${plain[*]}" "${noop[*]}" <<'PY'
import statistics, sys
lines = int(sys.argv[1])
def medians(runs):
    pairs = [tuple(map(float, r.split(","))) for r in runs.split()]
    user = statistics.median(u for u, _ in pairs)
    system = statistics.median(s for _, s in pairs)
    total = statistics.median(u + s for u, s in pairs)
    return user, system, total
pu, ps, pt = medians(sys.argv[2])
nu, ns, nt = medians(sys.argv[3])
us = lambda seconds: f"{seconds / lines * 1e6:.2f} µs"
print(f"median CPU per record: no processor {us(pt)} (user {us(pu)}, system {us(ps)}), "
      f"c-noop {us(nt)} (user {us(nu)}, system {us(ns)})")
print(f"the plugin adds {100 * (nt - pt) / pt:.1f}% (user time: +{us(nu - pu)} per record, "
      f"{100 * (nu - pu) / pt:.1f}% of the pipeline; system time: {100 * (ns - ps) / pt:+.1f}%)")
PY
