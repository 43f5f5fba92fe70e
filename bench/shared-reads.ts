/**
 * `npx tsx bench/shared-reads.ts [--teams 15000] [--runs 2048]`: what tiny
 * runs cost ClickHouse when they share a query (the source's SharedReads),
 * by how many share one, and what a shared answer costs per row (the cap's
 * reason). Over the scale benchmark's data (0-3 events per team and 5-minute
 * interval) in a database of its own on CLICKHOUSE_URL; ClickHouse's CPU is
 * that of the process listening on its port (other users' queries included:
 * use a server of your own). The wall time of a group of 1 is a lone run's
 * latency: what sharing adds when there is no one to share with. Own and
 * shared queries run in alternating blocks, so that a drift in the
 * machine's load weighs on both.
 */
import { ClickHouseSource } from '@bx/clickhouse';
import type { ModelPlugin, ModelSourceConfig } from '@bx/core';
import type { BatchFormat } from '@bx/batch';
import { eventsModel } from '@bx/model-events';
import { parseArgs } from 'node:util';
import { clickhousePid, processCpu } from './scale-services';
import { FIVE_MINUTES, generateTinyIntervals } from './scale-data';

const { values: args } = parseArgs({
  options: { teams: { type: 'string', default: '15000' }, runs: { type: 'string', default: '2048' } },
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
  /** `k` runs of distinct teams at once, `total / k` times: per run, CPU (ClickHouse, this process) in ms, rows, wall ms. */
  const measure = async (source: ClickHouseSource, k: number, total = runs) => {
    const before = processCpu(pid);
    const mine = process.cpuUsage();
    let rows = 0;
    const began = performance.now();
    for (let done = 0; done < total; done += k) {
      const counts = await Promise.all(
        Array.from({ length: k }, async () => {
          const input = { config, teamId: (team++ % teams) + 1, start: from, end: from + FIVE_MINUTES };
          let n = 0;
          const signal = new AbortController().signal;
          for await (const batch of source.modelBatches(model, input, signal, { reuseBuffers: true })) n += batch.count;
          return n;
        }),
      );
      rows += counts.reduce((a, b) => a + b, 0);
    }
    const client = process.cpuUsage(mine);
    return {
      ms: ((processCpu(pid) - before) * 1000) / total,
      client: (client.user + client.system) / 1000 / total,
      rows: rows / total,
      wall: (performance.now() - began) / total,
    };
  };
  /** Own queries and shared ones in alternating blocks (the machine's load drifts), summed. */
  const compare = async (k: number) => {
    const sum = { own: { ms: 0, client: 0, rows: 0, wall: 0 }, shared: { ms: 0, client: 0, rows: 0, wall: 0 } };
    for (let block = 0; block < 8; block++) {
      for (const [name, source] of [
        ['own', alone],
        ['shared', shared],
      ] as const) {
        const m = await measure(source, k, runs / 8);
        for (const key of ['ms', 'client', 'rows', 'wall'] as const) sum[name][key] += m[key] / 8;
      }
    }
    return sum;
  };
  await compare(16);
  console.log(
    'runs at once | CPU per run, ms: ClickHouse, own queries | shared | this process, own | shared | ' +
      'wall per group, ms: own | shared | rows per run',
  );
  for (const k of [1, 2, 4, 8, 16, 32, 64]) {
    const { own: a, shared: s } = await compare(k);
    const f = (x: number) => x.toFixed(2);
    console.log(
      `${k} | ${f(a.ms)} | ${f(s.ms)} | ${f(a.client)} | ${f(s.client)} | ${f(a.wall * k)} | ${f(s.wall * k)} | ${f(s.rows)}`,
    );
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
