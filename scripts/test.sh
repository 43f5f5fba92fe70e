#!/usr/bin/env bash
# The test command (README; .ci/run calls it). On a fresh Debian machine it
# installs what is missing, builds, starts Redis, ClickHouse 18.16, the S3
# server, PostgreSQL and a 3-master Redis Cluster (REDIS_CLUSTER_PORTS, default
# 7001-7003) in a temporary folder, runs every suite against them, and stops
# them.
# Extra arguments go to mocha, e.g. `npm test -- --grep scheduler`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/local-services.sh install
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[test] installing npm packages"
  npm ci --no-audit --no-fund
fi
# chdb (a modern ClickHouse, embedded) for the tests that prove the query on it:
# its own install, out of the root lock (see test/modern-engine/package.json).
engine=test/modern-engine
if [ ! -d $engine/node_modules ] || [ $engine/package-lock.json -nt $engine/node_modules/.package-lock.json ]; then
  echo "[test] installing chdb for the modern-engine tests"
  npm run setup:modern-engine
fi
echo "[test] building"
npm run build

BX_SERVICES_DIR=$(mktemp -d /tmp/bx-test-services.XXXXXX)
export BX_SERVICES_DIR
cleanup() {
  bash scripts/local-services.sh stop || true
  rm -rf "$BX_SERVICES_DIR"
}
trap cleanup EXIT
bash scripts/local-services.sh start
# Services on ports of your own (REDIS_PORT, CLICKHOUSE_HTTP_PORT, S3_PORT, ...): use those.
eval "$(bash scripts/local-services.sh urls)"
# The cluster tests (test/e2e/redis-cluster.test.ts, the queue contract) find it here.
bash scripts/local-services.sh start redis-cluster
TEST_REDIS_CLUSTER_NODES=$(bash scripts/local-services.sh env | sed -n 's/^REDIS_CLUSTER_NODES=//p')
export TEST_REDIS_CLUSTER_NODES

echo "[test] running unit, integration and end-to-end suites"
if [ $# -gt 0 ]; then
  npx mocha "$@"
else
  npm run test:mocha
fi
