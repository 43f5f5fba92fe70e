/**
 * `npx tsx bench/redis-run-cost.ts [--runs N] [--concurrency C]`: Redis's own CPU per tiny run,
 * without ClickHouse, S3 or a worker process beside it: what the store's
 * calls of a run cost (its start with its export, its finish, its log) and
 * what BullMQ's cost (a worker taking each job, logging one line to the job,
 * completing it), each over N runs, C at a time (16), on a Redis of its own
 * (appendonly, as deployed). Less noisy than the scale benchmark's figure on a
 * busy machine. Also this process's CPU for the store's calls (the client's side). docs/scaling.md.
 */
import { createLogger, runIdFor } from '@bx/core';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { exportFixture } from '../test/helpers/export-fixture';
import { ScaleServices, sampleRedis } from './scale-services';

const FIVE_MINUTES = 300_000;
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '5000' }, concurrency: { type: 'string', default: '16' } },
  });
  const n = Number(values.runs);
  const concurrency = Number(values.concurrency);
  const services = await new ScaleServices().start();
  const redis = new Redis(services.redisUrl);
  const prefix = 'bxc';
  const store = Store.connect(services.redisUrl, prefix);
  const queue = new BullMqRunQueue({ redis: { url: services.redisUrl }, prefix, attempts: 15, backoffMs: 10_000 });
  try {
    const T0 = Math.floor(Date.now() / FIVE_MINUTES) * FIVE_MINUTES - FIVE_MINUTES;
    const runs = [];
    for (let i = 0; i < n; i++) {
      const exp = exportFixture(randomUUID(), T0, { interval: 'every 5 minutes', team_id: i + 1 });
      await store.exports.create(exp, T0, null);
      runs.push({
        id: runIdFor(exp.id, T0),
        export_id: exp.id,
        data_interval_start: T0,
        data_interval_end: T0 + FIVE_MINUTES,
      });
    }
    await store.runs.createMany(runs);

    // The store's part of a run, as the worker calls it (with the code before the export read moved
    // into the start script: a GET of the export, then start).
    const runs2 = store.runs as unknown as Record<string, unknown>;
    const startWithExport = typeof runs2.startWithExport === 'function';
    const a = await sampleRedis(redis);
    const clientA = process.cpuUsage();
    await pool(runs, concurrency, async (run) => {
      let attempt = 1;
      if (startWithExport) {
        const started = await store.runs.startWithExport(run.id);
        if (started.status !== 'started') throw new Error(started.status);
        attempt = started.attempt;
      } else {
        await store.exports.get(run.export_id);
        const started = await store.runs.start(run.id);
        if (started.status !== 'started') throw new Error(started.status);
        attempt = started.attempt;
      }
      const records = run.data_interval_start % 4;
      const at = new Date().toISOString();
      const lines = [
        { timestamp: at, level: 'info', message: 'run started data_interval_start=2024-01-01T00:00:00.000Z' },
        { timestamp: at, level: 'info', message: `run completed records=${records} bytes=300 files=1 ms=20` },
      ];
      const result = { records, bytes: records * 300, files: ['k'], receipt: { records } };
      // The worker's calls: the log lines with the outcome (or, before, a call of their own after it).
      if (startWithExport) {
        await store.runs.complete(run.id, result, Date.now(), attempt, null, lines);
      } else {
        await store.runs.complete(run.id, result, Date.now(), attempt, null);
        await store.runLogs.append(run.id, lines);
      }
    });
    const clientB = process.cpuUsage(clientA);
    const b = await sampleRedis(redis);

    // BullMQ's part: jobs taken, one job log entry each, completed.
    await queue.enqueue(
      runs.map((r) => ({
        run_id: r.id,
        export_id: r.export_id,
        data_interval_start: T0,
        data_interval_end: T0 + FIVE_MINUTES,
      })),
    );
    const c = await sampleRedis(redis);
    let done = 0;
    const worker = queue.startWorker(
      async (_payload, ctx) => {
        await ctx.log('run started\nrun completed records=1');
        done++;
        return { status: 'completed', records: 1, bytes: 300, files: ['k'] };
      },
      { concurrency, logger: createLogger({}, 'error') },
    );
    while (Number(await redis.zcard(`${prefix}:export-runs:completed`)) < n)
      await new Promise((r) => setTimeout(r, 50));
    const d = await sampleRedis(redis);
    await worker.close(1000);
    const per = (x: number) => round(x / n);
    process.stdout.write(
      JSON.stringify(
        {
          runs: n,
          store: {
            commands_per_run: per(b.commands - a.commands),
            redis_cpu_ms_per_run: per((b.cpu - a.cpu) * 1000),
            /** This process's CPU (ioredis sending the calls and reading the answers, and the loop around them). */
            client_cpu_ms_per_run: per((clientB.user + clientB.system) / 1000),
          },
          bullmq: {
            commands_per_run: per(d.commands - c.commands),
            redis_cpu_ms_per_run: per((d.cpu - c.cpu) * 1000),
            processed: done,
          },
        },
        null,
        2,
      ) + '\n',
    );
  } finally {
    await queue.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    redis.disconnect();
    services.stop();
  }
}

/** Calls `fn` over `items`, `concurrency` at a time, as a worker's concurrent runs do. */
async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
