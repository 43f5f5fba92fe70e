/**
 * What the product keeps in Redis, measured key by key (MEMORY USAGE of every
 * key under a prefix of its own, so other users of the same Redis do not
 * count):
 * - one 5-minute export whose start_at is 5 years back, after the scheduler
 *   has done all it will do without workers (runs a window ahead only);
 * - a backfill of 200,000 intervals, after its first steps;
 * - an export-year of finished runs beyond the retention window, hourly and
 *   5-minute: the compact form left once retention removed the records.
 */
import { createLogger, runIdFor, type BatchExport } from '@bx/core';
import { BackfillService, RunRetention } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Scheduler } from '@bx/scheduler';
import { Store } from '@bx/store';
import { randomUUID } from 'node:crypto';
import { dropStoreAndQueue } from '../test/helpers/redis-prefix';
import { readResults, saveResults } from './results-file';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const logger = createLogger({}, 'error');

export interface FootprintResult {
  /** MB of Redis for a 5-minute export whose start_at is 5 years back (target ≤ 20). */
  redis_mb_catchup_5y: number;
  /** MB of Redis for a backfill of 200,000 intervals (target ≤ 20). */
  redis_mb_backfill_200k: number;
  /** KB per export-year beyond retention, contiguous history (5-minute target ≤ 64). */
  redis_kb_per_export_year: { hourly: number; five_minutes: number };
  /** The same when every other interval failed for good (the worst case of the range form). */
  redis_kb_per_export_year_alternating: { hourly: number; five_minutes: number };
  /** The catch-up's first runs are its oldest intervals. */
  catchup_oldest_first: boolean;
  /** Runs a year of history was measured on (quick runs use fewer days and scale up). */
  days_measured: number;
}

/** The figures redisFootprint adds to bench/results.json. */
export const FOOTPRINT_KEYS = [
  'redis_mb_catchup_5y',
  'redis_mb_backfill_200k',
  'redis_kb_per_export_year',
  'redis_kb_per_export_year_alternating',
  'catchup_oldest_first',
  'days_measured',
] as const satisfies ReadonlyArray<keyof FootprintResult>;

export async function redisFootprint(redisUrl: string, opts: { quick: boolean }): Promise<FootprintResult> {
  const days = opts.quick ? 30 : 365;
  const catchup = await measure(redisUrl, async (store, queue) => {
    const now = await store.now();
    const exp = exportOf({ interval: 'every 5 minutes', start_at: new Date(now - 5 * 365 * DAY).toISOString() });
    await store.exports.create(exp, Date.parse(exp.start_at!), now);
    const scheduler = new Scheduler({ store, queue, logger, settleMs: 0 });
    // Tick until the window is full: the catch-up then waits for workers.
    for (let i = 0; i < 10; i++) await scheduler.tick(now + i * 10_000);
    const [unfinished] = await store.runs.unfinishedCounts([exp.id]);
    const first = await store.runs.get(runIdFor(exp.id, Date.parse(exp.start_at!)));
    return { ok: first !== null && (unfinished ?? 0) <= 1000 };
  });
  const backfill = await measure(redisUrl, async (store, queue) => {
    const now = await store.now();
    const exp = exportOf({ interval: 'every 5 minutes' });
    await store.exports.create(exp, now, null);
    const service = new BackfillService(store, queue, logger, () => now);
    const start = Math.floor((now - 200_000 * 5 * MINUTE) / HOUR) * HOUR;
    await service.create(exp.id, {
      start_at: new Date(start).toISOString(),
      end_at: new Date(start + 200_000 * 5 * MINUTE).toISOString(),
      confirm: true,
    });
    for (let i = 0; i < 5; i++) await service.pump.pass();
    return { ok: true };
  });
  const year = async (interval: 'hour' | 'every 5 minutes', alternating: boolean) =>
    measure(
      redisUrl,
      async (store, queue) => {
        const step = interval === 'hour' ? HOUR : 5 * MINUTE;
        const exp = exportOf({ interval });
        const t0 = Date.parse('2020-01-01T00:00:00Z');
        await store.exports.create(exp, t0 + days * DAY, null);
        const finishedAt = t0 + days * DAY;
        for (let at = t0; at < t0 + days * DAY; at += 1000 * step) {
          const ids: string[] = [];
          const batch = [];
          for (let s = at; s < Math.min(at + 1000 * step, t0 + days * DAY); s += step) {
            const id = runIdFor(exp.id, s);
            ids.push(id);
            batch.push({ id, export_id: exp.id, data_interval_start: s, data_interval_end: s + step });
          }
          await store.runs.createMany(batch, finishedAt);
          await Promise.all(
            ids.map(async (id, i) => {
              await store.runs.start(id, finishedAt);
              if (alternating && i % 2 === 1) await store.runs.fail(id, 'Failed', 'gone', finishedAt);
              else await store.runs.complete(id, { records: 10, bytes: 1000, files: [`${id}.jsonl`] }, finishedAt);
            }),
          );
        }
        await new RunRetention(store, queue, logger, 90 * DAY).pass(finishedAt + 91 * DAY);
        return { ok: true };
      },
      /* keep only the export's compact history */ (key) => key.includes(':exported'),
    );
  const perYear = (bytes: number) => Math.round((((bytes / 1024) * 365) / days) * 10) / 10;
  const hourly = await year('hour', false);
  const fiveMinutes = await year('every 5 minutes', false);
  const hourlyAlt = await year('hour', true);
  const fiveMinutesAlt = await year('every 5 minutes', true);
  return {
    redis_mb_catchup_5y: Math.round((catchup.bytes / 1e6) * 100) / 100,
    redis_mb_backfill_200k: Math.round((backfill.bytes / 1e6) * 100) / 100,
    redis_kb_per_export_year: { hourly: perYear(hourly.bytes), five_minutes: perYear(fiveMinutes.bytes) },
    redis_kb_per_export_year_alternating: {
      hourly: perYear(hourlyAlt.bytes),
      five_minutes: perYear(fiveMinutesAlt.bytes),
    },
    catchup_oldest_first: catchup.ok,
    days_measured: days,
  };
}

/** Runs `fn` on a prefix of its own; answers the bytes of every key under it (or those `which` keeps). */
async function measure(
  redisUrl: string,
  fn: (store: Store, queue: BullMqRunQueue) => Promise<{ ok: boolean }>,
  which: (key: string) => boolean = () => true,
): Promise<{ bytes: number; ok: boolean }> {
  const prefix = `bxfoot${randomUUID().slice(0, 8)}`;
  const store = Store.connect(redisUrl, prefix);
  const queue = new BullMqRunQueue({ redis: { url: redisUrl }, prefix, attempts: 3, backoffMs: 1000 });
  try {
    const { ok } = await fn(store, queue);
    let bytes = 0;
    let cursor = '0';
    do {
      const [next, keys] = await store.redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys.filter(which)) bytes += Number((await store.redis.memory('USAGE', key)) ?? 0);
    } while (cursor !== '0');
    return { bytes, ok };
  } finally {
    await dropStoreAndQueue(store, queue, prefix);
  }
}

function exportOf(overrides: Partial<BatchExport>): BatchExport {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    name: 'footprint',
    team_id: 1,
    interval: 'hour',
    timezone: 'UTC',
    model: 'events',
    include_events: [],
    exclude_events: [],
    paused: false,
    start_at: null,
    end_at: null,
    destination: {
      type: 'S3',
      config: {
        bucket_name: 'bx-bench',
        region: 'us-east-1',
        prefix: 'footprint',
        aws_access_key_id: 'S3RVER',
        aws_secret_access_key: 'S3RVER',
        file_format: 'JSONLines',
        compression: null,
      },
    },
    created_at: now,
    updated_at: now,
    ...overrides,
  };
}

/** `npx tsx bench/redis-footprint.ts [--quick]`: prints the figures and puts them into bench/results.json. */
if (require.main === module) {
  const quick = process.argv.includes('--quick');
  redisFootprint(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { quick })
    .then((result) => {
      saveResults({ ...readResults(), ...result, footprint_measured_at: new Date().toISOString() });
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      process.exit(0);
    })
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    });
}
