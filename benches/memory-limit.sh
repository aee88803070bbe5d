#!/usr/bin/env bash
# A daemon under a memory limit with a large backlog of many partitions (the
# wedges issue): the first daemon takes about BACKLOG_MB of numbered ~1 KiB NDJSON
# records spread over 500 interleaved tenants (metadata_extraction, a `tenant=`
# prefix, 64 MiB buffers, a 60 s interval, gzip, a local folder) and is killed
# with SIGKILL before any interval ends, so everything is in its spool and nothing
# sealed. A second daemon starts on that spool inside a memory cgroup limited to
# LIMIT_MB (cgroup v1 `memory.limit_in_bytes`, which counts the page cache too),
# rebuilds the 500 buffers from the spool and delivers everything; then every
# acknowledged record must have landed exactly once, and the cgroup must show no
# OOM kill. Prints the cgroup's peak usage, the daemon's peak RSS and the time
# to deliver the backlog.
#
#   benches/memory-limit.sh [BACKLOG_MB] [LIMIT_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
backlog_mb=${1:-2048}
limit_mb=${2:-512}
target=${CARGO_TARGET_DIR:-target}
sluice=${SLUICE:-$target/release/sluice}
bench=${BENCH:-$target/release/sluice-bench}
[ -x "$bench" ] && [ -x "$sluice" ] || cargo build --release --workspace
venv=$(bash tests/setup/install.sh | tail -1)
cgroup=/sys/fs/cgroup/memory/sluice-memory-limit-$$
mkdir "$cgroup" || { echo "cannot make a memory cgroup at $cgroup (cgroup v1 memory controller needed)" >&2; exit 1; }
echo $((limit_mb * 1024 * 1024)) > "$cgroup/memory.limit_in_bytes"
dir=$(mktemp -d)
port=$(free_port)
cleanup() {
  kill -9 "$pid" 2>/dev/null || true
  sleep 0.5
  rmdir "$cgroup" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
cat > "$dir/sluice.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
shutdown_timeout_seconds = 600

[spool]
dir = "$dir/spool"
max_size_mb = 16384

[[delivery_streams]]
name = "bench"
processors = [ { type = "metadata_extraction", query = '{tenant: .tenant}' } ]
buffering = { size_mb = 64, interval_seconds = 60 }
compression = "gzip"
destination = { type = "local", path = "$dir/out", prefix = "tenant=!{partitionKeyFromQuery:tenant}/", error_output_prefix = "errors/!{firehose:error-output-type}/" }
TOML
"$sluice" run --config "$dir/sluice.toml" >> "$dir/daemon-1.log" 2>&1 &
pid=$!
until curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1; do sleep 0.1; done
# About 100 MB/s here: load until the spool holds the backlog, within the interval.
"$bench" --target "http://127.0.0.1:$port" --stream bench --mode ndjson --connections 4 --batch 500 \
  --duration 50 --numbered-log "$dir/sent.log" --tenants 500 > "$dir/bench.out" 2>&1 &
bench_pid=$!
while kill -0 "$bench_pid" 2>/dev/null; do
  used=$(du -sm "$dir/spool/bench" | awk '{print $1}')
  [ "$used" -ge "$backlog_mb" ] && break
  sleep 0.5
done
kill -9 "$pid"; wait "$pid" || true
wait "$bench_pid" || true
acked=$(awk '$3 == "Acked" {n += $2} END {print n + 0}' "$dir/sent.log")
if [ -n "$(find "$dir/out" -type f 2>/dev/null | head -1)" ]; then
  echo "a buffer was delivered before the kill: make the load shorter" >&2
  exit 1
fi
echo "backlog: $acked records acknowledged, $(du -sm "$dir/spool/bench" | awk '{print $1}') MB in the spool, nothing sealed"
started=$SECONDS
( echo $BASHPID > "$cgroup/cgroup.procs"; exec "$sluice" run --config "$dir/sluice.toml" >> "$dir/daemon-2.log" 2>&1 ) &
pid=$!
wait_delivered "$port" "$acked"
took=$((SECONDS - started))
rss=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid" || true
echo "under a ${limit_mb} MB cgroup: all delivered $took s after the start; daemon peak RSS $rss MB;" \
  "cgroup peak $(( $(cat "$cgroup/memory.max_usage_in_bytes") / 1048576 )) MB, failcnt $(cat "$cgroup/memory.failcnt"), $(grep oom_kill "$cgroup/memory.oom_control" || echo 'oom_kill ?')"
"$venv/bin/python" benches/verify_numbered.py "$dir/sent.log" "$dir/out"
