import { DEAD_LETTER_QUEUE, RUNS_QUEUE } from '@bx/queue';
import { Queue } from 'bullmq';
import { connectRedis, type RedisClient, type RedisTarget } from '@bx/redis';
import { testEnv } from './env';

/**
 * Looks at what the run queue left in Redis with BullMQ's own reader: a
 * second observer of the same keys, not a way into the product's queue
 * (whose BullMQ objects are private).
 */
export class QueueInspector {
  private readonly connection: RedisClient;
  readonly runs: Queue;
  readonly deadLetter: Queue;

  /** `redis`: where the queue is (default: the test Redis). */
  constructor(prefix: string, redis: RedisTarget = { url: testEnv.REDIS_URL }) {
    this.connection = connectRedis(redis, { maxRetriesPerRequest: null });
    this.runs = new Queue(RUNS_QUEUE, { connection: this.connection, prefix });
    this.deadLetter = new Queue(DEAD_LETTER_QUEUE, { connection: this.connection, prefix });
    this.runs.on('error', () => undefined);
    this.deadLetter.on('error', () => undefined);
  }

  async close(): Promise<void> {
    await this.runs.close();
    await this.deadLetter.close();
    this.connection.disconnect();
  }
}
