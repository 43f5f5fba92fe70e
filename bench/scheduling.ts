import { createLogger, intervalContaining, type BatchExport } from '@bx/core';
import { BackfillService } from '@bx/operations';
import type { RunQueue } from '@bx/queue';
import { Scheduler } from '@bx/scheduler';
import type { Store } from '@bx/store';
import { randomUUID } from 'node:crypto';

const HOUR = 3_600_000;
const logger = createLogger({}, 'error');

/** Stores `count` hourly S3 exports whose next interval is `cursor`, in pipelined batches. */
async function createExports(store: Store, count: number, cursor: number, due: number | null): Promise<string[]> {
  const ids: string[] = [];
  const now = new Date().toISOString();
  for (let i = 0; i < count; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, count - i) }, async () => {
        const exp: BatchExport = {
          id: randomUUID(),
          name: 'bench',
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
              prefix: 'scheduling',
              // Local S3 server: the backfill behind the probe really runs (empty intervals).
              endpoint_url: process.env.S3_ENDPOINT_URL ?? 'http://127.0.0.1:4568',
              aws_access_key_id: 'S3RVER',
              aws_secret_access_key: 'S3RVER',
              file_format: 'JSONLines',
              compression: null,
            },
          },
          created_at: now,
          updated_at: now,
        };
        await store.exports.create(exp, cursor, due);
        ids.push(exp.id);
      }),
    );
  }
  return ids;
}

/**
 * CPU seconds used by this process and by Redis (main thread, all its
 * clients) while `fn` runs: less sensitive than wall time to other load on
 * the machine.
 */
async function cpuOf<T>(store: Store, fn: () => Promise<T>): Promise<{ result: T; nodeCpu: number; redisCpu: number }> {
  const redisCpu = async () => {
    const info = await store.redis.info('cpu');
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
    return field('used_cpu_user_main_thread') + field('used_cpu_sys_main_thread');
  };
  const redisBefore = await redisCpu();
  const nodeBefore = process.cpuUsage();
  const result = await fn();
  const node = process.cpuUsage(nodeBefore);
  return { result, nodeCpu: (node.user + node.system) / 1e6, redisCpu: (await redisCpu()) - redisBefore };
}

export interface SchedulingResult {
  tick10kSeconds: number;
  /** CPU seconds of the tick in this process and in Redis. */
  tickNodeCpuSeconds: number;
  tickRedisCpuSeconds: number;
  /** The same scheduler's tick when none of 20,000 exports is due: cost follows due exports. */
  tickNoneDueSeconds: number;
  enqueued: number;
}

/** One scheduler tick over 10,000 due hourly exports (plus 10,000 not due). */
export async function schedulerTick(store: Store, queue: RunQueue): Promise<SchedulingResult> {
  const now = Date.now();
  const current = intervalContaining(now, 'hour', 'UTC').start;
  await createExports(store, 10_000, current - HOUR, current);
  await createExports(store, 10_000, current, current + HOUR);
  const scheduler = new Scheduler({ store, queue, logger, settleMs: 0 });
  let began = process.hrtime.bigint();
  const { result, nodeCpu, redisCpu } = await cpuOf(store, () => scheduler.tick(now));
  const tick10kSeconds = Number(process.hrtime.bigint() - began) / 1e9;
  began = process.hrtime.bigint();
  await scheduler.tick(now);
  const tickNoneDueSeconds = Number(process.hrtime.bigint() - began) / 1e9;
  return {
    tick10kSeconds,
    tickNodeCpuSeconds: nodeCpu,
    tickRedisCpuSeconds: redisCpu,
    tickNoneDueSeconds,
    enqueued: result.enqueued,
  };
}

/** Time to accept a backfill of 10,000 hourly intervals (the API's code path). */
export async function backfillAccept(
  store: Store,
  queue: RunQueue,
): Promise<{ seconds: number; nodeCpuSeconds: number; redisCpuSeconds: number; runs: number }> {
  const current = intervalContaining(Date.now(), 'hour', 'UTC').start;
  const [id] = await createExports(store, 1, current, null);
  const service = new BackfillService(store, queue, logger);
  const began = process.hrtime.bigint();
  const { result, nodeCpu, redisCpu } = await cpuOf(store, () =>
    service.create(id!, {
      start_at: new Date(current - 10_000 * HOUR).toISOString(),
      end_at: new Date(current).toISOString(),
      confirm: true,
    }),
  );
  if (!('backfill' in result)) throw new Error('backfill not created');
  return {
    seconds: Number(process.hrtime.bigint() - began) / 1e9,
    nodeCpuSeconds: nodeCpu,
    redisCpuSeconds: redisCpu,
    runs: result.backfill.total_runs,
  };
}
