import type { Redis } from 'ioredis';
import type { StoreKeys } from './keys';

/** A backfill as stored; its progress is derived from its runs. */
export interface BackfillRecord {
  id: string;
  export_id: string;
  start_at: string;
  end_at: string;
  force: boolean;
  total_runs: number;
  created_at: string;
}

export class BackfillRepository {
  constructor(
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
  ) {}

  async create(record: BackfillRecord, runIds: readonly string[]): Promise<void> {
    const tx = this.redis.multi().hset(this.keys.backfill(record.id), {
      ...record,
      force: record.force ? '1' : '0',
      total_runs: String(record.total_runs),
    });
    for (let i = 0; i < runIds.length; i += 5000)
      tx.rpush(this.keys.backfillRuns(record.id), ...runIds.slice(i, i + 5000));
    await tx.exec();
  }

  async get(id: string): Promise<BackfillRecord | null> {
    const hash = await this.redis.hgetall(this.keys.backfill(id));
    if (!hash.id) return null;
    return {
      id: hash.id,
      export_id: hash.export_id!,
      start_at: hash.start_at!,
      end_at: hash.end_at!,
      force: hash.force === '1',
      total_runs: Number(hash.total_runs),
      created_at: hash.created_at!,
    };
  }

  async runIds(id: string): Promise<string[]> {
    return this.redis.lrange(this.keys.backfillRuns(id), 0, -1);
  }
}
