import { UnreachableError, type ExportSecrets, type Logger } from '@bx/core';
import { callScript, connectRedis, describeRedis, type RedisClient, type RedisTarget } from '@bx/redis';
import { BackfillRepository } from './backfill-repository';
import { ExportRepository } from './export-repository';
import { storeKeys, type StoreKeys } from './keys';
import { migrateStore } from './migrate';
import { ReconciliationRepository } from './reconciliation-repository';
import { RunLogRepository } from './run-log-repository';
import { RunRepository } from './run-repository';
import { ScheduleRepository } from './schedule-repository';
import { SessionRepository } from './session-repository';
import { StatsRepository } from './stats-repository';
import { storeScripts } from './store-scripts';

export interface StoreOptions {
  /** Seals destination secrets on write, opens them on read. Default none: stored as given. */
  secrets?: ExportSecrets;
}

/** The repositories over one Redis connection (one server or a Cluster). */
export class Store {
  readonly keys: StoreKeys;
  readonly exports: ExportRepository;
  readonly runs: RunRepository;
  readonly runLogs: RunLogRepository;
  readonly schedule: ScheduleRepository;
  readonly backfills: BackfillRepository;
  readonly stats: StatsRepository;
  readonly reconciliation: ReconciliationRepository;
  readonly sessions: SessionRepository;

  constructor(
    readonly redis: RedisClient,
    prefix: string,
    opts: StoreOptions = {},
  ) {
    this.keys = storeKeys(prefix);
    this.exports = new ExportRepository(redis, this.keys, opts.secrets ?? null);
    this.sessions = new SessionRepository(redis, this.keys);
    this.runs = new RunRepository(redis, this.keys, (text) => this.exports.parse(text));
    this.runLogs = new RunLogRepository(redis, this.keys);
    this.schedule = new ScheduleRepository(redis, this.keys);
    this.backfills = new BackfillRepository(redis, this.keys);
    this.stats = new StatsRepository(redis, this.keys, this.exports);
    this.reconciliation = new ReconciliationRepository(redis, this.keys);
    storeScripts.define(redis, ['server-time']);
  }

  /** Connects to `REDIS_URL` (a string) or a target with `REDIS_CLUSTER_NODES`. */
  static connect(target: string | RedisTarget, prefix: string, opts: StoreOptions = {}): Store {
    const where = typeof target === 'string' ? { url: target } : target;
    const redis = connectRedis(where, { maxRetriesPerRequest: 3 });
    // ioredis reconnects by itself and each failed command rejects with the cause;
    // without a listener it would also print "Unhandled error event" (not JSON).
    redis.on('error', () => undefined);
    const store = new Store(redis, prefix, opts);
    store.where = describeRedis(where);
    return store;
  }

  /** Where Redis is, for messages (no credentials). */
  where = 'redis';

  /** Brings data written by an earlier version to the current layout; idempotent. */
  async migrate(): Promise<number> {
    return migrateStore(this.redis, this.keys);
  }

  /**
   * Redis server time in epoch ms: one clock for every scheduler, whatever
   * their own clocks say (on a Cluster, the clock of the node holding the keys).
   */
  async now(): Promise<number> {
    const [seconds, micros] = (await callScript(this.redis, 'server-time', [this.keys.schedule], [])) as [
      string,
      string,
    ];
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  /**
   * Throws an UnreachableError naming REDIS_URL (or REDIS_CLUSTER_NODES) and
   * the address when Redis does not answer within `timeoutMs`: one line, not
   * the client's retry errors.
   */
  async assertReachable(timeoutMs = 5000): Promise<void> {
    let last = 'no answer';
    const onError = (err: Error) => (last = err.message || err.name);
    this.redis.on('error', onError);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.redis.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
        }),
      ]);
    } catch (err) {
      // Our timer, or ioredis giving up on a connection that never opened: the server did not answer.
      const silent = err instanceof Error && (err.message === 'timeout' || err.name === 'MaxRetriesPerRequestError');
      const cause =
        last !== 'no answer'
          ? last
          : silent
            ? `no answer within ${timeoutMs / 1000} s`
            : err instanceof Error
              ? err.message
              : String(err);
      const variable = this.where.startsWith('cluster ') ? 'REDIS_CLUSTER_NODES' : 'REDIS_URL';
      throw new UnreachableError('Redis', variable, this.where, cause);
    } finally {
      clearTimeout(timer);
      this.redis.off('error', onError);
    }
  }

  /**
   * Says at start, as an error line, when Redis evicts keys once full (`maxmemory-policy` other
   * than `noeviction`): exports, runs, schedules and queued runs would vanish with no error
   * anywhere. Not a refusal to start: the policy may be changed on a running server. Nothing when
   * the server does not tell (INFO refused, as some managed services do).
   */
  async warnIfEvicting(logger: Logger): Promise<void> {
    const info = await this.redis.info('memory').catch(() => '');
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
    if (!policy || policy === 'noeviction') return;
    logger.error(
      `Redis at ${this.where} evicts keys when it is full (maxmemory-policy ${policy}): exports, ` +
        'runs, schedules and queued runs can vanish without an error; set maxmemory-policy noeviction',
    );
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
