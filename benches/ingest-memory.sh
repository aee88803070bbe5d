#!/usr/bin/env bash
# Ingest memory benchmark (the ingest-bounds issue): a 16 MiB NDJSON request made of
# 2-byte lines (`a\n` x 8.4 M, the most records a body can hold), sent once and then
# 8 at a time to a release daemon with one local-folder stream and default
# settings. Prints the daemon's peak RSS (VmHWM) after each phase, its RSS once
# idle, the answers, and how many records landed. Runs `runs` times; the summary
# shows medians. Usage: benches/ingest-memory.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
bin="${CARGO_TARGET_DIR:-target}/release"
[ -x "$bin/sluice" ] || cargo build --release --bin sluice
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
pid=
python3 -c "import sys; sys.stdout.buffer.write(b'a\n' * (8 * 1024 * 1024 - 8))" >"$work/body"
lines=$((8 * 1024 * 1024 - 8))
hwm() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status"; }
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status"; }
for run in $(seq "$runs"); do
  dir="$work/run$run"; mkdir -p "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$dir/sluice.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
[spool]
dir = "$dir/spool"
[[delivery_streams]]
name = "bomb"
buffering = { interval_seconds = 1 }
destination = { type = "local", path = "$dir/out" }
EOF
  "$bin/sluice" run --config "$dir/sluice.toml" 2>"$dir/log" &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.1; done
  url="http://127.0.0.1:$port/delivery-streams/bomb/records"
  start=$(hwm)
  one=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$work/body" "$url")
  once=$(hwm)
  codes=$(for i in 1 2 3 4 5 6 7 8; do
    curl -s -o /dev/null -w '%{http_code}\n' --data-binary @"$work/body" "$url" &
  done; wait)
  eight=$(hwm)
  ok=$(( $(grep -c '^200$' <<<"$codes") + (one == 200 ? 1 : 0) ))
  # Wait until everything accepted has landed, then read the idle RSS.
  want=$((ok * lines))
  for _ in $(seq 600); do
    got=$(find "$dir/out" -type f -exec cat {} + 2>/dev/null | wc -l)
    [ "$got" -ge "$want" ] && break
    sleep 0.5
  done
  sleep 2
  idle=$(rss)
  echo "run $run: start ${start} MB, after one ${once} MB (answer $one), after 8 at once ${eight} MB" \
    "(answers $(sort <<<"$codes" | uniq -c | awk '{printf "%sx%s ", $1, $2}')), idle ${idle} MB," \
    "landed $got of $want records" | tee -a "$work/results"
  kill "$pid"; wait "$pid" || true; pid=
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
col() { sed -E "s/.*$1 ([0-9]+) MB.*/\\1/" "$work/results" | median; }
echo "median peak RSS: after one $(col 'after one') MB, after 8 at once $(col '8 at once') MB, idle $(col 'idle') MB"
