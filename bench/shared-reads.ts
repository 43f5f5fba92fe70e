/**
 * `npx tsx bench/shared-reads.ts [--teams 15000] [--runs 1920]`: what tiny
 * runs cost ClickHouse when they share a query (the source's SharedReads),
 * by how many share one, and what a shared answer costs per row (the cap's
 * reason). Over the scale benchmark's data (0-3 events per team and 5-minute
 * interval) in a database of its own on CLICKHOUSE_URL; ClickHouse's CPU is
 * that of the process listening on its port (other users' queries included:
 * use a server of your own).
 */
import { ClickHouseSource } from '@bx/clickhouse';
import type { ModelPlugin, ModelSourceConfig } from '@bx/core';
import type { BatchFormat } from '@bx/batch';
import { eventsModel } from '@bx/model-events';
import { parseArgs } from 'node:util';
import { clickhousePid, processCpu } from './scale-services';
import { FIVE_MINUTES, generateTinyIntervals } from './scale-data';

const { values: args } = parseArgs({
  options: { teams: { type: 'string', default: '15000' }, runs: { type: 'string', default: '1920' } },
});
const CLICKHOUSE_URL = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
const DATABASE = 'bx_bench_shared_reads';
const config: ModelSourceConfig = {
  CLICKHOUSE_DATABASE: DATABASE,
  EVENTS_TABLE: 'events',
  EVENTS_INTERVAL_COLUMN: 'inserted_at',
  PERSONS_TABLE: 'person',
  PERSON_DISTINCT_IDS_TABLE: 'person_distinct_id2',
};
const model = eventsModel as ModelPlugin<BatchFormat>;

async function main(): Promise<void> {
  const teams = Number(args.teams);
  const runs = Number(args.runs);
  const pid = clickhousePid(CLICKHOUSE_URL);
  if (!pid) throw new Error(`no ClickHouse process found for ${CLICKHOUSE_URL}`);
  const from = Math.floor(Date.now() / FIVE_MINUTES) * FIVE_MINUTES - 4 * FIVE_MINUTES;
  const events = await generateTinyIntervals(CLICKHOUSE_URL, DATABASE, teams, from, 4);
  console.log(`${events} events of ${teams} teams in 4 intervals of 5 minutes`);
  const options = { url: CLICKHOUSE_URL, username: 'default', password: '', requestTimeoutMs: 60_000 };
  const alone = new ClickHouseSource({ ...options, sharedReads: false });
  // A cap no answer here reaches: every group shares one query.
  const shared = new ClickHouseSource({ ...options, sharedReads: { maxRows: 1e6, maxTeams: 1000 } });
  let team = 0;
  /** `k` runs of distinct teams at once, `runs / k` times: ClickHouse CPU per run, in ms, and rows. */
  const measure = async (source: ClickHouseSource, k: number, total = runs) => {
    const before = processCpu(pid);
    let rows = 0;
    const began = Date.now();
    for (let done = 0; done < total; done += k) {
      const counts = await Promise.all(
        Array.from({ length: k }, async () => {
          const input = { config, teamId: (team++ % teams) + 1, start: from, end: from + FIVE_MINUTES };
          let n = 0;
          for await (const batch of source.modelBatches(model, input, undefined, { reuseBuffers: true }))
            n += batch.count;
          return n;
        }),
      );
      rows += counts.reduce((a, b) => a + b, 0);
    }
    const ms = (processCpu(pid) - before) * 1000;
    return { ms: ms / total, rows: rows / total, wall: (Date.now() - began) / total };
  };
  await measure(alone, 16, 320);
  await measure(shared, 16, 320);
  console.log('runs at once | ClickHouse CPU per run, ms: own queries | shared | rows per run');
  for (const k of [1, 2, 4, 8, 16, 32, 64]) {
    const a = await measure(alone, k);
    const s = await measure(shared, k);
    console.log(`${k} | ${a.ms.toFixed(2)} | ${s.ms.toFixed(2)} | ${s.rows.toFixed(2)}`);
  }
  console.log('teams in one shared query | rows | ClickHouse CPU per query, ms | per row, µs');
  for (const k of [250, 1000, 4000]) {
    const s = await measure(shared, k, k * 4);
    console.log(
      `${k} | ${(s.rows * k).toFixed(0)} | ${(s.ms * k).toFixed(2)} | ${((s.ms / s.rows) * 1000).toFixed(2)}`,
    );
  }
  await alone.close();
  await shared.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
