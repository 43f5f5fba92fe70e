import { callScript, type RedisClient } from '@bx/redis';
import type { StoreKeys } from './keys';
import { storeScripts } from './store-scripts';

/** One line a worker logged about a run. */
export interface RunLogLine {
  timestamp: string;
  level: string;
  message: string;
}

/** Lines kept per run: the last ones; older lines are dropped as new ones come. */
export const RUN_LOG_LINES = 300;

/**
 * What the workers logged about each run, stored with the run (a capped
 * list), gone with its record (retention, export deletion).
 */
export class RunLogRepository {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: StoreKeys,
  ) {
    storeScripts.define(redis, ['append-log']);
  }

  /** Appends lines, keeping the last RUN_LOG_LINES; only for a run that exists. */
  async append(runId: string, lines: readonly RunLogLine[]): Promise<void> {
    if (lines.length === 0) return;
    await callScript(
      this.redis,
      'append-log',
      [this.keys.run(runId), this.keys.runLog(runId)],
      [RUN_LOG_LINES, ...lines.map((l) => JSON.stringify(l))],
    );
  }

  /** Oldest first. */
  async list(runId: string): Promise<RunLogLine[]> {
    const lines = await this.redis.lrange(this.keys.runLog(runId), 0, -1);
    return lines.map((l) => JSON.parse(l) as RunLogLine);
  }
}
