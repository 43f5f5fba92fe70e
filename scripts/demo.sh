#!/usr/bin/env bash
# The main job (README, `npm run demo`): on a fresh Debian machine, installs
# what is needed, starts Redis, ClickHouse and the S3 server locally, creates an
# events table with sample events, starts the product, creates an hourly S3
# export that starts three hours ago, waits for its runs, and prints the
# objects written and the run records. Services are left running (stop them
# with `bash scripts/local-services.sh stop`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/local-services.sh install
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[demo] installing npm packages"
  npm ci --no-audit --no-fund
fi
echo "[demo] building"
npm run build
bash scripts/local-services.sh start
npx tsx scripts/demo.ts
