import type { BatchExport } from '@bx/core';
import type { RedisClient } from '@bx/redis';
import type { StoreKeys } from './keys';

const UNFINISHED = new Set(['Scheduled', 'Running', 'FailedRetryable']);
const FINAL = new Set(['Completed', 'Failed', 'Cancelled']);

/**
 * Brings a store written by the first version to this layout: exports move
 * from sets to the ordered index, paused ones to the paused set, and each
 * run joins the indexes that pause, the scheduling window and retention
 * read. Runs once (the legacy set is deleted at the end); safe to repeat
 * after a crash half-way. Answers how many exports it moved.
 */
export async function migrateStore(redis: RedisClient, keys: StoreKeys): Promise<number> {
  if ((await redis.type(keys.legacyAllExports)) !== 'set') return 0;
  const ids = await redis.smembers(keys.legacyAllExports);
  for (const id of ids) {
    const text = await redis.get(keys.export(id));
    if (!text) continue;
    const exp = JSON.parse(text) as BatchExport;
    const member = `${String(Date.parse(exp.created_at)).padStart(15, '0')}:${exp.id}`;
    const tx = redis.multi().zadd(keys.exportIndex, 0, member).zadd(keys.teamIndex(exp.team_id), 0, member);
    if (exp.paused) tx.sadd(keys.pausedExports, id);
    tx.del(`${keys.prefix}:team:${exp.team_id}:exports`);
    await tx.exec();
    await migrateRuns(redis, keys, id);
  }
  await redis.del(keys.legacyAllExports);
  return ids.length;
}

async function migrateRuns(redis: RedisClient, keys: StoreKeys, exportId: string): Promise<void> {
  const withScores = await redis.zrange(keys.exportRuns(exportId), 0, -1, 'WITHSCORES');
  for (let i = 0; i < withScores.length; i += 1000) {
    const chunk = withScores.slice(i, i + 1000);
    const ids = chunk.filter((_, k) => k % 2 === 0);
    const read = redis.pipeline();
    for (const id of ids) read.hmget(keys.run(id), 'status', 'finished_at');
    const fields = ((await read.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return v as [string | null, string | null];
    });
    const write = redis.pipeline();
    ids.forEach((id, k) => {
      const [status, finishedAt] = fields[k]!;
      if (status && UNFINISHED.has(status)) write.zadd(keys.unfinishedRuns(exportId), chunk[2 * k + 1]!, id);
      if (status && FINAL.has(status)) write.zadd(keys.finishedRuns, finishedAt ? Date.parse(finishedAt) || 0 : 0, id);
    });
    await write.exec();
  }
}
