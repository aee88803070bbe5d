#!/usr/bin/env bash
# Many-streams benchmark (the ingest-bounds issue): a release daemon with N
# local-folder streams (5,000 by default: Firehose's quota per region). Prints the
# time from exec to `/ready`, RSS and open descriptors once ready, and the same
# after one NDJSON record was put to every stream and delivered.
# Usage: benches/many-streams.sh [streams] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
streams="${1:-5000}"; runs="${2:-3}"
bin="${CARGO_TARGET_DIR:-target}/release"
[ -x "$bin/sluice" ] || cargo build --release --bin sluice
work=$(mktemp -d)
pid=
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status"; }
fds() { find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }
for run in $(seq "$runs"); do
  dir="$work/run$run"; mkdir -p "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  {
    printf '[server]\nlisten = "127.0.0.1:%s"\n[spool]\ndir = "%s/spool"\n' "$port" "$dir"
    for i in $(seq "$streams"); do
      printf '[[delivery_streams]]\nname = "s%s"\nbuffering = { interval_seconds = 1 }\ndestination = { type = "local", path = "%s/out" }\n' "$i" "$dir"
    done
  } >"$dir/sluice.toml"
  started=$(date +%s.%N)
  "$bin/sluice" run --config "$dir/sluice.toml" 2>"$dir/log" &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/ready" >/dev/null; do sleep 0.05; done
  ready=$(python3 -c "print(f'{$(date +%s.%N) - $started:.2f}')")
  echo "run $run: $streams streams ready in ${ready} s, RSS $(rss) MB, $(fds) descriptors"
  puts=()
  for i in $(seq "$streams"); do
    printf '{"n":%s}\n' "$i" | curl -sf -o /dev/null --data-binary @- "http://127.0.0.1:$port/delivery-streams/s$i/records" &
    puts+=($!)
    if (( ${#puts[@]} == 64 )); then wait "${puts[@]}"; puts=(); fi
  done
  (( ${#puts[@]} )) && wait "${puts[@]}"
  for _ in $(seq 120); do
    [ "$(find "$dir/out" -type f 2>/dev/null | wc -l)" -ge "$streams" ] && break
    sleep 0.5
  done
  echo "run $run: after a record to every stream: $(find "$dir/out" -type f | wc -l) objects, RSS $(rss) MB, peak $(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status") MB, $(fds) descriptors"
  kill "$pid"; wait "$pid" || true; pid=
done
