# Shell helpers the benchmark scripts share (sourced, not run).

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts kinesis-local (installed by tests/setup/install.sh under CACHE) on free
# ports, logging to $1/kinesis.log; sets KINESIS_ENDPOINT and KINESIS_PID.
start_kinesis_local() {
  local dir=$1 cache=$2 port
  port=$(free_port)
  (cd "$cache/kinesis-local/node_modules/kinesis-local" && KINESIS_MOCK_PLAIN_PORT=$port KINESIS_MOCK_TLS_PORT=$(free_port) \
    CREATE_STREAM_DURATION=100ms LOG_LEVEL=WARN exec node main.js) > "$dir/kinesis.log" 2>&1 &
  KINESIS_PID=$!
  until (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.2; done
  KINESIS_ENDPOINT="http://127.0.0.1:$port"
}

# A free port below 55535: SeaweedFS also listens on each of its ports + 10000.
free_weed_port() {
  local port
  while :; do
    port=$(free_port)
    [ "$port" -lt 55535 ] && { echo "$port"; return; }
  done
}

# Starts SeaweedFS (installed by tests/setup/install.sh) on free loopback ports in
# a folder of its own with the bucket `bench-bucket`, stopped and removed on exit.
# Sets S3_ENDPOINT, exports the AWS variables sluice-bench and the daemon read, and
# defines empty_bucket.
start_seaweedfs() {
  local venv dir s3 try
  venv=$(bash tests/setup/install.sh | tail -1)
  dir=$(mktemp -d)
  s3=$(free_weed_port)
  (cd "$dir" && exec "$venv/bin/weed" server -dir="$dir" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$(free_weed_port)" -volume.port="$(free_weed_port)" -filer.port="$(free_weed_port)" \
    -s3 -s3.port="$s3" -s3.port.iceberg=0 -s3.port.lance=0) > "$dir/weed.log" 2>&1 &
  WEED_PID=$!
  WEED_DIR=$dir
  # SIGKILL: SeaweedFS lingers for a long while after SIGTERM, and its data is
  # thrown away anyway.
  trap 'kill -9 $WEED_PID 2>/dev/null; rm -rf "$WEED_DIR"' EXIT
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
  S3_ENDPOINT="http://127.0.0.1:$s3"
  S3_PYTHON="$venv/bin/python"
  for try in $(seq 60); do
    "$S3_PYTHON" -c "
import boto3
boto3.client('s3', endpoint_url='$S3_ENDPOINT').create_bucket(Bucket='bench-bucket')" 2>/dev/null && break
    [ "$try" = 60 ] && { echo "SeaweedFS did not start: $(tail -3 "$dir/weed.log")" >&2; exit 1; }
    sleep 0.5
  done
  empty_bucket() {
    "$S3_PYTHON" -c "
import boto3
b = boto3.resource('s3', endpoint_url='$S3_ENDPOINT').Bucket('bench-bucket')
b.objects.all().delete()"
  }
}

# The benchmark's destination: a local folder (sluice-bench's default), or with
# DEST=s3 SeaweedFS. Sets DEST_ARGS, sluice-bench's arguments for it, and defines
# empty_bucket (a no-op for the folder).
use_destination() {
  DEST_ARGS=()
  if [ "${DEST:-local}" = s3 ]; then
    start_seaweedfs
    DEST_ARGS=(--s3-endpoint "$S3_ENDPOINT" --s3-bucket bench-bucket)
  else
    empty_bucket() { :; }
  fi
}

# Waits until the daemon listening on port $1 counts $2 records delivered.
wait_delivered() {
  local n
  while :; do
    # Not listening yet is no error here (the scripts run with pipefail).
    n=$({ curl -s "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } | awk '/^sluice_delivered_records_total/ {printf "%d", $2}')
    [ "${n:-0}" -ge "$2" ] && break
    sleep 0.05
  done
}

# Runs BIN on DIR/sluice.toml (its log in DIR/log) until the daemon on PORT has
# delivered N records; prints "<seconds> <peak RSS in MB>".
run_until_delivered() {
  local bin=$1 dir=$2 port=$3 n=$4 start end pid peak
  start=$(date +%s.%N)
  "$bin" run --config "$dir/sluice.toml" 2>"$dir/log" &
  pid=$!
  wait_delivered "$port" "$n"
  end=$(date +%s.%N)
  peak=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" || true
  echo "$(python3 -c "print(round($end - $start, 2))") $peak"
}

# The median of the numbers on standard input.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
