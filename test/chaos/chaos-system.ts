import type { S3Client } from '@aws-sdk/client-s3';
import { createLogger, type BatchExport, type Run, type RunStatus } from '@bx/core';
import { BackfillService, ExportService, type Backfill } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestClickHouse } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { HttpFaultProxy } from '../helpers/http-fault-proxy';
import { ServiceProcess, sleep } from '../helpers/processes';
import { createBucket, testS3Client } from '../helpers/s3';
import { chaosServices } from './chaos-services';
import type { IntervalPlan } from './seed';
import type { Scenario } from './summary';
import { verifyExport } from './verify';

/** Preload that shifts a process's clock by TEST_CLOCK_SKEW_MS. */
export const CLOCK_SKEW_PRELOAD = join(__dirname, 'clock-skew.cjs');

/** Runs a worker has started and not yet finished, from its log. */
export function inFlight(worker: ServiceProcess): string[] {
  const open = new Set<string>();
  for (const line of worker.logs) {
    const runId = line.run_id as string | undefined;
    if (!runId) continue;
    if (line.msg === 'run started') open.add(runId);
    else if (String(line.msg).startsWith('run ')) open.delete(runId);
  }
  return [...open];
}

/** Settings that make recovery quick enough for a test: short locks, fast stall checks, short backoff. */
const FAST_RECOVERY = {
  SCHEDULER_TICK_MS: '200',
  SCHEDULER_SETTLE_SECONDS: '0',
  WORKER_LOCK_DURATION_MS: '3000',
  WORKER_STALLED_INTERVAL_MS: '1000',
  RUN_BACKOFF_MS: '200',
  RUN_MAX_ATTEMPTS: '20',
  WORKER_CONCURRENCY: '2',
  SHUTDOWN_GRACE_MS: '0',
  LOG_LEVEL: 'info',
};

/**
 * The real system for one scenario: scheduler and worker processes over the
 * chaos services, with a queue prefix, ClickHouse database and bucket of its
 * own, and S3 reached through a fault-injecting proxy. The test process plays
 * the operator (creates exports and backfills as the API would) and the auditor.
 */
export class ChaosSystem {
  /** On a Redis Cluster (REDIS_CLUSTER_NODES among the overrides) the prefix needs a hash tag. */
  readonly prefix: string;
  readonly logger = createLogger({}, 'error');
  readonly store: Store;
  readonly queue: BullMqRunQueue;
  readonly exports: ExportService;
  readonly backfills: BackfillService;
  readonly ch = new TestClickHouse();
  readonly s3: S3Client = testS3Client();
  readonly proxy = new HttpFaultProxy(chaosServices.s3Port);
  bucket = '';
  readonly workers: ServiceProcess[] = [];
  readonly schedulers: ServiceProcess[] = [];
  /** Every process started, killed ones included, for their logs. */
  readonly processes: ServiceProcess[] = [];
  private env: Record<string, string> = {};
  private readonly killed = new Set<ServiceProcess>();

  constructor(private readonly overrides: Record<string, string> = {}) {
    const clusterNodes = overrides.REDIS_CLUSTER_NODES;
    this.prefix = clusterNodes ? `{${uniqueName('bxc')}}` : uniqueName('bxc');
    const redis = { url: testEnv.REDIS_URL, clusterNodes: clusterNodes ? clusterNodes.split(',') : undefined };
    this.store = Store.connect(redis, this.prefix);
    this.queue = new BullMqRunQueue({
      redis,
      prefix: this.prefix,
      attempts: 20,
      backoffMs: 200,
    });
    this.exports = new ExportService(this.store, this.queue, this.logger);
    this.backfills = new BackfillService(this.store, this.queue, this.logger);
    // Redis restarts are part of the plan: the clients reconnect, nothing to report.
    this.store.redis.on('error', () => undefined);
  }

  async setup(): Promise<this> {
    await this.ch.setup();
    await this.proxy.start();
    this.bucket = await createBucket(this.s3);
    this.env = {
      REDIS_URL: testEnv.REDIS_URL,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_DATABASE: this.ch.database,
      QUEUE_PREFIX: this.prefix,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...FAST_RECOVERY,
      ...this.overrides,
    };
    return this;
  }

  /** Starts worker processes; resolves once all of them take jobs. */
  async startWorkers(count: number, extra: Record<string, string> = {}): Promise<ServiceProcess[]> {
    const started = Array.from({ length: count }, () => this.spawnWorker(extra));
    await Promise.all(started.map((w) => w.waitForLog('worker started')));
    return started;
  }

  /** Starts a worker process without waiting for it (it joins when ready). */
  spawnWorker(extra: Record<string, string> = {}): ServiceProcess {
    const worker = this.spawn('worker', extra);
    this.workers.push(worker);
    return worker;
  }

  async startScheduler(extra: Record<string, string> = {}): Promise<ServiceProcess> {
    const scheduler = this.spawn('scheduler', extra);
    this.schedulers.push(scheduler);
    await scheduler.waitForLog('scheduler started');
    return scheduler;
  }

  /** SIGKILL: no shutdown, no clean-up, the lock stays until it expires. */
  async killWorker(worker: ServiceProcess): Promise<void> {
    this.workers.splice(this.workers.indexOf(worker), 1);
    this.killed.add(worker);
    await worker.stop('SIGKILL');
  }

  /** SIGSTOP: the worker freezes mid-whatever (a paused VM, a long GC pause); its lock runs out, its sockets stay open. */
  freeze(worker: ServiceProcess): void {
    process.kill(worker.pid, 'SIGSTOP');
  }

  /** SIGCONT: a frozen worker carries on from where it was, unaware of the time that passed. */
  thaw(worker: ServiceProcess): void {
    process.kill(worker.pid, 'SIGCONT');
  }

  /** SIGTERM (a deployment, an operator): the worker shuts down; `SHUTDOWN_GRACE_MS` 0 aborts its runs at once. */
  async terminateWorker(worker: ServiceProcess, before?: () => void): Promise<void> {
    this.workers.splice(this.workers.indexOf(worker), 1);
    this.killed.add(worker);
    const exited = worker.stop('SIGTERM');
    before?.();
    await exited;
  }

  /** SIGKILL of a scheduler: mid-tick or mid-backfill-step, its backfill lock stays until it expires. */
  async killScheduler(scheduler: ServiceProcess): Promise<void> {
    this.schedulers.splice(this.schedulers.indexOf(scheduler), 1);
    this.killed.add(scheduler);
    await scheduler.stop('SIGKILL');
  }

  /**
   * Multipart uploads neither completed nor aborted: `known` ones the product
   * had the id of (and must have closed), `orphaned` ones whose creation answer
   * a reset dropped, so no attempt ever learned of them.
   */
  uploadsLeftOpen(): { known: string[]; orphaned: string[] } {
    const open = this.proxy.openUploads();
    return {
      known: open.filter((u) => u.delivered).map((u) => u.key),
      orphaned: open.filter((u) => !u.delivered).map((u) => u.key),
    };
  }

  /** Processes that died without being killed by the test, with their last words. */
  crashed(): string[] {
    return this.processes
      .filter((p) => !p.running && !this.killed.has(p))
      .map((p) => `${p.role} ${p.pid}: ${p.stderr.join('').slice(-300)}`);
  }

  /** An hourly (or other) S3 export, gzip JSON Lines, written through the proxy. */
  async createExport(body: {
    team_id: number;
    interval?: string;
    start_at?: string;
    end_at?: string;
    paused?: boolean;
    config?: Record<string, unknown>;
  }): Promise<BatchExport> {
    return this.exports.create({
      name: `chaos team ${body.team_id}`,
      team_id: body.team_id,
      interval: body.interval ?? 'hour',
      start_at: body.start_at,
      end_at: body.end_at,
      paused: body.paused ?? false,
      destination: {
        type: 'S3',
        config: {
          bucket_name: this.bucket,
          endpoint_url: this.proxy.url,
          prefix: `team-${body.team_id}/{year}-{month}-{day}`,
          compression: 'gzip',
          ...S3_CREDENTIALS,
          ...body.config,
        },
      },
    });
  }

  /**
   * An export that is never scheduled (it ends where the range does) and a
   * backfill of the range: the backfill is the only source of its runs.
   */
  async backfilled(
    teamId: number,
    range: { start_at: string; end_at: string },
    config?: Record<string, unknown>,
  ): Promise<{ exp: BatchExport; backfill: Backfill }> {
    const exp = await this.createExport({ team_id: teamId, end_at: range.end_at, config });
    const created = await this.backfills.create(exp.id, { ...range, confirm: true });
    if (!('backfill' in created)) throw new Error('backfill not created');
    return { exp, backfill: created.backfill };
  }

  /** The export's runs, oldest interval first; retries while Redis is away. */
  async runs(exportId: string): Promise<Run[]> {
    for (let tries = 0; ; tries++) {
      try {
        return (await this.store.runs.list(exportId, { limit: 10_000 })).reverse();
      } catch (err) {
        if (tries >= 50) throw err;
        await sleep(200);
      }
    }
  }

  /**
   * Waits until at least `n` runs have completed (the fault is injected mid-way), and `running`
   * of them are Running if asked; returns the runs then.
   */
  async completedAtLeast(exportId: string, n: number, timeoutMs = 60_000, running = 0): Promise<Run[]> {
    for (const until = Date.now() + timeoutMs; ; await sleep(100)) {
      const runs = await this.runs(exportId);
      const count = (status: RunStatus) => runs.filter((r) => r.status === status).length;
      if (count('Completed') >= n && count('Running') >= running) return runs;
      if (Date.now() > until) throw new Error(`not ${n} runs completed and ${running} running after ${timeoutMs} ms`);
    }
  }

  /** Waits until `count` runs exist and all have a final status. */
  async settled(
    exportId: string,
    count: number,
    timeoutMs: number,
    final: RunStatus[] = ['Completed'],
  ): Promise<Run[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const runs = await this.runs(exportId);
      if (runs.length >= count && runs.every((r) => final.includes(r.status))) return runs;
      if (Date.now() > deadline) {
        const by = runs.reduce<Record<string, number>>(
          (acc, r) => ({ ...acc, [r.status]: (acc[r.status] ?? 0) + 1 }),
          {},
        );
        throw new Error(`runs not settled after ${timeoutMs} ms: ${runs.length}/${count} runs, ${JSON.stringify(by)}`);
      }
      await sleep(250);
    }
  }

  /**
   * Waits for every run of `intervals` to complete, then checks each with its interval's row
   * count and every row once under `team-` in the bucket; returns the runs, oldest first.
   */
  async checkAllExported(
    scenario: Scenario,
    exportId: string,
    teamId: number,
    intervals: readonly IntervalPlan[],
    timeoutMs = 90_000,
  ): Promise<Run[]> {
    const runs = await this.settled(exportId, intervals.length, timeoutMs);
    const spans = intervals.map((p) => p.span);
    scenario.checkExact(await verifyExport({ ...this, teamId, spans, prefix: 'team-' }));
    scenario.check(
      runs.every((r, i) => r.status === 'Completed' && r.records_completed === intervals[i]!.rows),
      'every run Completed with its interval’s row count',
    );
    return runs;
  }

  /** The checks that end most scenarios: no upload left open, no run dead-lettered, no process died on its own. */
  async checkClean(scenario: Scenario): Promise<void> {
    const open = this.uploadsLeftOpen();
    scenario.check(open.known.length === 0, `multipart uploads left open: ${open.known.join(', ')}`);
    scenario.check((await this.queue.deadLetterIds()).length === 0, 'no run dead-lettered');
    scenario.check(this.crashed().length === 0, `processes died on their own: ${this.crashed().join('; ')}`);
  }

  /** Log lines with `msg` across every process started. */
  logs(msg: string): Array<Record<string, unknown>> {
    return this.processes.flatMap((p) => p.logs.filter((l) => l.msg === msg));
  }

  /** Writes every process's log lines (JSON) and stderr to `<dir>/<prefix>/`; returns that folder. */
  saveLogs(dir = process.env.CHAOS_LOG_DIR ?? join(__dirname, '..', '..', '.local', 'chaos-logs')): string {
    const folder = join(dir, this.prefix);
    mkdirSync(folder, { recursive: true });
    for (const p of this.processes) {
      const lines = [...p.logs.map((l) => JSON.stringify(l)), ...p.stderr];
      writeFileSync(join(folder, `${p.role}-${p.pid}.log`), lines.join('\n') + '\n');
    }
    return folder;
  }

  async teardown(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop('SIGKILL')));
    if (process.env.CHAOS_LOG_DIR) this.saveLogs();
    await this.proxy.stop();
    await this.queue.obliterate().catch(() => undefined);
    const keys = await this.store.redis.keys(`${this.prefix}:*`).catch((): string[] => []);
    if (keys.length) await this.store.redis.del(...keys);
    await Promise.all([this.queue.close(), this.store.close()]);
    await this.ch.drop().catch(() => undefined);
  }

  private spawn(role: 'worker' | 'scheduler', extra: Record<string, string>): ServiceProcess {
    const child = new ServiceProcess(role, { ...this.env, ...extra });
    this.processes.push(child);
    return child;
  }
}
