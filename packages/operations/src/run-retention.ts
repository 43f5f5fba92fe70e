import type { Logger } from '@bx/core';
import type { RunQueue } from '@bx/queue';
import type { Store } from '@bx/store';

/** Runs removed per round trip. */
const CHUNK = 500;

/**
 * Run history with retention: finished run records (and their logs) older
 * than the retention are removed, oldest first; a Completed one leaves its
 * interval in its export's exported ranges (merged with its neighbours), so
 * a backfill without `force` still skips it. Runs in the scheduler role;
 * several schedulers may run it at once (deleting twice is harmless).
 */
export class RunRetention {
  constructor(
    private readonly store: Store,
    private readonly queue: RunQueue,
    private readonly logger: Logger,
    private readonly retentionMs: number,
  ) {}

  /** Removes what is due at `now`; returns how many run records it removed. */
  async pass(now: number): Promise<number> {
    let removed = 0;
    for (;;) {
      const ids = await this.store.runs.finishedBefore(now - this.retentionMs, CHUNK);
      if (ids.length === 0) break;
      // Only the jobs of runs deleted: one retried or recreated (a forced backfill) since the
      // read is not deleted, and its new job must stay.
      const deleted = await this.store.runs.deleteFinished(ids, now);
      removed += deleted.length;
      await this.queue.forget(deleted);
      if (ids.length < CHUNK) break;
    }
    if (removed > 0) this.logger.info('old run records removed', { runs: removed });
    return removed;
  }
}
