#!/usr/bin/env bash
# Installs (Debian packages) and starts the services the product needs, on
# loopback, with their data in one folder: Redis, ClickHouse 18.16, an
# S3-compatible server (s3rver) and PostgreSQL 15. Reuses a service that
# already answers.
#
#   scripts/local-services.sh install|start|stop|status|env|urls
#   scripts/local-services.sh start|stop|kill redis|clickhouse|s3|postgres|redis-cluster ...
#
# `start` and `stop` act on the named services only (default: all four), so a
# test can restart one with its data kept: `stop redis` then `start redis`
# (Redis runs with appendonly yes, ClickHouse keeps its --path, PostgreSQL its
# data folder; `stop postgres` is a fast shutdown, which ends open sessions).
# `kill` stops them with SIGKILL, as a crash would.
#
# PostgreSQL: a cluster of its own in BX_SERVICES_DIR/postgres/data, run by
# the `postgres` user when started as root (initdb refuses root), listening on
# 127.0.0.1 only, a password-authenticated superuser POSTGRES_USER with
# database POSTGRES_DB, and TLS on with the self-signed test certificate of
# test/fixtures/tls (clients choose: sslmode disable, require or verify-full).
# `install` tells Debian's packages not to create their own cluster (on 5432,
# started by systemd); a server already on POSTGRES_PORT that POSTGRES_USER
# cannot log in to stops `start` with a message.
#
# `redis-cluster` (started only when named) is a 3-master Redis Cluster on
# loopback, no replicas, for the tests that run against REDIS_CLUSTER_NODES.
#
# Environment: BX_SERVICES_DIR (default .local/services), REDIS_PORT (6379),
# CLICKHOUSE_HTTP_PORT (8123), CLICKHOUSE_TCP_PORT (9000), S3_PORT (4568),
# POSTGRES_PORT (5432), POSTGRES_USER (bx), POSTGRES_PASSWORD (bx),
# POSTGRES_DB (bx), REDIS_CLUSTER_PORTS (7001-7003: a range or a comma-separated list),
# S3_DIR (BX_SERVICES_DIR/s3: where the S3 server keeps its buckets).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${BX_SERVICES_DIR:-$root/.local/services}
redis_port=${REDIS_PORT:-6379}
ch_http=${CLICKHOUSE_HTTP_PORT:-8123}
ch_tcp=${CLICKHOUSE_TCP_PORT:-9000}
s3_port=${S3_PORT:-4568}
s3_dir=${S3_DIR:-$dir/s3}
pg_port=${POSTGRES_PORT:-5432}
pg_user=${POSTGRES_USER:-bx}
pg_password=${POSTGRES_PASSWORD:-bx}
pg_db=${POSTGRES_DB:-bx}
pg_bin=/usr/lib/postgresql/15/bin
cluster_ports_spec=${REDIS_CLUSTER_PORTS:-7001-7003}

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
  [ -x "$pg_bin/initdb" ] || missing+=(postgresql-15)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    need_root apt-get update -qq
    if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
      # Debian's package would create and start a cluster of its own on 5432 (systemd), which
      # `start` would then take for ours; ours is initdb'd in the services folder.
      DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq postgresql-common >/dev/null
      no_main_cluster
    fi
    DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

no_main_cluster() {
  local conf=/etc/postgresql-common/createcluster.conf
  if grep -qE '^#? *create_main_cluster' "$conf"; then
    need_root sed -i -E 's/^#? *create_main_cluster.*/create_main_cluster = false/' "$conf"
  else
    echo 'create_main_cluster = false' | need_root tee -a "$conf" >/dev/null
  fi
}

# Each check gives up after 2 s: something else on the port that never answers must not hang `start`.
redis_up() { timeout 2 redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG; }
# A Redis reading its append-only file back answers LOADING (and redis-cli exits 1), for minutes
# when the file is large.
redis_loading() { [[ $(timeout 2 redis-cli -p "$redis_port" ping 2>/dev/null) == LOADING* ]]; }
ch_up() { curl -sf -m 2 "http://127.0.0.1:$ch_http/ping" 2>/dev/null | grep -q '^Ok\.'; }
s3_up() { curl -s -m 2 "http://127.0.0.1:$s3_port/" 2>/dev/null | grep -q ListAllMyBucketsResult; }
# Something listens on the port (a connection opens within 1 s).
port_taken() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
# Stops `start` at once when the port is held by something that is not the service.
port_free_for() {
  local name=$1 port=$2 variable=$3
  if port_taken "$port"; then
    say "port $port ($variable) is in use by something that is not $name: stop it, or set $variable to a free port"
    exit 1
  fi
}
pg_up() { "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" 2>/dev/null; }
# A PostgreSQL starting up, recovering or shutting down answers, but rejects connections (exit 1).
pg_rejecting() {
  local status=0
  "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" 2>/dev/null || status=$?
  [ "$status" = 1 ]
}

wait_for() {
  local name=$1 check=$2 log=$3
  for _ in $(seq 1 120); do
    if $check; then say "$name is up"; return 0; fi
    sleep 0.5
  done
  say "$name did not start; last lines of $log:"; tail -20 "$log" >&2 || true
  exit 1
}

# A Redis on the port that is still loading its data (ours, restarted a moment ago) is waited for,
# as long as it keeps loading, not taken for a stranger on the port.
wait_for_redis_loaded() {
  say "Redis on :$redis_port is loading its data; waiting for it"
  local polls=0
  while redis_loading; do
    sleep 0.5
    polls=$((polls + 1))
    if [ $((polls % 20)) = 0 ]; then
      say "Redis on :$redis_port is still loading ($(timeout 2 redis-cli -p "$redis_port" info persistence 2>/dev/null |
        sed -n 's/^loading_loaded_perc:\([0-9.]*\).*/\1/p')% done)"
    fi
  done
  wait_for Redis redis_up "$dir/redis.log"
}

# --- Redis Cluster (redis-cluster) ---
cluster_ports() {
  if [[ $cluster_ports_spec =~ ^([0-9]+)-([0-9]+)$ ]]; then
    seq "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
  else
    tr ',' '\n' <<<"$cluster_ports_spec"
  fi
}
cluster_node_up() { redis-cli -p "$1" ping 2>/dev/null | grep -q PONG; }
cluster_ok() {
  local port
  for port in $(cluster_ports); do
    redis-cli -p "$port" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
}
cluster_nodes() { cluster_ports | sed 's/^/127.0.0.1:/' | paste -sd, -; }

start_redis_cluster() {
  local port ports=()
  mkdir -p "$dir/redis-cluster"
  for port in $(cluster_ports); do
    ports+=("127.0.0.1:$port")
    if cluster_node_up "$port"; then continue; fi
    mkdir -p "$dir/redis-cluster/$port"
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$dir/redis-cluster/$port" \
      --cluster-enabled yes --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 5000 \
      --appendonly yes --maxmemory-policy noeviction --save '' \
      --pidfile "$dir/redis-cluster-$port.pid" --logfile "$dir/redis-cluster-$port.log"
  done
  for port in $(cluster_ports); do
    check() { cluster_node_up "$port"; }
    wait_for "Redis Cluster node :$port" check "$dir/redis-cluster-$port.log"
  done
  if cluster_ok; then say "Redis Cluster $(cluster_nodes) is up"; return 0; fi
  # Nodes that know only themselves (new, or restarted from a folder without nodes.conf) form the cluster.
  if redis-cli -p "${ports[0]##*:}" cluster info | grep -q 'cluster_known_nodes:1'; then
    redis-cli --cluster create "${ports[@]}" --cluster-replicas 0 --cluster-yes >"$dir/redis-cluster.create.log" 2>&1 ||
      { say 'redis-cli --cluster create failed:'; cat "$dir/redis-cluster.create.log" >&2; exit 1; }
  fi
  wait_for 'Redis Cluster' cluster_ok "$dir/redis-cluster-${ports[0]##*:}.log"
}

stop_redis_cluster() {
  local signal=$1 port pid pidfile
  for port in $(cluster_ports); do
    pidfile="$dir/redis-cluster-$port.pid"
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill "-$signal" "$pid" 2>/dev/null; then
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
      say "$([ "$signal" = KILL ] && echo killed || echo stopped) Redis Cluster node :$port"
    fi
    rm -f "$pidfile"
  done
}

ALL_SERVICES=(redis clickhouse s3 postgres)
# Started only when named; a plain `stop` stops it too.
EXTRA_SERVICES=(redis-cluster)
named=0
selected=("${ALL_SERVICES[@]}")
wants() { [[ " ${selected[*]} " == *" $1 "* ]]; }

start() {
  install
  mkdir -p "$dir"/{redis,clickhouse,s3}
  if ! wants redis; then :; elif redis_up; then say "reusing Redis on :$redis_port"; elif redis_loading; then
    wait_for_redis_loaded
  else
    port_free_for Redis "$redis_port" REDIS_PORT
    redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes --dir "$dir/redis" \
      --appendonly yes --maxmemory-policy noeviction --save '' \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    wait_for Redis redis_up "$dir/redis.log"
  fi
  if ! wants clickhouse; then :; elif ch_up; then say "reusing ClickHouse on :$ch_http"; else
    port_free_for ClickHouse "$ch_http" CLICKHOUSE_HTTP_PORT
    port_free_for ClickHouse "$ch_tcp" CLICKHOUSE_TCP_PORT
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
    port_free_for 'the S3 server' "$s3_port" S3_PORT
    nohup node "$root/scripts/s3-server.js" --port "$s3_port" --directory "$s3_dir" >"$dir/s3.log" 2>&1 &
    echo $! >"$dir/s3.pid"
    wait_for 'S3 server' s3_up "$dir/s3.log"
  fi
  if wants postgres && ! pg_up && pg_rejecting; then
    say "PostgreSQL on :$pg_port is starting (rejecting connections); waiting for it"
    wait_for PostgreSQL pg_up "$dir/postgres/server.log"
  fi
  if ! wants postgres; then :; elif pg_up; then
    if ! PGPASSWORD=$pg_password psql -h 127.0.0.1 -p "$pg_port" -U "$pg_user" -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
      say "a PostgreSQL on :$pg_port that $pg_user cannot log in to (Debian's own cluster?): stop it or set POSTGRES_PORT"
      exit 1
    fi
    say "reusing PostgreSQL on :$pg_port"
  else
    port_free_for PostgreSQL "$pg_port" POSTGRES_PORT
    start_postgres
  fi
  if wants redis-cluster; then start_redis_cluster; fi
}

# PostgreSQL's programs refuse to run as root: as root they run as `postgres`.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  local home="$dir/postgres" data="$dir/postgres/data"
  mkdir -p "$home"
  if [ "$(id -u)" = 0 ]; then
    # The services folder may be root's own (mktemp makes it 0700): `postgres` must reach its folder.
    chmod a+x "$dir"
    chown postgres:postgres "$home"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    local pwfile="$home/initdb.pw"
    printf '%s\n' "$pg_password" >"$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$pwfile"
    as_pg "$pg_bin/initdb" -D "$data" -U "$pg_user" --pwfile="$pwfile" --auth=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$home/initdb.log" 2>&1 || { rm -f "$pwfile"; cat "$home/initdb.log" >&2; exit 1; }
    rm -f "$pwfile"
    cp "$root/test/fixtures/tls/cert.pem" "$data/server.crt"
    cp "$root/test/fixtures/tls/key.pem" "$data/server.key"
    chmod 600 "$data/server.key"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$data/server.crt" "$data/server.key"
    printf '%s\n' "listen_addresses = '127.0.0.1'" "ssl = on" >>"$data/postgresql.conf"
  fi
  as_pg "$pg_bin/pg_ctl" -D "$data" -l "$home/server.log" -w -t 60 -o "-p $pg_port -k $home" start >/dev/null ||
    { say "PostgreSQL did not start; last lines of $home/server.log:"; tail -20 "$home/server.log" >&2; exit 1; }
  head -1 "$data/postmaster.pid" >"$dir/postgres.pid"
  wait_for PostgreSQL pg_up "$home/server.log"
  if ! PGPASSWORD=$pg_password psql -h 127.0.0.1 -p "$pg_port" -U "$pg_user" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$pg_db'" | grep -q 1; then
    PGPASSWORD=$pg_password psql -q -h 127.0.0.1 -p "$pg_port" -U "$pg_user" -d postgres -c "CREATE DATABASE \"$pg_db\""
  fi
}

stop() {
  if wants redis-cluster || [ $named = 0 ]; then stop_redis_cluster TERM; fi
  for name in postgres s3 clickhouse redis; do
    wants "$name" || continue
    local pidfile="$dir/$name.pid"
    [ -f "$pidfile" ] || continue
    if [ "$name" = postgres ]; then
      # Fast shutdown: open sessions end with admin_shutdown (SIGTERM would wait for them).
      as_pg "$pg_bin/pg_ctl" -D "$dir/postgres/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
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
  if wants redis-cluster || [ $named = 0 ]; then stop_redis_cluster KILL; fi
  for name in "${selected[@]}"; do
    local pidfile="$dir/$name.pid"
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    if [ "$name" = postgres ]; then
      # Its server processes too (each is in a session of its own): frozen, the postmaster starts no more.
      kill -STOP "$pid" 2>/dev/null && pkill -9 -P "$pid" || true
    fi
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
  pg_up && say "PostgreSQL :$pg_port up" || say "PostgreSQL :$pg_port down"
  cluster_ok && say "Redis Cluster $(cluster_nodes) up" || say "Redis Cluster $(cluster_nodes) down"
}

# `export` lines for the URLs of the services on this script's ports that the
# environment does not set yet: `eval "$(bash scripts/local-services.sh urls)"`
# points the product, the demo and the tests at services started on ports of
# your own (REDIS_PORT=16379 ...), not at the default ports. The Cluster is
# left out: REDIS_CLUSTER_NODES would make the product use it.
url_exports() {
  local name value
  while IFS='=' read -r name value; do
    [ "$name" = REDIS_CLUSTER_NODES ] && continue
    [ -n "${!name:-}" ] || printf 'export %s=%q\n' "$name" "$value"
  done < <(env_lines)
}

env_lines() {
  echo "REDIS_URL=redis://127.0.0.1:$redis_port"
  echo "CLICKHOUSE_URL=http://127.0.0.1:$ch_http"
  echo "S3_ENDPOINT_URL=http://127.0.0.1:$s3_port"
  echo "POSTGRES_URL=postgres://$pg_user:$pg_password@127.0.0.1:$pg_port/$pg_db"
  echo "REDIS_CLUSTER_NODES=$(cluster_nodes)"
}

command=${1:-}
if [ $# -gt 1 ]; then
  case "$command" in start | stop | kill) ;; *) echo "usage: only start, stop and kill take service names" >&2; exit 2 ;; esac
  selected=("${@:2}")
  named=1
  for name in "${selected[@]}"; do
    [[ " ${ALL_SERVICES[*]} ${EXTRA_SERVICES[*]} " == *" $name "* ]] || { echo "unknown service '$name' (redis, clickhouse, s3, postgres, redis-cluster)" >&2; exit 2; }
  done
fi

case "$command" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  status) status ;;
  env) env_lines ;;
  urls) url_exports ;;
  *) echo "usage: $0 install|start|stop|status|env|urls, or start|stop|kill redis|clickhouse|s3|postgres|redis-cluster ..." >&2; exit 2 ;;
esac
