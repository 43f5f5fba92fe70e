import type { ExportSecrets } from '@bx/core';
import { Redis } from 'ioredis';
import { BackfillRepository } from './backfill-repository';
import { ExportRepository } from './export-repository';
import { storeKeys } from './keys';
import { RunRepository } from './run-repository';
import { ScheduleRepository } from './schedule-repository';
import { SessionRepository } from './session-repository';
import { StatsRepository } from './stats-repository';

export interface StoreOptions {
  /** Seals destination secrets on write, opens them on read. Default none: stored as given. */
  secrets?: ExportSecrets;
}

/** The repositories over one Redis connection. */
export class Store {
  readonly exports: ExportRepository;
  readonly runs: RunRepository;
  readonly schedule: ScheduleRepository;
  readonly backfills: BackfillRepository;
  readonly stats: StatsRepository;
  readonly sessions: SessionRepository;

  constructor(
    readonly redis: Redis,
    prefix: string,
    opts: StoreOptions = {},
  ) {
    const keys = storeKeys(prefix);
    this.exports = new ExportRepository(redis, keys, opts.secrets ?? null);
    this.runs = new RunRepository(redis, keys);
    this.schedule = new ScheduleRepository(redis, keys);
    this.backfills = new BackfillRepository(redis, keys);
    this.stats = new StatsRepository(redis, keys);
    this.sessions = new SessionRepository(redis, keys);
  }

  static connect(url: string, prefix: string, opts: StoreOptions = {}): Store {
    const redis = new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: false });
    // ioredis reconnects by itself and each failed command rejects with the cause;
    // without a listener it would also print "Unhandled error event" (not JSON).
    redis.on('error', () => undefined);
    return new Store(redis, prefix, opts);
  }

  /** Redis server time in epoch ms: one clock for every scheduler, whatever their own clocks say. */
  async now(): Promise<number> {
    const [seconds, micros] = await this.redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
