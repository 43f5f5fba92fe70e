#!/usr/bin/env bash
# Installs (Debian packages) and starts the services the product needs, on
# loopback, with their data in one folder: Redis, ClickHouse 18.16 and an
# S3-compatible server (s3rver). Reuses a service that already answers.
#
#   scripts/local-services.sh install|start|stop|status|env
#   scripts/local-services.sh start|stop|kill redis|clickhouse|s3 ...
#
# `start` and `stop` act on the named services only (default: all three), so a
# test can restart one with its data kept: `stop redis` then `start redis`
# (Redis runs with appendonly yes, ClickHouse keeps its --path). `kill` stops
# them with SIGKILL, as a crash would.
#
# Environment: BX_SERVICES_DIR (default .local/services), REDIS_PORT (6379),
# CLICKHOUSE_HTTP_PORT (8123), CLICKHOUSE_TCP_PORT (9000), S3_PORT (4568).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${BX_SERVICES_DIR:-$root/.local/services}
redis_port=${REDIS_PORT:-6379}
ch_http=${CLICKHOUSE_HTTP_PORT:-8123}
ch_tcp=${CLICKHOUSE_TCP_PORT:-9000}
s3_port=${S3_PORT:-4568}

say() { echo "[services] $*" >&2; }

need_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $*"; exit 1
  fi
}

install() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v clickhouse-server >/dev/null || missing+=(clickhouse-server clickhouse-client)
  command -v curl >/dev/null || missing+=(curl)
  # The web console's browser tests drive Debian's Chromium (playwright-core never downloads one).
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    need_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

redis_up() { redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG; }
ch_up() { curl -sf "http://127.0.0.1:$ch_http/ping" >/dev/null 2>&1; }
s3_up() { curl -s -o /dev/null "http://127.0.0.1:$s3_port/" 2>/dev/null; }

wait_for() {
  local name=$1 check=$2 log=$3
  for _ in $(seq 1 120); do
    if $check; then say "$name is up"; return 0; fi
    sleep 0.5
  done
  say "$name did not start; last lines of $log:"; tail -20 "$log" >&2 || true
  exit 1
}

ALL_SERVICES=(redis clickhouse s3)
selected=("${ALL_SERVICES[@]}")
wants() { [[ " ${selected[*]} " == *" $1 "* ]]; }

start() {
  install
  mkdir -p "$dir"/{redis,clickhouse,s3}
  if ! wants redis; then :; elif redis_up; then say "reusing Redis on :$redis_port"; else
    redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes --dir "$dir/redis" \
      --appendonly yes --maxmemory-policy noeviction --save '' \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    wait_for Redis redis_up "$dir/redis.log"
  fi
  if ! wants clickhouse; then :; elif ch_up; then say "reusing ClickHouse on :$ch_http"; else
    nohup clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- \
      --path="$dir/clickhouse/" --tmp_path="$dir/clickhouse/tmp/" \
      --user_files_path="$dir/clickhouse/user_files/" --format_schema_path="$dir/clickhouse/schemas/" \
      --logger.log="$dir/clickhouse.log" --logger.errorlog="$dir/clickhouse.err.log" --logger.console=0 \
      --http_port="$ch_http" --tcp_port="$ch_tcp" --interserver_http_port=0 \
      >"$dir/clickhouse.out" 2>&1 &
    echo $! >"$dir/clickhouse.pid"
    wait_for ClickHouse ch_up "$dir/clickhouse.err.log"
  fi
  if ! wants s3; then :; elif s3_up; then say "reusing S3 server on :$s3_port"; else
    nohup node "$root/scripts/s3-server.js" --port "$s3_port" --directory "$dir/s3" >"$dir/s3.log" 2>&1 &
    echo $! >"$dir/s3.pid"
    wait_for 'S3 server' s3_up "$dir/s3.log"
  fi
}

stop() {
  for name in s3 clickhouse redis; do
    wants "$name" || continue
    local pidfile="$dir/$name.pid"
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
      say "stopped $name"
    fi
    rm -f "$pidfile"
  done
}

crash() {
  for name in "${selected[@]}"; do
    local pidfile="$dir/$name.pid"
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    if kill -9 "$pid" 2>/dev/null; then
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
      say "killed $name"
    fi
    rm -f "$pidfile"
  done
}

status() {
  redis_up && say "Redis :$redis_port up" || say "Redis :$redis_port down"
  ch_up && say "ClickHouse :$ch_http up" || say "ClickHouse :$ch_http down"
  s3_up && say "S3 :$s3_port up" || say "S3 :$s3_port down"
}

env_lines() {
  echo "REDIS_URL=redis://127.0.0.1:$redis_port"
  echo "CLICKHOUSE_URL=http://127.0.0.1:$ch_http"
  echo "S3_ENDPOINT_URL=http://127.0.0.1:$s3_port"
}

command=${1:-}
if [ $# -gt 1 ]; then
  case "$command" in start | stop | kill) ;; *) echo "usage: only start, stop and kill take service names" >&2; exit 2 ;; esac
  selected=("${@:2}")
  for name in "${selected[@]}"; do
    [[ " ${ALL_SERVICES[*]} " == *" $name "* ]] || { echo "unknown service '$name' (redis, clickhouse, s3)" >&2; exit 2; }
  done
fi

case "$command" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  status) status ;;
  env) env_lines ;;
  *) echo "usage: $0 install|start|stop|status|env, or start|stop|kill redis|clickhouse|s3 ..." >&2; exit 2 ;;
esac
