#!/usr/bin/env bash
# Records/s from a 4-shard Kinesis stream (kinesis-local, as the tests use) to a
# local folder: RECORDS records of about 200 bytes are put first, then the daemon
# reads from TRIM_HORIZON and the clock runs until /metrics counts them all
# delivered (the last buffer waits up to its 1 s interval, which is in the figure).
# Needs the test tools (tests/setup/install.sh). Release build; medians of RUNS.
#
#   benches/kinesis-source.sh [RECORDS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-200000}
runs=${2:-3}
bin=${SLUICE:-target/release/sluice}
[ -x "$bin" ] || cargo build --release -p sluice
venv=$(bash tests/setup/install.sh | tail -1)
cache=$(dirname "$venv")
. benches/common.sh
results=()
for run in $(seq "$runs"); do
  dir=$(mktemp -d)
  start_kinesis_local "$dir" "$cache"
  endpoint=$KINESIS_ENDPOINT kpid=$KINESIS_PID
  "$venv/bin/python" tests/py/kinesis_client.py "$endpoint" create orders 4 > /dev/null
  "$venv/bin/python" - "$endpoint" "$records" <<'PY'
import sys, boto3
endpoint, n = sys.argv[1], int(sys.argv[2])
k = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
pad = "x" * 150
for at in range(0, n, 500):
    batch = [{"Data": f'{{"n":{i},"pad":"{pad}"}}\n'.encode(), "PartitionKey": str(i)} for i in range(at, min(n, at + 500))]
    while batch:
        answer = k.put_records(StreamName="orders", Records=batch)
        batch = [e for e, r in zip(batch, answer["Records"]) if "ErrorCode" in r]
PY
  port=$(free_port)
  cat > "$dir/sluice.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[spool]
dir = "$dir/spool"
[[delivery_streams]]
name = "bench"
source = { type = "kinesis", stream_name = "orders", endpoint = "$endpoint", starting_position = "TRIM_HORIZON", access_key_id = "x", secret_access_key = "y", idle_poll_ms = 200 }
buffering = { size_mb = 64, interval_seconds = 1 }
destination = { type = "local", path = "$dir/out" }
TOML
  start=$(date +%s.%N)
  "$bin" run --config "$dir/sluice.toml" 2>"$dir/log" &
  pid=$!
  wait_delivered "$port" "$records"
  end=$(date +%s.%N)
  kill "$pid"; wait "$pid" || true
  kill "$kpid"; wait "$kpid" 2>/dev/null || true
  rate=$(python3 -c "print(round($records / ($end - $start)))")
  echo "run $run: $records records from 4 shards in $(python3 -c "print(round($end - $start, 2))") s: $rate records/s"
  results+=("$rate")
  rm -rf "$dir"
done
echo "median: $(printf '%s\n' "${results[@]}" | median) records/s"
