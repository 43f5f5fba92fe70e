import { createApp, type AppDeps } from '@bx/api';
import { ClickHouseSource } from '@bx/clickhouse';
import { NetworkPolicy, createLogger, runIdFor, type Clock, type ExportSecrets } from '@bx/core';
import { checkDestination } from '@bx/destinations';
import { BackfillService, ExportService, RunService } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3_CREDENTIALS, TEST_ALLOWED_PRIVATE, testEnv, uniqueName } from './env';
import { deleteKeysUnder } from './redis-keys';

export const TOKEN = 'test-token-0123456789abcdef';

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export interface ApiHarnessOptions {
  bullBoardReadOnly?: boolean;
  clock?: Clock;
  /** MAX_EXPORTS. Default the product's. */
  maxExports?: number;
  /** TRUST_PROXY. Default false. */
  trustProxy?: AppDeps['trustProxy'];
  /** Wrong tokens per client and window before 429. Default the product's (20 a minute). */
  authFailureLimit?: AppDeps['authFailureLimit'];
  /** ALLOWED_PRIVATE_DESTINATIONS. Default loopback, where the test servers listen. */
  network?: NetworkPolicy;
  /** CLICKHOUSE_URL of the API (health check). Default the test ClickHouse. */
  clickhouseUrl?: string;
  /** Seeds of a Redis Cluster to keep the store and queue on (REDIS_CLUSTER_NODES). Default the test Redis. */
  clusterNodes?: string[];
  /** SECRETS_ENCRYPTION_KEYS, as the store uses them. Default none: secrets stored as given. */
  secrets?: ExportSecrets;
}

/** The admin API on a random port over its own Redis prefix; close() removes every key it made. */
export class ApiHarness {
  readonly prefix: string;
  readonly store: Store;
  readonly queue: BullMqRunQueue;
  readonly clickhouse: ClickHouseSource;
  readonly logger = createLogger({}, 'error');
  readonly service: ExportService;
  base = '';
  private readonly readOnly: boolean;
  private readonly clock: Clock | undefined;
  /** The listening server, once started (a test may watch its requests arrive). */
  server: Server | null = null;

  readonly network: NetworkPolicy;

  constructor(private readonly opts: ApiHarnessOptions = {}) {
    // On a Cluster every key carries the prefix's hash tag.
    this.prefix = opts.clusterNodes ? `{${uniqueName('bxt')}}` : uniqueName('bxt');
    const redis = { url: testEnv.REDIS_URL, clusterNodes: opts.clusterNodes };
    this.store = Store.connect(redis, this.prefix, { secrets: opts.secrets });
    this.queue = new BullMqRunQueue({ redis, prefix: this.prefix, attempts: 2, backoffMs: 10 });
    this.clickhouse = new ClickHouseSource({
      url: opts.clickhouseUrl ?? testEnv.CLICKHOUSE_URL,
      username: 'default',
      password: '',
      requestTimeoutMs: 5000,
    });
    this.network = opts.network ?? NetworkPolicy.parse(TEST_ALLOWED_PRIVATE);
    this.service = new ExportService(this.store, this.queue, this.logger, opts.clock, {
      maxExports: opts.maxExports,
      network: this.network,
    });
    this.clock = opts.clock;
    this.readOnly = opts.bullBoardReadOnly ?? false;
  }

  async start(): Promise<this> {
    const app = createApp({
      token: TOKEN,
      service: this.service,
      runs: new RunService(this.store, this.queue, this.logger),
      backfills: new BackfillService(this.store, this.queue, this.logger, this.clock),
      store: this.store,
      queue: this.queue,
      bullBoardReadOnly: this.readOnly,
      clickhouse: this.clickhouse,
      logger: this.logger,
      checkDestination: (destination, opts) => checkDestination(destination, { ...opts, network: this.network }),
      trustProxy: this.opts.trustProxy,
      authFailureLimit: this.opts.authFailureLimit,
    });
    this.server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** A request with the bearer token unless `token` is null or another value; redirects are not followed. */
  async call(
    method: string,
    path: string,
    opts: { body?: unknown; token?: string | null; headers?: Record<string, string> } = {},
  ): Promise<HttpResult> {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? TOKEN : opts.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(this.base + path, { method, headers, body, redirect: 'manual' });
    const text = await res.text();
    const isJson = (res.headers.get('content-type') ?? '').includes('application/json');
    return { status: res.status, headers: res.headers, text, json: isJson && text ? JSON.parse(text) : null };
  }

  /** POST /api/exports of a paused hourly export of team 1 to `destination`: the answer (201 with the export, or the error). */
  createExport(destination: { type: string; config: unknown }, name = 'victim'): Promise<HttpResult> {
    return this.call('POST', '/api/exports', {
      body: { name, team_id: 1, interval: 'hour', paused: true, destination },
    });
  }

  /** createExport to `bucket` on the test S3 server, which must answer 201: the export's id. */
  async createS3Export(bucket: string): Promise<string> {
    const config = { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS };
    const res = await this.createExport({ type: 'S3', config });
    if (res.status !== 201) throw new Error(`POST /api/exports answered ${res.status}: ${res.text}`);
    return res.json.id as string;
  }

  /** Scheduled hourly run records of `exportId` starting at each of `starts` (epoch ms): their ids. */
  async createHourlyRuns(exportId: string, starts: readonly number[]): Promise<string[]> {
    const runs = starts.map((start) => ({
      id: runIdFor(exportId, start),
      export_id: exportId,
      data_interval_start: start,
      data_interval_end: start + 3_600_000,
    }));
    await this.store.runs.createMany(runs);
    return runs.map((run) => run.id);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.queue.obliterate();
    await deleteKeysUnder(this.store.redis, this.prefix);
    await Promise.all([this.queue.close(), this.store.close(), this.clickhouse.close()]);
  }
}
