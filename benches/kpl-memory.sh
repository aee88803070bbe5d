#!/usr/bin/env bash
# KPL de-aggregation memory (the ingest-bounds issue): Kinesis records that are
# each a KPL aggregate of about 1 MB of empty user records (the most user records
# a Kinesis record can hold, about 120,000), read from one shard whose GetRecords
# answers hold up to 10 of them. Prints the daemon's peak RSS (VmHWM) once every
# user record is delivered, and how long that took. Needs the test tools
# (tests/setup/install.sh). Release build; medians of RUNS.
#
#   benches/kpl-memory.sh [KINESIS_RECORDS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
kinesis_records=${1:-20}
runs=${2:-3}
bin=${SLUICE:-${CARGO_TARGET_DIR:-target}/release/sluice}
[ -x "$bin" ] || cargo build --release -p sluice
venv=$(bash tests/setup/install.sh | tail -1)
cache=$(dirname "$venv")
. benches/common.sh
peaks=()
for run in $(seq "$runs"); do
  dir=$(mktemp -d)
  start_kinesis_local "$dir" "$cache"
  endpoint=$KINESIS_ENDPOINT kpid=$KINESIS_PID
  "$venv/bin/python" tests/py/kinesis_client.py "$endpoint" create orders 1 > /dev/null
  users=$(PYTHONPATH=tests/py "$venv/bin/python" - "$endpoint" "$kinesis_records" <<'PY'
import hashlib, sys, boto3
from kinesis_client import KPL_MAGIC, field, varint
endpoint, n = sys.argv[1], int(sys.argv[2])
k = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
# One partition key, then empty user records (index 0, no data) up to about 1 MB.
user = field(3, 2, field(1, 0, varint(0)) + field(3, 2, b""))
per = (1_000_000 - 64) // len(user)
message = field(1, 2, b"k") + user * per
blob = KPL_MAGIC + message + hashlib.md5(message).digest()
for _ in range(n):
    k.put_record(StreamName="orders", Data=blob, PartitionKey="k")
print(per * n)
PY
)
  port=$(free_port)
  cat > "$dir/sluice.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[spool]
dir = "$dir/spool"
[[delivery_streams]]
name = "kpl"
source = { type = "kinesis", stream_name = "orders", endpoint = "$endpoint", starting_position = "TRIM_HORIZON", access_key_id = "x", secret_access_key = "y", idle_poll_ms = 200 }
buffering = { interval_seconds = 1 }
destination = { type = "local", path = "$dir/out" }
TOML
  read -r seconds peak < <(run_until_delivered "$bin" "$dir" "$port" "$users")
  kill "$kpid"; wait "$kpid" 2>/dev/null || true
  echo "run $run: $users empty user records in $kinesis_records KPL records delivered in $seconds s, peak RSS $peak MB"
  peaks+=("$peak")
  rm -rf "$dir"
done
echo "median peak RSS: $(printf '%s\n' "${peaks[@]}" | median) MB"
