/**
 * One scheduler tick in a process of its own, for the scale benchmark
 * (bench/scale.ts): `REDIS_URL=... QUEUE_PREFIX=... TICK_AT=<epoch ms> npx tsx
 * bench/scale-tick.ts`. Prints `{seconds, cpu_seconds, exports, enqueued}`
 * as one JSON line. Two of them at once are two schedulers.
 */
import { createLogger } from '@bx/core';
import { BullMqRunQueue } from '@bx/queue';
import { Scheduler } from '@bx/scheduler';
import { Store } from '@bx/store';

async function main(): Promise<void> {
  const url = process.env.REDIS_URL!;
  const prefix = process.env.QUEUE_PREFIX!;
  const at = Number(process.env.TICK_AT);
  const store = Store.connect(url, prefix);
  const queue = new BullMqRunQueue({ redis: { url }, prefix, attempts: 15, backoffMs: 10_000 });
  const scheduler = new Scheduler({ store, queue, logger: createLogger({}, 'error'), settleMs: 0 });
  await store.assertReachable();
  // Both schedulers of a pair start together: the parent releases them with a line on stdin.
  if (process.env.TICK_WAIT === '1') {
    process.stdout.write('ready\n');
    await new Promise((resolve) => process.stdin.once('data', resolve));
  }
  const cpu = process.cpuUsage();
  const began = process.hrtime.bigint();
  const result = await scheduler.tick(at);
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  const used = process.cpuUsage(cpu);
  process.stdout.write(JSON.stringify({ seconds, cpu_seconds: (used.user + used.system) / 1e6, ...result }) + '\n');
  await queue.close();
  await store.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
