import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { Store } from '@bx/store';
import { TestClickHouse } from './clickhouse';
import { S3_CREDENTIALS, testEnv, uniqueName } from './env';
import { chTime, makeEvent } from './events';
import { ServiceProcess } from './processes';
import { createBucket, testS3Client } from './s3';

export const HOUR = 3_600_000;
const TOKEN = `console-${randomBytes(12).toString('hex')}`;

/**
 * The real system for the console's browser tests: API, scheduler and worker
 * processes (as `npm run start:*` runs them) over the shared Redis (own
 * prefix), ClickHouse (own database) and S3 server (own bucket).
 */
export class ConsoleSystem {
  readonly token = TOKEN;
  readonly prefix = uniqueName('bxc');
  readonly store = Store.connect(testEnv.REDIS_URL, this.prefix);
  readonly ch = new TestClickHouse();
  readonly s3: S3Client = testS3Client();
  bucket = '';
  base = '';
  /** Start of the first seeded hour; `hours` hours are seeded. */
  readonly start: number;
  private readonly services: ServiceProcess[] = [];

  constructor(readonly hours: number) {
    this.start = Math.floor(Date.now() / HOUR) * HOUR - hours * HOUR;
  }

  /** Events of `team` in seeded hour `h`: a different count per hour, so a row can be told from another. */
  static eventsIn(h: number): number {
    return 4 + 3 * h;
  }

  async startAll(): Promise<this> {
    await this.ch.setup();
    const events = [];
    for (let h = 0; h < this.hours; h++) {
      for (let i = 0; i < ConsoleSystem.eventsIn(h); i++) {
        const at = this.start + h * HOUR + 1000 + i * 60_000;
        events.push(makeEvent({ team_id: 1, inserted_at: chTime(new Date(at).toISOString()) }));
      }
    }
    await this.ch.insert(events);
    this.bucket = await createBucket(this.s3);
    const env = {
      REDIS_URL: testEnv.REDIS_URL,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_DATABASE: this.ch.database,
      QUEUE_PREFIX: this.prefix,
      ADMIN_API_TOKEN: this.token,
      SCHEDULER_TICK_MS: '200',
      SCHEDULER_SETTLE_SECONDS: '0',
      // The run page shows what the reconciler found: let it look soon.
      RECONCILE_EVERY_MS: '1000',
      // A retryable failure waits long enough to be cancelled from the console.
      RUN_BACKOFF_MS: '600000',
      // Destinations on loopback and development secrets, for the hardened API too.
      ALLOWED_PRIVATE_DESTINATIONS: '127.0.0.1',
      ALLOW_PLAINTEXT_SECRETS: 'true',
      LOG_LEVEL: 'info',
      PORT: '0',
    };
    const api = this.spawn('api', env);
    this.spawn('worker', env);
    this.spawn('scheduler', env);
    await Promise.all([
      api.waitForLog('api listening'),
      this.services[1]!.waitForLog('worker started'),
      this.services[2]!.waitForLog('scheduler started'),
    ]);
    const port = api.logs.find((l) => l.msg === 'api listening')!.port as number;
    this.base = `http://127.0.0.1:${port}`;
    return this;
  }

  private spawn(role: ServiceProcess['role'], env: Record<string, string>): ServiceProcess {
    const service = new ServiceProcess(role, env);
    this.services.push(service);
    return service;
  }

  /** The admin API with the bearer token; throws on an unexpected status. */
  async api(method: string, path: string, body?: unknown, expected = [200, 201, 202, 204]): Promise<any> {
    const res = await fetch(this.base + path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!expected.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** An S3 export of team 1 to the test bucket over the seeded hours. */
  s3Export(name: string, config: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      name,
      team_id: 1,
      interval: 'hour',
      start_at: new Date(this.start).toISOString(),
      end_at: new Date(this.start + this.hours * HOUR).toISOString(),
      destination: {
        type: 'S3',
        config: {
          bucket_name: this.bucket,
          endpoint_url: testEnv.S3_ENDPOINT_URL,
          prefix: `${name.replace(/[^a-z0-9]+/gi, '-')}/{year}-{month}-{day}`,
          ...S3_CREDENTIALS,
          ...config,
        },
      },
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.services.map((s) => s.stop()));
    const keys = await this.store.redis.keys(`${this.prefix}:*`);
    if (keys.length) await this.store.redis.del(...keys);
    await this.store.close();
    await this.ch.drop();
    this.s3.destroy();
  }
}
