#!/usr/bin/env bash
# What an Iceberg table holds after SECONDS (default an hour) at RATE records/s
# (default 1,000) with 60 s buffers: two streams fed the same ~1 KiB JSON records
# through boto3, one table without maintenance and one with
# `expire_snapshots = { max_age_seconds = MAX_AGE (600), retain_last = 5 }`; then
# the snapshots, live data files, data files and metadata files on disk of each.
# SQLite catalog, local warehouse, release daemon.
#
#   benches/iceberg-hour.sh [SECONDS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
seconds=${1:-3600}
rate=${2:-1000}
target=${CARGO_TARGET_DIR:-target}
[ -x "$target/release/sluice" ] || cargo build --release --bin sluice
venv=$(bash tests/setup/install.sh | tail -1)
dir=$(mktemp -d)
port=$(free_port)
columns='[ { name = "ts", type = "timestamp" }, { name = "id", type = "bigint" }, { name = "msg", type = "string" } ]'
stream() {
  cat <<TOML
[[delivery_streams]]
name = "$1"
buffering = { size_mb = 64, interval_seconds = 60 }
destination = { type = "iceberg", catalog = { type = "sql", uri = "sqlite://$dir/catalog.db", name = "lake" },
  warehouse = "file://$dir/warehouse", namespace = "bench", table = "$1",
  create_table = { columns = $columns }, error_output_prefix = "errors/"$2 }
TOML
}
{
  printf '[server]\nlisten = "127.0.0.1:%s"\n[spool]\ndir = "%s/spool"\n' "$port" "$dir"
  stream plain ""
  stream maintained ", expire_snapshots = { max_age_seconds = ${MAX_AGE:-600}, retain_last = 5 }"
} > "$dir/sluice.toml"
"$target/release/sluice" run --config "$dir/sluice.toml" > "$dir/sluice.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
until (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.2; done
"$venv/bin/python" benches/iceberg_hour.py "http://127.0.0.1:$port" "$seconds" "$rate" plain maintained
kill -TERM $pid
wait $pid || { tail -20 "$dir/sluice.log"; exit 1; }
"$venv/bin/python" benches/iceberg_hour.py --count "$dir/catalog.db" "$dir/warehouse" bench.plain bench.maintained
