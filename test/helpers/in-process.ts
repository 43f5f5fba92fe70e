import { createApp } from '@bx/api';
import { ClickHouseSource } from '@bx/clickhouse';
import { NetworkPolicy, createLogger, type Run } from '@bx/core';
import { checkDestination, writerFor } from '@bx/destinations';
import { BackfillService, ExportService, FailurePolicy, RunService } from '@bx/operations';
import { BullMqRunQueue, type RunWorker } from '@bx/queue';
import { Scheduler } from '@bx/scheduler';
import { Store } from '@bx/store';
import { createRunProcessor } from '@bx/worker';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TEST_ALLOWED_PRIVATE, testEnv, uniqueName } from './env';
import { eventually } from './processes';
import { QueueInspector } from './queue-inspector';
import { deleteKeysUnder } from './redis-keys';
import { sourceConfig } from './run-context';

export const TOKEN = 'in-process-token-0123456789';

/** API, scheduler and a worker in the test process, over the real Redis, ClickHouse and S3 server. */
export class InProcessSystem {
  readonly prefix = uniqueName('bxo');
  readonly logger = createLogger({}, 'error');
  readonly store = Store.connect(testEnv.REDIS_URL, this.prefix);
  readonly queue = new BullMqRunQueue({
    redis: { url: testEnv.REDIS_URL },
    prefix: this.prefix,
    attempts: 3,
    backoffMs: 100,
  });
  readonly source = new ClickHouseSource({
    url: testEnv.CLICKHOUSE_URL,
    username: 'default',
    password: '',
    requestTimeoutMs: 60_000,
  });
  readonly scheduler = new Scheduler({ store: this.store, queue: this.queue, logger: this.logger, settleMs: 0 });
  /** ALLOWED_PRIVATE_DESTINATIONS: loopback, where the test servers listen. */
  readonly network = NetworkPolicy.parse(TEST_ALLOWED_PRIVATE);
  readonly exports = new ExportService(this.store, this.queue, this.logger, undefined, { network: this.network });
  worker: RunWorker | null = null;
  /** BullMQ's view of this system's queues (tests look, never change). */
  readonly bullmq = new QueueInspector(this.prefix);
  private server: Server | null = null;
  base = '';

  constructor(private readonly database: string) {}

  async start(): Promise<this> {
    const app = createApp({
      token: TOKEN,
      service: this.exports,
      runs: new RunService(this.store, this.queue, this.logger),
      backfills: new BackfillService(this.store, this.queue, this.logger),
      store: this.store,
      queue: this.queue,
      bullBoardReadOnly: false,
      clickhouse: this.source,
      logger: this.logger,
      checkDestination: (destination, opts) => checkDestination(destination, { ...opts, network: this.network }),
    });
    this.server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  startWorker(concurrency = 1, failures?: FailurePolicy): RunWorker {
    const processor = createRunProcessor({
      failures,
      store: this.store,
      source: this.source,
      destinationFor: (exp) => writerFor(exp.destination, { network: this.network }),
      config: sourceConfig(this.database),
      logger: this.logger,
    });
    const worker = this.queue.startWorker(processor, { concurrency, logger: this.logger });
    this.worker = worker;
    return worker;
  }

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(this.base + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  }

  /** Backfills [start, end) of the export and waits for its first run to finish, Completed or Failed. */
  async backfillToEnd(exportId: string, start: number, end: number): Promise<Run> {
    const iso = (ms: number) => new Date(ms).toISOString();
    const backfill = await this.call('POST', `/api/exports/${exportId}/backfills`, {
      start_at: iso(start),
      end_at: iso(end),
    });
    if (backfill.status !== 201) throw new Error(`backfill: ${backfill.status} ${JSON.stringify(backfill.json)}`);
    return eventually(
      async () => {
        const runs = (await this.call('GET', `/api/exports/${exportId}/runs`)).json.results as Run[];
        return runs.find((r) => r.status === 'Failed' || r.status === 'Completed');
      },
      30_000,
      'the run to finish',
    );
  }

  async stop(): Promise<void> {
    await this.worker?.close(0);
    await this.bullmq.close();
    this.server?.close();
    await this.queue.obliterate();
    await deleteKeysUnder(this.store.redis, this.prefix);
    await Promise.all([this.queue.close(), this.store.close(), this.source.close()]);
  }
}
