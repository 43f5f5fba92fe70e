#!/usr/bin/env bash
# The fault-injection suite (npm run test:chaos; .ci/run calls it after npm test).
# It stops and restarts Redis, ClickHouse and PostgreSQL, so it starts services of its own
# on ports of their own in a temporary folder, never the ones npm test or a
# developer uses, and stops them at the end. Expects a fresh machine as
# scripts/test.sh does; builds (incremental) before running.
# Extra arguments go to mocha, e.g. `npm run test:chaos -- --grep Redis`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/local-services.sh install
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[chaos] installing npm packages"
  npm ci --no-audit --no-fund
fi
echo "[chaos] building"
npm run build

export REDIS_PORT=${CHAOS_REDIS_PORT:-16379}
export CLICKHOUSE_HTTP_PORT=${CHAOS_CLICKHOUSE_HTTP_PORT:-18123}
export CLICKHOUSE_TCP_PORT=${CHAOS_CLICKHOUSE_TCP_PORT:-19000}
export S3_PORT=${CHAOS_S3_PORT:-14568}
export POSTGRES_PORT=${CHAOS_POSTGRES_PORT:-15432}
# Each Cluster node also listens on its port + 10000 (the cluster bus): 7001-7003, the
# local Cluster's ports, would take 17001-17003.
export REDIS_CLUSTER_PORTS=${CHAOS_REDIS_CLUSTER_PORTS:-16401-16403}
BX_SERVICES_DIR=$(mktemp -d /tmp/bx-chaos-services.XXXXXX)
export BX_SERVICES_DIR
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export CLICKHOUSE_URL=http://127.0.0.1:$CLICKHOUSE_HTTP_PORT
export S3_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
export POSTGRES_URL=postgres://bx:bx@127.0.0.1:$POSTGRES_PORT/bx
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
# Tells the suite these services are its own to stop and restart.
export BX_CHAOS_SERVICES=1

cluster_ports=$(if [[ $REDIS_CLUSTER_PORTS =~ ^([0-9]+)-([0-9]+)$ ]]; then seq "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"; else tr ',' ' ' <<<"$REDIS_CLUSTER_PORTS"; fi)
bus_ports=$(for port in $cluster_ports; do echo $((port + 10000)); done)
# shellcheck disable=SC2086 # one port per word
for port in "$REDIS_PORT" "$CLICKHOUSE_HTTP_PORT" "$CLICKHOUSE_TCP_PORT" "$S3_PORT" "$POSTGRES_PORT" $cluster_ports $bus_ports; do
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "[chaos] port $port is taken: the chaos suite needs services of its own (set CHAOS_*_PORT)" >&2
    exit 1
  fi
done

cleanup() {
  bash scripts/local-services.sh stop || true
  rm -rf "$BX_SERVICES_DIR"
}
trap cleanup EXIT
bash scripts/local-services.sh start
# A 3-master Redis Cluster of its own, for the scenario that kills one of its nodes.
bash scripts/local-services.sh start redis-cluster
CHAOS_REDIS_CLUSTER_NODES=$(bash scripts/local-services.sh env | sed -n 's/^REDIS_CLUSTER_NODES=//p')
export CHAOS_REDIS_CLUSTER_NODES

echo "[chaos] running the fault-injection suite"
started=$(date +%s)
status=0
npx mocha --require tsx/cjs --require test/chaos/root-hooks.ts 'test/chaos/**/*.test.ts' "$@" || status=$?
echo "[chaos] took $(($(date +%s) - started)) s"
exit $status
