import { expect } from 'chai';
import type { DestinationConfig, Run } from '@bx/core';
import { verifyMain } from '@bx/cli';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { TestClickHouse } from './clickhouse';
import { TEST_ALLOWED_PRIVATE, TEST_SECRETS_KEY, testEnv, uniqueName } from './env';
import { chTime, makeEvent, type SourceEvent } from './events';
import { ServiceProcess, eventually } from './processes';
import { dropStoreAndQueue } from './redis-prefix';

export const HOUR = 3_600_000;
/** The admin API token of the system's processes. */
export const E2E_TOKEN = 'e2e-token-0123456789abcdef';

/**
 * `hours` past hourly intervals ending at the last whole hour: for team 1
 * each interval's first and last second, 30 events between and, with
 * `bigProperties`, one of 100 KB of properties; one event of team 2.
 */
export function seedHours(base: number, hours: number, opts: { bigProperties?: boolean } = {}): SourceEvent[] {
  const events: SourceEvent[] = [];
  const at = (ms: number) => chTime(new Date(ms).toISOString());
  for (let h = 0; h < hours; h++) {
    const start = base + h * HOUR;
    events.push(makeEvent({ inserted_at: at(start) }), makeEvent({ inserted_at: at(start + HOUR - 1000) }));
    if (opts.bigProperties)
      events.push(
        makeEvent({ inserted_at: at(start + 1800_000), properties: JSON.stringify({ big: 'x'.repeat(100_000) }) }),
      );
    for (let i = 0; i < 30; i++) events.push(makeEvent({ inserted_at: at(start + 60_000 + i * 97_000) }));
    events.push(makeEvent({ team_id: 2, inserted_at: at(start + 60_000) }));
  }
  return events;
}

/**
 * The whole system as separate processes (API, scheduler, worker, as in
 * production) over ClickHouse 18.16 (a database of its own) and Redis (a
 * prefix of its own), with `hours` seeded intervals before the current hour.
 * Shared by the tests of one file, which run in order; stop() removes it all.
 */
export class E2eSystem {
  readonly hours: number;
  /** The first seeded interval's start, epoch ms. */
  readonly base: number;
  readonly prefix: string;
  ch!: TestClickHouse;
  store!: Store;
  queue!: BullMqRunQueue;
  readonly services: ServiceProcess[] = [];
  /** The API's port (it picks a free one). */
  port = 0;
  private env: Record<string, string> = {};

  constructor(opts: { prefix: string; hours?: number }) {
    this.hours = opts.hours ?? 3;
    this.base = Math.floor(Date.now() / HOUR) * HOUR - this.hours * HOUR;
    this.prefix = uniqueName(opts.prefix);
  }

  /** The end of the seeded intervals, epoch ms. */
  get end(): number {
    return this.base + this.hours * HOUR;
  }

  /** Seeds ClickHouse with `events`, then starts the API, the scheduler and the worker with `env` added. */
  async start(events: SourceEvent[], env: Record<string, string> = {}): Promise<this> {
    this.store = Store.connect(testEnv.REDIS_URL, this.prefix);
    this.queue = new BullMqRunQueue({
      redis: { url: testEnv.REDIS_URL },
      prefix: this.prefix,
      attempts: 5,
      backoffMs: 200,
    });
    this.ch = await new TestClickHouse().setup();
    await this.ch.insert(events);
    this.env = {
      REDIS_URL: testEnv.REDIS_URL,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_DATABASE: this.ch.database,
      QUEUE_PREFIX: this.prefix,
      ADMIN_API_TOKEN: E2E_TOKEN,
      SCHEDULER_TICK_MS: '200',
      SCHEDULER_SETTLE_SECONDS: '0',
      RUN_BACKOFF_MS: '200',
      ...env,
    };
    this.port = (await this.startService('api', { PORT: '0' }, 'api listening')).port;
    await this.startService('scheduler');
    await this.startService('worker');
    return this;
  }

  /** One more process of the system (a worker to replace one killed, say), once it logs `ready`. */
  async startService(
    role: ServiceProcess['role'],
    extra: Record<string, string> = {},
    ready = `${role} started`,
  ): Promise<ServiceProcess> {
    const service = new ServiceProcess(role, { ...this.env, ...extra });
    this.services.push(service);
    await service.waitForLog(ready);
    return service;
  }

  /** The running worker (the last started). */
  get worker(): ServiceProcess {
    return this.services.filter((s) => s.role === 'worker').at(-1)!;
  }

  async stop(): Promise<void> {
    await Promise.all(this.services.map((s) => s.stop('SIGKILL')));
    if (this.store) await dropStoreAndQueue(this.store, this.queue, this.prefix);
    await this.ch?.drop();
  }

  /** A request to the admin API with the token; the body parsed (null when not JSON). */
  async api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as T };
  }

  /** An hourly export of team 1 named `name` from `startAt` to the end of the seeded hours; answers what the API does. */
  async createExport(
    name: string,
    destination: DestinationConfig,
    startAt = this.base,
  ): Promise<{ id: string; destination: { config: Record<string, unknown> } }> {
    const { status, body } = await this.api<{ id: string; destination: { config: Record<string, unknown> } }>(
      'POST',
      '/api/exports',
      {
        name,
        team_id: 1,
        interval: 'hour',
        start_at: new Date(startAt).toISOString(),
        // Exactly the seeded hours, also when the clock passes an hour mid-test.
        end_at: new Date(this.end).toISOString(),
        destination,
      },
    );
    expect(status, JSON.stringify(body)).to.equal(201);
    return body;
  }

  /** Waits for `count` runs of the export, all with `status`; a run that fails unexpectedly fails the wait. */
  async runs(exportId: string, count: number, status: Run['status'] = 'Completed'): Promise<Run[]> {
    return eventually(
      async () => {
        const list = (await this.api<{ results: Run[] }>('GET', `/api/exports/${exportId}/runs`)).body.results;
        const failed = list.find((r) => r.status === 'Failed' && status !== 'Failed');
        if (failed) throw new Error(`run failed: ${failed.error}`);
        return list.length >= count && list.every((r) => r.status === status) ? list : undefined;
      },
      60_000,
      `${count} ${status} runs of ${exportId}`,
    );
  }

  /** `npm run verify` of the export over the seeded hours: its exit code and what it printed. */
  async verify(exportId: string): Promise<{ code: number; stdout: string }> {
    let stdout = '';
    const write = { write: (s: string) => (stdout += s) };
    const env = {
      REDIS_URL: testEnv.REDIS_URL,
      QUEUE_PREFIX: this.prefix,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_DATABASE: this.ch.database,
      SECRETS_ENCRYPTION_KEYS: TEST_SECRETS_KEY,
      // The test servers listen on loopback: verify holds destinations to the policy as runs do.
      ALLOWED_PRIVATE_DESTINATIONS: TEST_ALLOWED_PRIVATE,
    };
    const range = ['--start', new Date(this.base).toISOString(), '--end', new Date(this.end).toISOString()];
    const code = await verifyMain(['--export-id', exportId, ...range], env, write, write);
    return { code, stdout };
  }

  /** Every process's log lines as JSON text, and with `stderr` what they wrote there. */
  logs(stderr = false): string {
    return this.services
      .map((s) => s.logs.map((l) => JSON.stringify(l)).join('\n') + (stderr ? s.stderr.join('') : ''))
      .join('\n');
  }
}
