#!/usr/bin/env bash
# Dynamic partitioning at Firehose's buffer sizes (the wedges issue): one stream
# with `metadata_extraction` on a `tenant` field and a `tenant=` prefix, 64 MiB
# buffers, a 300 s interval, gzip (or FORMAT=parquet), a local folder, fsync;
# sluice-bench posts numbered ~1 KiB NDJSON records over 4 connections as fast as
# the daemon takes them for SECONDS, spread over TENANTS interleaved tenants.
# FAULT: `none` waits for the 300 s intervals to deliver everything, then stops
# the daemon; `term` and `kill` send SIGTERM or SIGKILL half way through the load
# and start the daemon again at once; every run ends with SIGTERM (600 s to
# deliver). Then every acknowledged record must have landed exactly once
# (benches/verify_numbered.py). Prints records acknowledged, the daemons' peak
# RSS (VmHWM, sampled every 0.1 s), seal and ledger failures in the logs, and the
# verifier's line. MEMORY_MB sets server.delivery_memory_mb (default 128); KEEP=1 keeps
# the run's folder, with `samples`: RSS and gauges once a second.
#
#   [FORMAT=parquet] [MEMORY_MB=N] benches/partitions.sh TENANTS [SECONDS] [none|term|kill]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
tenants=${1:?TENANTS}
seconds=${2:-60}
fault=${3:-none}
target=${CARGO_TARGET_DIR:-target}
sluice=${SLUICE:-$target/release/sluice}
bench=${BENCH:-$target/release/sluice-bench}
[ -x "$bench" ] && [ -x "$sluice" ] || cargo build --release --workspace
venv=$(bash tests/setup/install.sh | tail -1)
dir=$(mktemp -d)
port=$(free_port)
format=""
if [ "${FORMAT:-}" = parquet ]; then
  format='format = { type = "parquet", columns = [ { name = "seq", type = "string" }, { name = "tenant", type = "string" },
  { name = "ts", type = "timestamp" }, { name = "level", type = "string" }, { name = "service", type = "string" },
  { name = "host", type = "string" }, { name = "trace_id", type = "string" }, { name = "user_id", type = "bigint" },
  { name = "status", type = "int" }, { name = "latency_ms", type = "int" }, { name = "path", type = "string" },
  { name = "msg", type = "string" } ] }'
fi
cat > "$dir/sluice.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
shutdown_timeout_seconds = 600
delivery_memory_mb = ${MEMORY_MB:-128}

[spool]
dir = "$dir/spool"
max_size_mb = 16384

[[delivery_streams]]
name = "bench"
processors = [ { type = "metadata_extraction", query = '{tenant: .tenant}' } ]
buffering = { size_mb = 64, interval_seconds = 300 }
compression = "gzip"
$format
destination = { type = "local", path = "$dir/out", prefix = "tenant=!{partitionKeyFromQuery:tenant}/", error_output_prefix = "errors/!{firehose:error-output-type}/" }
TOML
[ -n "$format" ] && sed -i 's/^compression = "gzip"$//' "$dir/sluice.toml"

peak_file=$dir/peak
daemon_peak() { awk '{printf "%d", $1 / 1024}' "$dir/peak.$pid" 2>/dev/null || echo "?"; }
echo 0 > "$peak_file"
start_daemon() {
  "$sluice" run --config "$dir/sluice.toml" >> "$dir/daemon.log" 2>&1 &
  pid=$!
  # The peak of every daemon of the run (VmHWM only grows within a process).
  ( while kill -0 "$pid" 2>/dev/null; do
      hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
      [ -n "$hwm" ] && echo "$hwm" > "$dir/peak.$pid"
      [ -n "$hwm" ] && [ "$hwm" -gt "$(cat "$peak_file")" ] && echo "$hwm" > "$peak_file"
      sleep 0.1
    done ) &
  # What holds memory, once a second: seconds into the run, RSS, and the
  # gauges of what is staged, loaded for delivery and spooled.
  ( while kill -0 "$pid" 2>/dev/null; do
      rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
      gauges=$({ curl -s --max-time 1 "http://127.0.0.1:$port/metrics" 2>/dev/null || true; } | awk '
        /^sluice_staged_bytes/ {s += $2} /^sluice_delivery_memory_bytes/ {d += $2}
        /^sluice_spool_bytes/ {p += $2} /^sluice_backlog_records/ {b += $2}
        END {printf "staged %d MB, delivery %d MB, spool %d MB, backlog %d", s / 1048576, d / 1048576, p / 1048576, b}')
      echo "$((SECONDS - run_started)) s pid $pid rss $(( ${rss:-0} / 1024 )) MB $gauges" >> "$dir/samples"
      sleep 1
    done ) &
  until curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1; do sleep 0.1; done
}
run_started=$SECONDS
stop_daemon() {
  local from=$SECONDS
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || true
  echo "SIGTERM: the daemon delivered what it held and exited in $((SECONDS - from)) s (its peak RSS $(daemon_peak) MB)" >> "$dir/stops"
}
# KEEP=1 keeps the run's folder (config, logs, spool, output) for a look.
cleanup() {
  kill -9 "$pid" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
start_daemon
started=$(date +%s)
"$bench" --target "http://127.0.0.1:$port" --stream bench --mode ndjson --connections 4 --batch 500 \
  --duration "$seconds" --numbered-log "$dir/sent.log" --tenants "$tenants" > "$dir/bench.out" 2>&1 &
bench_pid=$!
if [ "$fault" != none ]; then
  sleep $((seconds / 2))
  if [ "$fault" = kill ]; then
    echo "kill -9 after $((SECONDS - run_started)) s (that daemon's peak RSS $(daemon_peak) MB)" >> "$dir/stops"
    kill -9 "$pid"; wait "$pid" || true
  else stop_daemon; fi
  start_daemon
fi
wait "$bench_pid"
acked=$(awk '$3 == "Acked" {n += $2} END {print n + 0}' "$dir/sent.log")
if [ "$fault" = none ]; then
  wait_delivered "$port" "$acked"
  echo "all $acked records delivered $(( $(date +%s) - started )) s after the load started, by the intervals"
fi
stop_daemon
grep -E '^(records acked/s|requests acked)' "$dir/bench.out" || true
echo "tenants $tenants, $seconds s of load, fault $fault, format ${FORMAT:-gzip}: $acked records acknowledged"
echo "peak RSS $(( $(cat "$peak_file") / 1024 )) MB (delivery_memory_mb ${MEMORY_MB:-128})"
cat "$dir/stops"
echo "the last daemon's peak RSS $(daemon_peak) MB"
echo "seal or ledger failures in the log: $(grep -cE 'SealFailed|LedgerFailed' "$dir/daemon.log" || true)"
"$venv/bin/python" benches/verify_numbered.py "$dir/sent.log" "$dir/out"
