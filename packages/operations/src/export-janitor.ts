import { errorMessage, type Logger } from '@bx/core';
import type { RunQueue } from '@bx/queue';
import type { Store } from '@bx/store';

/** Run records removed per round trip. */
const CHUNK = 500;

/**
 * Removes what deleted exports leave behind: run records and their logs,
 * jobs and dead-letter records, backfills, and the export's own keys. An
 * export leaves the indexes at once when deleted (ExportService.delete); this
 * runs in the scheduler role, idempotently: a restart picks up where it was.
 */
export class ExportJanitor {
  constructor(
    private readonly store: Store,
    private readonly queue: RunQueue,
    private readonly logger: Logger,
  ) {}

  /** Cleans every export being deleted; returns how many it finished. */
  async pass(): Promise<number> {
    let done = 0;
    for (const exp of await this.store.exports.deleting()) {
      try {
        const runs = await this.clean(exp.id);
        this.logger.info('deleted export cleaned up', { export_id: exp.id, runs });
        done++;
      } catch (err) {
        this.logger.error('deleted export clean-up failed; retried later', {
          export_id: exp.id,
          err: errorMessage(err),
        });
      }
    }
    return done;
  }

  private async clean(exportId: string): Promise<number> {
    // Runs not finished first: stop them (a running one aborts on its worker).
    for (const runId of await this.store.runs.unfinished(exportId)) {
      await this.store.runs.cancel(runId);
      await this.queue.remove(runId).catch(() => false);
      await this.queue.cancelRunning(runId);
    }
    let runs = 0;
    for (;;) {
      const ids = await this.store.redis.zrange(this.store.keys.exportRuns(exportId), 0, CHUNK - 1);
      if (ids.length === 0) break;
      await this.queue.forget(ids);
      await this.store.runs.deleteMany(ids);
      runs += ids.length;
    }
    await this.store.backfills.deleteOfExport(exportId);
    await this.store.exports.forgetDeleted(exportId);
    return runs;
  }
}
