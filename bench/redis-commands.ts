/**
 * `npx tsx bench/redis-commands.ts [--runs N] [--concurrency C]`: every
 * Redis command a worker process sends while it runs N tiny runs (0-3
 * events, S3 JSON Lines + gzip), recorded with MONITOR on a Redis of its own
 * and told apart by the module that sends it: BullMQ's scripts and commands,
 * the store's scripts and commands. A script call counts once as a round
 * trip and its inner calls as the Redis work. docs/scaling.md keeps the table.
 */
import { createLogger } from '@bx/core';
import { BullMqRunQueue } from '@bx/queue';
import { Scheduler } from '@bx/scheduler';
import { Store } from '@bx/store';
import { LuaScripts } from '@bx/redis';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { benchBucket } from './bench-bucket';
import { createFiveMinuteExports, FIVE_MINUTES, generateTinyIntervals } from './scale-data';
import { ScaleServices } from './scale-services';
import { WorkerProcess } from './worker-process';

const DATABASE = 'bx_bench_redis_commands';
const PREFIX = 'bxm';

interface Call {
  /** `bullmq` or `store`/`queue` (ours). */
  module: string;
  /** The script's name, or the command. */
  name: string;
  /** Commands a script ran inside, by name. */
  inner: Record<string, number>;
}

/** sha1 of every script's text → `module:name`, as ioredis's EVALSHA names it. */
function scriptNames(): Map<string, { module: string; name: string }> {
  const sha = (text: string) => createHash('sha1').update(text).digest('hex');
  const names = new Map<string, { module: string; name: string }>();
  const bullDir = join(require.resolve('bullmq'), '..', 'scripts');
  for (const file of readdirSync(bullDir).filter((f) => /-\d+\.js$/.test(f))) {
    const script = Object.values(require(join(bullDir, file)) as Record<string, { name: string; content: string }>)[0];
    if (script) names.set(sha(script.content), { module: 'bullmq', name: script.name });
  }
  for (const pkg of ['store', 'queue']) {
    const root = join(__dirname, '..', 'packages', pkg);
    const scripts = new LuaScripts(root);
    for (const file of readdirSync(join(root, 'lua')).filter((f) => f.endsWith('.lua'))) {
      const name = file.slice(0, -4);
      names.set(sha(scripts.source(name)), { module: pkg, name });
    }
  }
  return names;
}

/** Which module a plain command came from: BullMQ's keys are under `<prefix>:export-runs`. */
function moduleOfKey(args: string[]): string {
  const key = args.find((a) => a.startsWith(`${PREFIX}:`));
  if (!key) return 'bullmq';
  return key.startsWith(`${PREFIX}:export-runs`) ? 'bullmq' : 'store';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '200' }, concurrency: { type: 'string', default: '16' } },
  });
  const runs = Number(values.runs);
  const clickhouseUrl = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
  const services = await new ScaleServices().start();
  const admin = new Redis(services.redisUrl);
  const monitor = await new Redis(services.redisUrl).monitor();
  const worker = new WorkerProcess({
    REDIS_URL: services.redisUrl,
    CLICKHOUSE_URL: clickhouseUrl,
    CLICKHOUSE_DATABASE: DATABASE,
    QUEUE_PREFIX: PREFIX,
    WORKER_CONCURRENCY: values.concurrency!,
  });
  try {
    await worker.started();
    await new Promise((r) => setTimeout(r, 2000));
    // Every client connected now but this script's admin and MONITOR connections is the worker's.
    const workerAddrs = new Set(
      String(await admin.client('LIST'))
        .split('\n')
        .filter((line) => line.includes('addr=') && !/cmd=(monitor|client)/.test(line))
        .map((line) => /addr=(\S+)/.exec(line)![1]!),
    );
    const boundary = Math.floor(Date.now() / FIVE_MINUTES) * FIVE_MINUTES;
    const first = boundary - 4 * FIVE_MINUTES;
    await generateTinyIntervals(clickhouseUrl, DATABASE, runs, first, 1);
    const store = Store.connect(services.redisUrl, PREFIX);
    await createFiveMinuteExports(store, runs, first, await benchBucket(services.s3Url, 'bx-commands'));
    const names = scriptNames();
    const calls: Call[] = [];
    let last: Call | null = null;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === 'lua') {
        if (last) last.inner[args[0]!.toUpperCase()] = (last.inner[args[0]!.toUpperCase()] ?? 0) + 1;
        return;
      }
      last = null;
      if (!workerAddrs.has(source)) return;
      const command = args[0]!.toUpperCase();
      const script = command === 'EVALSHA' || command === 'EVAL' ? names.get(sha(args)) : undefined;
      last = script ? { ...script, inner: {} } : { module: moduleOfKey(args.slice(1)), name: command, inner: {} };
      calls.push(last);
    });

    const queue = new BullMqRunQueue({
      redis: { url: services.redisUrl },
      prefix: PREFIX,
      attempts: 15,
      backoffMs: 10_000,
    });
    const scheduler = new Scheduler({ store, queue, logger: createLogger({}, 'error'), settleMs: 0 });
    const began = Date.now();
    const tick = await scheduler.tick(first + FIVE_MINUTES);
    for (;;) {
      const done = Number((await admin.hget(store.keys.runsByStatus, 'Completed')) ?? 0);
      if (done >= tick.enqueued) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (Date.now() - began) / 1000;
    // What the worker does when idle meanwhile (blocking waits, stalled checks) is counted too.
    await new Promise((r) => setTimeout(r, 200));
    report(calls, tick.enqueued, seconds);
    await queue.close();
    await store.close();
  } finally {
    await worker.stop().catch(() => undefined);
    monitor.disconnect();
    admin.disconnect();
    services.stop();
  }

  function sha(args: string[]): string {
    if (args[0]!.toUpperCase() !== 'EVAL') return args[1]!;
    return createHash('sha1').update(unquote(args[1]!)).digest('hex');
  }
}

/** A MONITOR argument's bytes as sent: Redis shows them with C escapes (sdscatrepr), ioredis leaves those as they are. */
function unquote(text: string): Buffer {
  const named: Record<string, number> = { n: 10, r: 13, t: 9, a: 7, b: 8 };
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const next = text[++i]!;
    if (next === 'x') {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(named[next] ?? next.charCodeAt(0));
  }
  return Buffer.from(bytes);
}

function report(calls: Call[], runs: number, seconds: number): void {
  const rows = new Map<string, { module: string; name: string; calls: number; inner: Record<string, number> }>();
  for (const call of calls) {
    const key = `${call.module} ${call.name}`;
    const row = rows.get(key) ?? { module: call.module, name: call.name, calls: 0, inner: {} };
    row.calls++;
    for (const [name, n] of Object.entries(call.inner)) row.inner[name] = (row.inner[name] ?? 0) + n;
    rows.set(key, row);
  }
  const per = (n: number) => Math.round((n / runs) * 100) / 100;
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  const out = [...rows.values()].sort((a, b) => a.module.localeCompare(b.module) || b.calls - a.calls);
  let total = 0;
  let trips = 0;
  process.stdout.write(`${runs} runs in ${seconds.toFixed(1)} s\n\n`);
  process.stdout.write('| module | call | calls/run | commands inside/run | inner commands |\n|---|---|---|---|---|\n');
  for (const row of out) {
    const inner = sum(row.inner);
    total += row.calls + inner;
    trips += row.calls;
    const detail = Object.entries(row.inner)
      .sort((a, b) => b[1] - a[1])
      .map(([name, n]) => `${name} ${per(n)}`)
      .join(', ');
    process.stdout.write(`| ${row.module} | ${row.name} | ${per(row.calls)} | ${per(inner)} | ${detail} |\n`);
  }
  process.stdout.write(`\ncalls per run ${per(trips)}, commands per run (inner included) ${per(total)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
