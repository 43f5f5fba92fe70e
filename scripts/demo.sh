#!/usr/bin/env bash
# The main job (README, `npm run demo`): on a fresh Debian machine, installs
# what is needed, starts Redis, ClickHouse, the S3 server and PostgreSQL
# locally, creates an events table with sample events, starts the product,
# creates hourly exports to S3 and to PostgreSQL (table batch_exports_demo of
# database bx) that start three hours ago, waits for their runs, prints the
# objects written, the table's rows per hour and the run records, stops the
# product it started, and prints the
# next steps: lines to paste that run npm start on the demo's data and create
# an export to the local S3 server (test/e2e/demo-next-steps.test.ts pastes
# them). Services are left running (`bash scripts/local-services.sh stop`).
set -euo pipefail
cd "$(dirname "$0")/.."
# local-services.sh's default folder, said here: the demo keeps its secrets key there.
export BX_SERVICES_DIR=${BX_SERVICES_DIR:-$PWD/.local/services}

bash scripts/local-services.sh install
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[demo] installing npm packages"
  npm ci --no-audit --no-fund
fi
echo "[demo] building"
npm run build
bash scripts/local-services.sh start
# Services on ports of your own (REDIS_PORT, CLICKHOUSE_HTTP_PORT, S3_PORT, ...): use those.
eval "$(bash scripts/local-services.sh urls)"
npx tsx scripts/demo.ts
