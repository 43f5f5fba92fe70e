import { createLogger, intervalContaining, runIdFor } from '@bx/core';
import { ExportService } from '@bx/operations';
import type { RunQueue } from '@bx/queue';
import { Scheduler } from '@bx/scheduler';
import type { Store } from '@bx/store';

/** Schedules one due run while a backfill is queued; seconds from its enqueue until a worker starts it. */
export async function schedulerWaitProbe(store: Store, queue: RunQueue): Promise<number> {
  const logger = createLogger({}, 'error');
  const now = Date.now();
  const previous = intervalContaining(now, 'hour', 'UTC').start - 3_600_000;
  const service = new ExportService(store, queue, logger, () => previous + 60_000);
  const exp = await service.create({
    name: 'probe',
    team_id: 3,
    interval: 'hour',
    destination: {
      type: 'S3',
      config: {
        bucket_name: 'bx-bench',
        endpoint_url: process.env.S3_ENDPOINT_URL ?? 'http://127.0.0.1:4568',
        aws_access_key_id: 'S3RVER',
        aws_secret_access_key: 'S3RVER',
      },
    },
  });
  const began = Date.now();
  await new Scheduler({ store, queue, logger, settleMs: 0 }).tick(now);
  const runId = runIdFor(exp.id, previous);
  while (Date.now() - began < 120_000) {
    const run = await store.runs.get(runId);
    if (run && run.status !== 'Scheduled') return (Date.parse(run.started_at!) - began) / 1000;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the scheduled run did not start within 120 s behind the backfill');
}
