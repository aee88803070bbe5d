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

# The median of the numbers on standard input.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
